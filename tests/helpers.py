"""Helpers shared by the tests: fixture paths and small CSV logs."""
import csv
import io
from pathlib import Path

import pandas as pd

FIXTURES = Path(__file__).resolve().parent / "fixtures"

ROWS = [
    ("1", "Час висела на линии, робот не соединяет с оператором", "звонок"),
    ("2", "Приложение вылетает при входе,\nпосле обновления вообще не открывается", "чат"),
    ("3", "", "почта"),
    ("4", "Thanks, all good", "чат"),
    ("5", 'Менеджер в отпуске, никто не перезвонил; "обещали" - тишина', "звонок"),
]


def write_csv(path, rows=ROWS, header=("id", "Текст обращения", "Канал"), encoding="utf-8", delimiter=";"):
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def read_out_csv(path, delimiter=";"):
    return pd.read_csv(path, sep=delimiter, encoding="utf-8-sig", dtype=str, keep_default_na=False)
