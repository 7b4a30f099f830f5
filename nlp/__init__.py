"""Russian complaint classifier: root causes and recovery, for complaint logs.

>>> from nlp import ComplaintTagger
>>> tagger = ComplaintTagger.load()
>>> r = tagger.tag("Час висела на линии, робот не соединяет с оператором")
>>> r.root_causes, r.recovery
(['phone_menu_delay'], 'not_attempted')
"""
from __future__ import annotations

__version__ = "0.1.0"

# Names load on first use (PEP 562): `from nlp import ComplaintTagger` should not
# pay for pandas, metrics or training code; cold start is a benchmark target.
_EXPORTS = {
    "check_corpus": "corpus", "label_matrix": "corpus", "read_labelled": "corpus",
    "score": "evaluate",
    "CAUSES": "labels", "DISPLAY_RU": "labels", "LABELS": "labels", "OTHER": "labels",
    "ComplaintClassifier": "model", "RussianPreprocessor": "model", "BatchScorer": "scoring",
    "ModelError": "persist", "load_model": "persist", "save_model": "persist",
    "ComplaintTagger": "tagger", "TagResult": "tagger",
    "NgramAnalyzer": "text", "normalize": "text",
    "train": "train",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module

        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nlp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
