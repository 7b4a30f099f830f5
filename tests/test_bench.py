"""The benchmark's bookkeeping: ratios are taken within a timing round, not across rounds."""
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ratios_are_per_round_medians_with_ranges(bench, monkeypatch):
    # the machine is twice as fast in round 2: both peers speed up together, so the
    # within-round ratio stays 0.5 while a ratio of medians across rounds would not
    speeds = {("ours", 0): 100.0, ("sk", 0): 200.0, ("ours", 1): 200.0, ("sk", 1): 400.0,
              ("ours", 2): 150.0, ("sk", 2): 250.0}
    calls = []

    def fake_throughput(predict, texts, warm_up):
        name = predict()
        calls.append(name)
        return speeds[(name, sum(c == name for c in calls) - 1)]

    monkeypatch.setattr(bench, "throughput", fake_throughput)
    configs = {"ours": (lambda: lambda: "ours", ["a b"], []),
               "scikit-learn TF-IDF raw words + LR": (lambda: lambda: "sk", ["a b c"], [])}
    out = bench.repeated_throughput(configs, repeats=3)

    assert calls == ["ours", "sk", "sk", "ours", "ours", "sk"]  # the order rotates each round
    ours = out["ours"]
    assert ours["texts_per_s_all"] == [100.0, 200.0, 150.0]
    assert ours["texts_per_s"] == 150.0
    assert ours["tokens_per_s"] == 300.0  # two words per text
    assert ours["x_sklearn"] == pytest.approx(0.5)  # median of 0.5, 0.5, 0.6
    assert ours["x_sklearn_range"] == pytest.approx((0.5, 0.6))
    assert ours["x_fasttext"] is None and ours["x_fasttext_range"] is None  # no fastText in this run
