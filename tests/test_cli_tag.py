"""`complaints tag`: formats, encodings, nothing lost, safety, errors."""
import json

import numpy as np
import pandas as pd
import pytest

from nlp import logio

from helpers import ROWS, read_out_csv, write_csv

@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1251", "koi8-r"])
@pytest.mark.parametrize("delimiter", [";", ",", "\t", "|"])
def test_csv_encodings_and_delimiters(cli, tmp_path, encoding, delimiter):
    src = write_csv(tmp_path / "log.csv", encoding=encoding, delimiter=delimiter)
    code, _, err = cli("tag", src, "-o", tmp_path / "out.csv")
    assert code == 0, err
    out = read_out_csv(tmp_path / "out.csv", delimiter)
    assert out["Текст обращения"].tolist() == [r[1] for r in ROWS]  # multi-line cell intact
    assert out["tag_status"].tolist() == ["ok", "ok", "empty_text", "not_russian", "ok"]
    assert out["root_causes"][0] == "phone_menu_delay"
    assert out["root_causes"][2] == "other"
    assert list(out.columns[:3]) == ["id", "Текст обращения", "Канал"]
    assert (tmp_path / "out.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert "rows read 5" in err and "rejected 0" in err


def test_detect_cp1251_and_koi8r():
    text = "Добрый день! Третий раз пишу: интернет не работает, мастер не пришёл, деньги списали."
    assert logio.detect_encoding(text.encode("cp1251")) == "cp1251"
    assert logio.detect_encoding(text.encode("koi8-r")) == "koi8_r"
    assert logio.detect_encoding(text.encode("utf-8")) == "utf-8"


def test_tsv_output_is_tab_separated(cli, tmp_path):
    src = write_csv(tmp_path / "log.csv", delimiter=";")
    assert cli("tag", src, "-o", tmp_path / "out.tsv")[0] == 0
    out = read_out_csv(tmp_path / "out.tsv", "\t")
    assert out["root_causes"][0] == "phone_menu_delay" and len(out) == len(ROWS)


def test_tsv_by_extension(cli, tmp_path):
    src = write_csv(tmp_path / "log.tsv", delimiter="\t")
    code, _, err = cli("tag", src, "-o", tmp_path / "out.jsonl")
    assert code == 0, err
    recs = [json.loads(l) for l in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert recs[0]["root_causes"] == ["phone_menu_delay"] and recs[2]["root_causes"] == []


def test_broken_csv_rows_go_to_rejects_and_nothing_is_lost(cli, tmp_path):
    src = tmp_path / "log.csv"
    src.write_text('id;text\n1;Не дозвониться\n2;"открытая кавычка\n3;Курьер не приехал\n'
                   '4;лишнее;поле\n\n5;"многострочный\nтекст"\n', encoding="utf-8")
    code, _, err = cli("tag", src, "-o", tmp_path / "out.csv")
    assert code == 0, err
    out = read_out_csv(tmp_path / "out.csv")
    rejects = read_out_csv(tmp_path / "out.rejects.csv")
    assert out["id"].tolist() == ["1", "3", "5"]
    assert rejects["line"].tolist() == ["3", "5"]
    assert "unparseable CSV" in rejects["reason"][0] and "3 fields" in rejects["reason"][1]
    assert len(out) + len(rejects) == 5  # rows in = rows out + rejects
    assert "rows read 5; written 3" in err and "rejected 2" in err and "out.rejects.csv" in err


def test_jsonl_in_and_out_with_a_broken_line(cli, tmp_path):
    src = tmp_path / "log.jsonl"
    src.write_bytes(('{"id": 1, "message": "Банкомат съел карту", "meta": {"a": 1}}\n{not json\n'
                     '[1, 2]\n{"id": 3, "message": "Спасибо, всё решили"}\n').encode("utf-8")
                    + '{"id": 4, "message": "Связи нет"}\n'.encode("cp1251"))
    code, _, err = cli("tag", src, "-o", tmp_path / "out.jsonl")
    assert code == 0, err
    recs = [json.loads(l) for l in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in recs] == [1, 3]
    assert recs[0]["meta"] == {"a": 1} and recs[0]["root_causes"] == ["faulty_device"]
    rejects = read_out_csv(tmp_path / "out.rejects.csv")
    assert rejects["line"].tolist() == ["2", "3", "5"]
    assert "not valid UTF-8" in rejects["reason"][2]


def test_jsonl_keys_first_seen_late_get_a_column(cli, tmp_path):
    lines = [json.dumps({"id": i, "text": "Курьер не приехал"}, ensure_ascii=False) for i in range(30)]
    lines.append(json.dumps({"id": 30, "text": "Роутер сломался", "Канал": "чат"}, ensure_ascii=False))
    (tmp_path / "log.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = cli("tag", tmp_path / "log.jsonl", "-o", tmp_path / "out.csv", "--chunk-size", "10")
    assert code == 0, err
    out = read_out_csv(tmp_path / "out.csv")
    assert list(out.columns[:3]) == ["id", "text", "Канал"]
    assert out["Канал"].tolist() == [""] * 30 + ["чат"]


def test_xlsx_cells_beyond_the_header_are_kept(cli, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["id", "text"])
    ws.append([1, "Не дозвониться"])
    ws.append([2, "Банкомат съел карту", "лишняя ячейка"])
    wb.save(tmp_path / "log.xlsx")
    code, _, err = cli("tag", tmp_path / "log.xlsx", "-o", tmp_path / "out.csv")
    assert code == 0, err
    out = read_out_csv(tmp_path / "out.csv")
    assert out["id"].tolist() == ["1", "2"]
    assert out["column_3"].tolist() == ["", "лишняя ячейка"]  # an unnamed column gets a name, not cut


def test_xlsx_in_and_out(cli, tmp_path):
    df = pd.DataFrame({"№": [1, 2, 3], "Комментарий клиента": ["Роутер сломался", "@all +1", None],
                       "Дата": ["2025-01-02", "2025-02-03", "2025-02-04"]})
    df.to_excel(tmp_path / "log.xlsx", index=False)
    code, _, err = cli("tag", tmp_path / "log.xlsx", "-o", tmp_path / "out.xlsx")
    assert code == 0, err
    out = pd.read_excel(tmp_path / "out.xlsx", dtype=str, keep_default_na=False)
    assert out["Комментарий клиента"].tolist() == ["Роутер сломался", "'@all +1", ""]
    assert out["root_causes"][0] == "faulty_device"
    assert out["tag_status"].tolist() == ["ok", "not_russian", "empty_text"]


def test_parquet_in_and_out(cli, tmp_path):
    df = pd.DataFrame({"id": [1, 2], "text": ["Не дозвониться до оператора", "Курьер не приехал"],
                       "score": [0.5, 1.5]})
    df.to_parquet(tmp_path / "log.parquet")
    code, _, err = cli("tag", tmp_path / "log.parquet", "-o", tmp_path / "out.parquet", "--chunk-size", "1")
    assert code == 0, err
    out = pd.read_parquet(tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(out[df.columns], df)
    assert list(out["root_causes"][0]) == ["phone_menu_delay"]


def test_csv_to_parquet_across_chunks(cli, tmp_path):
    rows = [(str(i), "Не дозвониться" if i % 2 else "", "" if i % 3 else "чат") for i in range(50)]
    src = write_csv(tmp_path / "log.csv", rows=rows)
    code, _, err = cli("tag", src, "-o", tmp_path / "out.parquet", "--chunk-size", "7")
    assert code == 0, err
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["id"].tolist() == [str(i) for i in range(50)]


def test_csv_injection_is_neutralised(cli, tmp_path):
    rows = [("1", "=HYPERLINK(\"http://evil\")", "+7"), ("2", "-Не работает", "@all"), ("3", "Норм", "x")]
    src = write_csv(tmp_path / "log.csv", rows=rows)
    assert cli("tag", src, "-o", tmp_path / "out.csv")[0] == 0
    out = read_out_csv(tmp_path / "out.csv")
    assert out["Текст обращения"].tolist() == ["'=HYPERLINK(\"http://evil\")", "'-Не работает", "Норм"]
    assert out["Канал"].tolist() == ["'+7", "'@all", "x"]


def test_csv_cells_are_neutralised_in_text_and_in_mixed_columns():
    text = pd.Series(["=1+1", "ок", "@all", "\tx"])
    assert logio._csv_column(text) == ["'=1+1", "ок", "'@all", "'\tx"]
    mixed = pd.Series(["-5 руб", None, float("nan"), np.int64(7), pd.NA, "ок"], dtype=object)
    assert logio._csv_column(mixed) == ["'-5 руб", "", "", 7, "", "ок"]
    assert type(logio._csv_column(mixed)[3]) is int


@pytest.mark.parametrize("name", ["Текст", "ТЕКСТ ОБРАЩЕНИЯ", "жалоба", "Комментарий клиента", "Review"])
def test_text_column_is_found_by_common_names(name):
    assert logio.find_column(["id", name, "Дата"], None) == name


def test_explicit_text_column_and_unknown_one(cli, tmp_path):
    src = write_csv(tmp_path / "log.csv", header=("id", "body", "Канал"))
    code, _, err = cli("tag", src, "-o", tmp_path / "out.csv")
    assert code == 2 and "no text column found" in err and "'body'" in err and "Traceback" not in err
    code, _, err = cli("tag", src, "-o", tmp_path / "out.csv", "--text-column", "nope")
    assert code == 2 and "no column 'nope'" in err
    assert cli("tag", src, "-o", tmp_path / "out.csv", "--text-column", "BODY")[0] == 0


def test_existing_output_is_refused_without_force(cli, tmp_path):
    src = write_csv(tmp_path / "log.csv")
    (tmp_path / "out.csv").write_text("keep me", encoding="utf-8")
    code, _, err = cli("tag", src, "-o", tmp_path / "out.csv")
    assert code == 2 and "--force" in err
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == "keep me"
    assert cli("tag", src, "-o", tmp_path / "out.csv", "--force")[0] == 0
    assert "tag_status" in (tmp_path / "out.csv").read_text(encoding="utf-8-sig")


def test_input_that_already_has_output_columns_is_refused(cli, tmp_path):
    ok = write_csv(tmp_path / "ok.csv", header=("id", "text", "p_value"))
    assert cli("tag", ok, "-o", tmp_path / "ok_out.csv")[0] == 0
    tagged = write_csv(tmp_path / "tagged.csv", header=("id", "text", "p_recovery"))
    code, _, err = cli("tag", tagged, "-o", tmp_path / "out.csv")
    assert code == 2 and "p_recovery" in err and not (tmp_path / "out.csv").exists()


def test_input_is_never_overwritten(cli, tmp_path):
    src = write_csv(tmp_path / "log.csv")
    before = src.read_bytes()
    code, _, err = cli("tag", src, "-o", src, "--force")
    assert code == 2 and "overwrite the input" in err
    assert src.read_bytes() == before


def test_interrupted_run_leaves_no_output(cli, tmp_path, monkeypatch):
    rows = [(str(i), "Не дозвониться", "чат") for i in range(100)]
    src = write_csv(tmp_path / "log.csv", rows=rows)
    real_write = logio.LogWriter.write
    calls = []

    def write_then_interrupt(self, df):
        calls.append(len(df))
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_write(self, df)

    monkeypatch.setattr(logio.LogWriter, "write", write_then_interrupt)
    code, _, err = cli("tag", src, "-o", tmp_path / "out.csv", "--chunk-size", "10")
    assert code == 130 and "interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]


def test_killed_run_leaves_no_output(tmp_path):
    """A real process, a real SIGTERM mid-run: no output file and no temporary file left."""
    import signal
    import subprocess
    import sys
    import time

    src = write_csv(tmp_path / "log.csv", rows=[(str(i), "Не дозвониться до поддержки", "чат") for i in range(40_000)])
    proc = subprocess.Popen([sys.executable, "-m", "nlp.cli", "tag", str(src), "-o", str(tmp_path / "out.csv"),
                             "--chunk-size", "500"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not any(p.name.startswith(".out.csv.partial") for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be interrupted"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    assert "interrupted" in proc.stderr.read()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]


@pytest.mark.parametrize("setup, args, message", [
    (lambda d: None, ["missing.csv"], "no such file"),
    (lambda d: (d / "empty.csv").write_bytes(b""), ["empty.csv"], "the file is empty"),
    (lambda d: (d / "x.docx").write_bytes(b"x"), ["x.docx"], "unknown format"),
    (lambda d: (d / "fake.csv").write_bytes(b"PK\x03\x04rest"), ["fake.csv"], "looks like XLSX"),
    (lambda d: (d / "bad.parquet").write_bytes(b"nope"), ["bad.parquet"], "not a valid PARQUET"),
    (lambda d: (d / "l.csv").write_text("id;text\n1;x\n"), ["l.csv", "--model", "nope.joblib"], "not found"),
])
def test_errors_are_one_line(cli, tmp_path, monkeypatch, setup, args, message):
    monkeypatch.chdir(tmp_path)
    setup(tmp_path)
    code, out, err = cli("tag", *args, "-o", "out.csv")
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("complaints: error:")
    assert not (tmp_path / "out.csv").exists()


def test_tampered_model_is_a_one_line_error(cli, tmp_path, model_copy):
    src = write_csv(tmp_path / "log.csv")
    model_copy.write_bytes(model_copy.read_bytes() + b"x")
    code, _, err = cli("tag", src, "-o", tmp_path / "out.csv", "--model", model_copy)
    assert code == 2 and "SHA-256" in err and "Traceback" not in err


def test_jobs_give_the_same_output(cli, tmp_path):
    rows = [(str(i), t, "c") for i in range(300) for t in ["Не дозвониться до поддержки", "Банкомат съел карту"]]
    src = write_csv(tmp_path / "log.csv", rows=rows)
    assert cli("tag", src, "-o", tmp_path / "a.csv", "--chunk-size", "50")[0] == 0
    assert cli("tag", src, "-o", tmp_path / "b.csv", "--chunk-size", "50", "--jobs", "2")[0] == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_evaluate_and_tag_take_a_threshold(cli, tmp_path):
    recs = [{"id": str(i), "text": t, "is_complaint": True, "root_causes": [], "recovery": "attempted"}
            for i, t in enumerate(["Карту по моей просьбе заблокировали, но жулики уже всё сняли",
                                   "Из 5000 вернули только 99 рублей, остальное ждём месяц",
                                   "Техотдел перезвонил на пятый день и ничего не сделал"])]
    labelled = tmp_path / "l.jsonl"
    labelled.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")
    code_low, out_low, _ = cli("evaluate", labelled, "--json", "--threshold", "recovery=0.01")
    code_high, out_high, _ = cli("evaluate", labelled, "--json", "--threshold", "recovery=1")
    assert code_low == code_high == 0
    assert json.loads(out_low)["recovery"]["recall"] == 1.0
    assert json.loads(out_high)["recovery"]["recall"] == 0.0

    src = write_csv(tmp_path / "log.csv")
    code, _, err = cli("tag", src, "-o", tmp_path / "out.csv", "--threshold", "recovery=0.01")
    assert code == 0 and "recovery 0.01" in err
    out = read_out_csv(tmp_path / "out.csv")
    ok = out["tag_status"] == "ok"
    attempted = out.loc[ok, "recovery"] == "attempted"
    assert attempted.sum() >= 2  # none of these would be at the model's own cut-off
    assert (attempted == (out.loc[ok, "p_recovery"].astype(float) >= 0.01)).all()

    code, _, err = cli("tag", src, "-o", tmp_path / "out2.csv", "--threshold", "recovery")
    assert code == 2 and err.count("\n") == 1 and "LABEL=PROBABILITY" in err
    assert not (tmp_path / "out2.csv").exists()
