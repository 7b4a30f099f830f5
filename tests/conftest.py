"""Shared fixtures: the shipped model, a model trained on the tiny corpus, a CLI runner."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import FIXTURES

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shipped():
    from nlp import ComplaintTagger

    return ComplaintTagger.load()


@pytest.fixture(scope="session")
def corpus_model():
    """A ComplaintClassifier (scikit-learn form) fitted on part of corpora/, for comparing paths."""
    from nlp import ComplaintClassifier, label_matrix, read_labelled

    df, _ = read_labelled([ROOT / "corpora"])
    df = df.sample(2000, random_state=0)
    return ComplaintClassifier(cv=0).fit(df["text"].tolist(), label_matrix(df))


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    from nlp import train

    out = tmp_path_factory.mktemp("model") / "tiny.joblib"
    train([FIXTURES / "tiny_corpus.jsonl"], out, cv=2, min_df=1)
    return out


@pytest.fixture
def model_copy(tiny_model_path, tmp_path) -> Path:
    """A private copy of the tiny model and its card, safe to tamper with."""
    from nlp.persist import card_path

    dst = tmp_path / "m.joblib"
    shutil.copy(tiny_model_path, dst)
    shutil.copy(card_path(tiny_model_path), card_path(dst))
    return dst


@pytest.fixture
def cli(capsys):
    """Run `complaints ARGS…` in-process; returns (exit code, stdout, stderr)."""
    from nlp.cli import main

    def run(*args):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
