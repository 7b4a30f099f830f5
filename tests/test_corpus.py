"""The corpus check: schema, labels, duplicates. The first test runs it over corpora/ in CI."""
import json

from nlp.corpus import check_corpus, corpus_stats, read_labelled


def test_shipped_corpus_passes_the_check():
    df, problems = check_corpus(["corpora"])
    assert problems == [], "\n".join(map(str, problems[:20]))
    assert len(df) > 0
    assert not df.loc[~df["is_complaint"], "root_causes"].map(len).any()


def test_heldout_set_is_valid_distinct_and_not_trained_on():
    # corpora/heldout/ measures the model; a text shared with the training files,
    # or a reader that walked into the folder, would make that measure meaningless
    df, problems = check_corpus(["corpora", "corpora/heldout"])
    assert problems == [], "\n".join(map(str, problems[:20]))
    heldout = set(read_labelled(["corpora/heldout"])[0]["id"])
    trained = set(read_labelled(["corpora"])[0]["id"])
    assert heldout and not heldout & trained
    assert len(df) == len(heldout) + len(trained)


def _write(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def _rec(i, text, **kw):
    base = {"id": f"x-{i}", "text": text, "is_complaint": True, "root_causes": [], "recovery": "not_attempted"}
    return {**base, **kw}


def test_near_duplicates_are_found(tmp_path):
    p = tmp_path / "c.jsonl"
    _write(p, [_rec(1, "Не дозвониться до банка!"), _rec(2, "не дозвониться до банка"), _rec(3, "другое")])
    _, problems = check_corpus([p])
    assert len(problems) == 1 and "repeats the text of 'x-1'" in problems[0].message
    assert problems[0].line == 2


def test_duplicate_ids_and_bad_labels_are_reported_by_line(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text(
        json.dumps(_rec(1, "раз")) + "\n"
        + json.dumps(_rec(1, "два")) + "\n"
        + "{broken json\n"
        + json.dumps(_rec(3, "три", is_complaint=False, root_causes=["missing_rep"])) + "\n"
        + json.dumps(_rec(4, "четыре", root_causes=["slow"], recovery="maybe")) + "\n",
        encoding="utf-8")
    df, problems = check_corpus([p])
    by_line = {pr.line: pr.message for pr in problems}
    assert "not valid JSON" in by_line[3]
    assert "non-complaint must have no root causes" in by_line[4]
    assert "unknown root cause" in by_line[5] and "recovery must be one of" in by_line[5]
    assert "duplicate id 'x-1'" in by_line[2]
    assert len(df) == 2


def test_csv_labelled_input(tmp_path):
    p = tmp_path / "new.csv"
    p.write_text("id,text,is_complaint,root_causes,recovery\n"
                 "a,Бот не соединяет,true,phone_menu_delay;missing_rep,not_attempted\n"
                 "b,Спасибо,false,other,attempted\n", encoding="utf-8")
    df, problems = read_labelled([p])
    assert problems == []
    assert df["root_causes"].tolist() == [["phone_menu_delay", "missing_rep"], []]


def test_stats_count_what_the_datasheet_needs():
    df, _ = read_labelled(["tests/fixtures/tiny_corpus.jsonl"])
    s = corpus_stats(df)
    assert s["records"] == 24 and s["non_complaints"] == 3
    assert s["causes"]["phone_menu_delay"] == 6 and s["multi_cause"] == 2 and s["other"] == 3
