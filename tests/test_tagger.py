import gc

import pandas as pd
import pytest

from nlp import CAUSES


def test_the_readme_example(shipped):
    r = shipped.tag("Час висела на линии, робот не соединяет с оператором")
    assert r.root_causes == ["phone_menu_delay"]
    assert r.recovery == "not_attempted"
    assert set(r.probabilities) == set(CAUSES) | {"recovery"}
    assert r.status == "ok"


def test_negation_flips_recovery(shipped):
    yes = shipped.tag("Мне перезвонили на следующий день и вернули деньги")
    no = shipped.tag("Мне так и не перезвонили и деньги не вернули")
    assert yes.recovery == "attempted"
    assert no.recovery == "not_attempted"
    assert yes.probabilities["recovery"] > no.probabilities["recovery"] + 0.3


@pytest.mark.parametrize("text", ["", "   \n\t", None, float("nan")])
def test_empty_text_is_a_status_not_an_error(shipped, text):
    r = shipped.tag(text)
    assert (r.root_causes, r.recovery, r.status) == ([], "not_attempted", "empty_text")
    assert r.cause_label == "other"


def test_non_russian_text_gets_no_guess(shipped):
    r = shipped.tag("The app crashes and nobody answers the phone")
    assert r.status == "not_russian" and r.root_causes == []


def test_huge_text_is_truncated_not_fatal(shipped):
    r = shipped.tag("Приложение вылетает при входе. " * 5000)
    assert r.status == "truncated"
    assert "faulty_device" in r.root_causes


def test_tag_many_keeps_order_and_parallel_matches_serial(shipped):
    texts = ["Банкомат съел карту", "", "Не дозвониться до поддержки", "hello"] * 700
    serial = shipped.tag_many(texts, batch_size=500)
    parallel = shipped.tag_many(texts, batch_size=500, n_jobs=2)
    assert [r.status for r in serial[:4]] == ["ok", "empty_text", "ok", "not_russian"]
    assert serial == parallel
    # the pool freezes the parent's objects only while it forks
    assert gc.get_freeze_count() == 0


def test_tag_frame_keeps_original_columns_and_index(shipped):
    df = pd.DataFrame({"id": [7, 8], "Текст": ["Курьер не приехал", "Спасибо!"], "x": [1.5, None]},
                      index=[10, 20])
    out = shipped.tag_frame(df, text_column="Текст")
    assert list(out.columns[:3]) == ["id", "Текст", "x"]
    assert out.index.tolist() == [10, 20]
    pd.testing.assert_frame_equal(out[df.columns], df)
    assert {"root_causes", "recovery", "p_recovery", "tag_status"} <= set(out.columns)


def test_tag_frame_names_a_missing_column(shipped):
    with pytest.raises(KeyError, match="columns are"):
        shipped.tag_frame(pd.DataFrame({"a": ["x"]}), text_column="text")


def test_explain_shows_the_features_that_pushed(shipped):
    e = shipped.explain("Мне так и не перезвонили")
    assert set(e) == set(CAUSES) | {"recovery"}
    names = [f for f, _ in e["missing_rep"]["features"]]
    assert any("не_перезвонить+past" in n for n in names)
    assert shipped.explain("")["recovery"]["status"] == "empty_text"


def test_thresholds_are_replaced_by_label_and_the_model_keeps_its_own(shipped):
    from nlp import ComplaintTagger

    text = "Карту по моей просьбе заблокировали, а деньги так и не вернули"
    p = shipped.tag(text).probabilities["recovery"]
    low = ComplaintTagger.load(thresholds={"recovery": p / 2, "faulty_device": 1.0})
    high = ComplaintTagger.load(thresholds={"recovery": (p + 1) / 2})
    assert low.tag(text).recovery == "attempted" and high.tag(text).recovery == "not_attempted"
    assert "faulty_device" in shipped.tag("Банкомат съел карту").root_causes
    assert "faulty_device" not in low.tag("Банкомат съел карту").root_causes
    assert low.explain(text)["recovery"]["decision"] is True
    # the model file's cut-offs are untouched: a tagger holds its own copy
    card = list(low.card["thresholds"].values())
    assert low.model.thresholds.tolist() == card == shipped.thresholds.tolist()
    assert low.thresholds[-1] == p / 2


@pytest.mark.parametrize("overrides, message", [
    ({"recovry": 0.5}, "unknown label 'recovry'"),
    ({"recovery": 0}, "above 0 and at most 1"),
    ({"recovery": 1.5}, "above 0 and at most 1"),
    ({"missing_rep": "half"}, "must be a probability"),
])
def test_bad_thresholds_say_what_is_allowed(overrides, message):
    from nlp import ComplaintTagger

    with pytest.raises(ValueError, match=message):
        ComplaintTagger.load(thresholds=overrides)
