import json
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone

from nlp import ComplaintClassifier, ComplaintTagger, ModelError, load_model, save_model
from nlp.corpus import label_matrix, read_labelled
from nlp.persist import card_path

from helpers import FIXTURES


@pytest.fixture(scope="module")
def tiny():
    df, problems = read_labelled([FIXTURES / "tiny_corpus.jsonl"])
    assert problems == []
    return df["text"].tolist(), label_matrix(df)


def test_fit_predict_on_a_tiny_corpus(tiny):
    X, Y = tiny
    clf = ComplaintClassifier(cv=2, min_df=1).fit(X, Y)
    P = clf.predict_proba(["Банкомат не выдал деньги, карту съел", "бот не соединяет с оператором"])
    assert P.shape == (2, 5) and ((0 <= P) & (P <= 1)).all()
    assert P[0, 2] > P[0, 0]  # faulty_device over phone_menu_delay for the ATM text
    assert P[1, 0] > P[1, 2]
    assert clf.cv_scores_["folds"] == 2
    assert ((clf.thresholds_ > 0) & (clf.thresholds_ < 1)).all()


def test_fit_is_deterministic_with_a_seed(tiny):
    X, Y = tiny
    a = ComplaintClassifier(cv=2, min_df=1, random_state=3).fit(X, Y)
    b = ComplaintClassifier(cv=2, min_df=1, random_state=3).fit(X, Y)
    assert np.array_equal(a.thresholds_, b.thresholds_)
    assert np.allclose(a.predict_proba(X), b.predict_proba(X))


def test_estimator_conventions(tiny):
    clf = ComplaintClassifier(C=2.0, cv=0)
    assert clf.get_params()["C"] == 2.0
    assert not hasattr(clf, "head_")  # no work in __init__
    fitted = pickle.loads(pickle.dumps(clone(clf).fit(*tiny)))
    assert fitted.predict(["приложение вылетает"]).shape == (1, 5)


def test_bad_label_matrix_is_refused(tiny):
    X, Y = tiny
    with pytest.raises(ValueError, match="n×5"):
        ComplaintClassifier(cv=0).fit(X, Y[:, :4])


def test_save_load_round_trip(tiny_model_path, tmp_path):
    model, card = load_model(tiny_model_path)
    texts = ["Не дозвониться до банка", "Роутер не работает"]
    out = tmp_path / "again.joblib"
    save_model(model, out, {"note": "copy"})
    again, card2 = load_model(out)
    assert np.allclose(model.predict_proba(texts), again.predict_proba(texts))
    assert card2["note"] == "copy" and card2["model_sha256"] != ""
    for key in ("labels", "versions", "training_data", "cv_metrics", "created", "thresholds"):
        assert key in card
    assert card["training_data"]["records"] == 24
    assert len(card["training_data"]["sha256"]) == 64


