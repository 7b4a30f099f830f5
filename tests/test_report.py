import re

from helpers import write_csv

ROWS = [(str(i), t, ch, d) for i, (t, ch, d) in enumerate([
    ("Час висела на линии, робот не соединяет", "звонок", "05.01.2025"),
    ("Не дозвониться до горячей линии третий день", "звонок", "06.01.2025"),
    ("Банкомат съел карту, деньги не выдал", "офис", "07.02.2025"),
    ("Нахамили в отделении", "офис", "08.02.2025"),
    ("hello", "чат", "09.02.2025"),
])]


def test_report_from_tag_and_from_file(cli, tmp_path):
    src = write_csv(tmp_path / "log.csv", rows=ROWS, header=("id", "text", "Канал", "Дата"))
    code, _, err = cli("tag", src, "-o", tmp_path / "out.csv", "--report", tmp_path / "r1.html", "--by", "Канал")
    assert code == 0, err
    page = (tmp_path / "r1.html").read_text(encoding="utf-8")
    assert "<svg" in page and "http" not in re.sub(r'xmlns(:\w+)?="[^"]+"|<!DOCTYPE[^>]*>', "", page).split("<svg", 1)[0]
    assert "Ожидание и телефонное меню" in page and "By «Канал»" in page
    assert "Не дозвониться до горячей линии третий день" in page  # an example

    code, _, err = cli("report", tmp_path / "out.csv", "-o", tmp_path / "r2.html", "--by-month", "Дата")
    assert code == 0, err
    page2 = (tmp_path / "r2.html").read_text(encoding="utf-8")
    assert "2025-01" in page2 and "2025-02" in page2


def test_report_pareto_counts(shipped):
    import pandas as pd
    from nlp.report import ReportBuilder

    df = shipped.tag_frame(pd.DataFrame({"text": [r[1] for r in ROWS]}))
    b = ReportBuilder()
    b.add(df)
    p = b.pareto()
    assert p["cause"][0] == "phone_menu_delay" and p["count"][0] == 2
    assert abs(p["cumulative"].iloc[-1] - 1.0) < 1e-9
    assert b.tagged == 4 and b.status["not_russian"] == 1


def test_report_refuses_an_untagged_file(cli, tmp_path):
    src = write_csv(tmp_path / "log.csv", rows=ROWS, header=("id", "text", "Канал", "Дата"))
    code, _, err = cli("report", src, "-o", tmp_path / "r.html")
    assert code == 2 and "complaints tag" in err
