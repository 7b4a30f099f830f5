"""Russian complaint classifier: root causes and recovery, for complaint logs.

>>> from nlp import ComplaintTagger
>>> tagger = ComplaintTagger.load()
>>> r = tagger.tag("Час висела на линии, робот не соединяет с оператором")
>>> r.root_causes, r.recovery
(['phone_menu_delay'], 'not_attempted')
"""
from __future__ import annotations

__version__ = "0.1.0"

from .corpus import check_corpus, label_matrix, read_labelled
from .evaluate import score
from .labels import CAUSES, DISPLAY_RU, LABELS, OTHER
from .model import ComplaintClassifier
from .persist import ModelError, load_model, save_model
from .tagger import ComplaintTagger, TagResult
from .text import NgramAnalyzer, RussianPreprocessor, normalize
from .train import train

__all__ = [
    "CAUSES", "DISPLAY_RU", "LABELS", "OTHER",
    "ComplaintClassifier", "ComplaintTagger", "ModelError", "NgramAnalyzer", "RussianPreprocessor", "TagResult",
    "check_corpus", "label_matrix", "load_model", "normalize", "read_labelled", "save_model", "score", "train",
]