def test_tampered_model_is_refused_before_unpickling(model_copy):
    with open(model_copy, "ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelError, match="SHA-256"):
        ComplaintTagger.load(model_copy)


def test_missing_card_is_refused(model_copy):
    card_path(model_copy).unlink()
    with pytest.raises(ModelError, match="card"):
        load_model(model_copy)


def test_missing_model_names_the_fix(tmp_path):
    with pytest.raises(ModelError, match="complaints train"):
        load_model(tmp_path / "nope.joblib")


def test_version_drift_warns(model_copy):
    card = json.loads(card_path(model_copy).read_text(encoding="utf-8"))
    card["versions"]["scikit-learn"] = "0.0.1"
    card_path(model_copy).write_text(json.dumps(card), encoding="utf-8")
    with pytest.warns(UserWarning, match="scikit-learn 0.0.1"):
        load_model(model_copy)


def test_matching_versions_do_not_warn(model_copy):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(model_copy)


# texts that probe every seam of the batch path: negation at the ends of texts and
# before punctuation, placeholders that must not run into the next text, line
# breaks, the batch's own separator character, texts with no token at all, and
# long texts whose recovery is pooled over windows
EDGE_TEXTS = [
    "не", "Не не работает!", "ни!", "не _num_ не", "", "zzz", "...", "😡😡😡 не", "пишите на a@b.ru",
    "сайт https://bank.ru/help", "8 800 555 35 35", "+7", "912 345 67 89 звонок", "12.03.2024\n\nне вернули",
    "два\ue000текста", "\ue000", "ЁЖИК Ёлка", "Час висела на линии. " * 20 + "Деньги вернули.",
]


def test_batch_scorer_gives_scikit_learns_probabilities(corpus_model):
    """The array path for raw texts matches preprocessing + scikit-learn's TF-IDF and regressions."""
    df, _ = read_labelled(["corpora"])
    model = corpus_model
    texts = df["text"].tolist()[:400] + EDGE_TEXTS
    fast = model.predict_proba(texts)
    slow = model.predict_proba_docs(model.preprocessor_.transform(texts))
    assert np.abs(fast - slow).max() < 1e-6
    # one text at a time, and the same texts in another order, give the same numbers
    assert np.abs(model.predict_proba(texts[-1:]) - fast[-1:]).max() < 1e-9
    assert np.abs(model.predict_proba(texts[::-1])[::-1] - fast).max() < 1e-9


def test_batch_scorer_that_starts_afresh_scores_the_same(corpus_model):
    """Tables bounded to a few tokens must restart between batches without changing a probability."""
    from nlp.scoring import BatchScorer

    df, _ = read_labelled(["corpora"])
    texts = df["text"].tolist()[:300] + EDGE_TEXTS
    big, small = BatchScorer(corpus_model), BatchScorer(corpus_model, max_tokens=50, max_chunks=50)
    for batch in (texts[:100], texts[100:200], texts[200:]):
        assert np.abs(big.predict_proba(batch) - small.predict_proba(batch)).max() < 1e-12
    assert len(small.names) < len(big.names)  # the small one really did start afresh


def test_batch_scorer_pickles_its_numbers_not_its_caches(corpus_model):
    scorer = corpus_model.scorer()
    texts = ["Не дозвониться до банка", "Роутер не работает, 3 дня жду мастера"]
    before = scorer.predict_proba(texts)
    blob = pickle.dumps(scorer)
    again = pickle.loads(blob)
    assert np.array_equal(again.predict_proba(texts), before)
    assert b"sklearn" not in blob  # a model file must load without scikit-learn
    assert len(again.names) < len(scorer.names)  # tables start empty after loading


def test_explanations_sum_to_the_logit(corpus_model):
    """The pushes explain() lists are the whole linear score of a short text (no window pooling)."""
    scorer = corpus_model.scorer()
    P, pushes = scorer.explain("Мне так и не перезвонили, деньги не вернули")
    for j, label in enumerate(scorer.labels):
        logit = scorer.intercept[j] + sum(w for _, w in pushes[label])
        assert abs(1 / (1 + np.exp(-logit)) - P[j]) < 1e-9
    assert "не_перезвонить+past" in dict(pushes["missing_rep"])


def test_tagging_never_imports_scikit_learn():
    """Cold start: a model file loads and tags without importing scikit-learn (or pandas)."""
    code = ("import sys; from nlp import ComplaintTagger; ComplaintTagger.load().tag('Банкомат съел карту'); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'pandas'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_recovery_is_pooled_over_windows_of_long_texts():
    from nlp.model import pool_recovery

    def predict(docs):  # recovery = share of "вернуть+past" tokens; causes = length
        return np.array([[len(d), 0, 0, 0, d.count("вернуть+past") / max(1, len(d))] for d in docs], float)

    long = ["слово"] * 50 + ["вернуть+past"] * 3 + ["слово"] * 17
    short = ["вернуть+past"] + ["слово"] * 59  # two windows at most: left whole
    P = pool_recovery(predict, [long, short], window=30)
    assert P[0, 0] == 70  # causes: the whole text
    assert P[0, 4] == pytest.approx(3 / 30)  # recovery: the window that holds the clause
    assert P[1, 4] == pytest.approx(1 / 60)
    assert np.array_equal(pool_recovery(predict, [long], window=None), predict([long]))


def test_cv_folds_keep_each_source_whole():
    from nlp.model import cv_folds

    groups = ["a.jsonl"] * 5 + ["b.jsonl"] * 3 + ["c.jsonl"] * 4 + ["d.jsonl"] * 2
    folds, grouped = cv_folds(len(groups), 3, groups)
    assert grouped
    for train, test in folds:
        assert not {groups[i] for i in train} & {groups[i] for i in test}
    assert sorted(i for _, test in folds for i in test) == list(range(len(groups)))
    # fewer sources than folds: shuffled rows instead, every row tested once
    two_sources = ["a.jsonl"] * 7 + ["b.jsonl"] * 7
    folds, grouped = cv_folds(len(groups), 5, two_sources)
    assert not grouped and sorted(i for _, test in folds for i in test) == list(range(len(groups)))


def test_fit_records_whether_folds_were_grouped(tiny):
    X, Y = tiny
    by_half = ["first"] * (len(X) // 2) + ["second"] * (len(X) - len(X) // 2)
    assert ComplaintClassifier(cv=2, min_df=1).fit(X, Y, groups=by_half).cv_scores_["grouped"]
    assert not ComplaintClassifier(cv=2, min_df=1).fit(X, Y).cv_scores_["grouped"]


@pytest.mark.parametrize("min_df, max_df", [(1, 1.0), (2, 0.5), (2, 3)])
def test_char_ngram_tfidf_is_scikit_learns_tfidf_vectorizer(tiny, min_df, max_df):
    from sklearn.feature_extraction.text import TfidfVectorizer

    from nlp import RussianPreprocessor
    from nlp.model import CharNgramTfidf
    from nlp.text import CharNgramAnalyzer

    docs = RussianPreprocessor().transform(tiny[0])
    train, unseen = docs[: len(docs) // 2], docs[len(docs) // 2:] + [[], ["ёжик", "ёжик", "!"]]
    ref = TfidfVectorizer(analyzer=CharNgramAnalyzer((2, 5)), min_df=min_df, max_df=max_df,
                          sublinear_tf=True, dtype=np.float32)
    ours = CharNgramTfidf((2, 5), min_df=min_df, max_df=max_df)
    A, B = ref.fit_transform(train), ours.fit_transform(train)
    assert ours.vocabulary_ == ref.vocabulary_
    np.testing.assert_array_equal(ours.idf_, ref.idf_)
    assert abs(A - B).max() < 1e-6 and B.dtype == A.dtype
    assert abs(ref.transform(unseen) - ours.transform(unseen)).max() < 1e-6
    assert list(ours.get_feature_names_out()) == list(ref.get_feature_names_out())
    assert pickle.loads(pickle.dumps(ours)).vocabulary_ == ours.vocabulary_
