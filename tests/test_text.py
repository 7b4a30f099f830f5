import pickle

import pytest

from nlp.corpus import read_labelled
from nlp.model import RussianPreprocessor
from nlp.text import NgramAnalyzer, normalize


@pytest.fixture(scope="module")
def prep():
    return RussianPreprocessor()


def test_negation_is_bound_to_the_next_lemma(prep):
    assert "не_перезвонить+past" in prep.tokens("Мне так и не перезвонили")
    assert "перезвонить+past" not in prep.tokens("Мне так и не перезвонили")
    assert "перезвонить+past" in prep.tokens("Мне перезвонили")
    assert "не_перезвонить+past" not in prep.tokens("Мне перезвонили")
    assert "ни_раз" in prep.tokens("ни разу не ответили")


def test_negation_can_be_switched_off(prep):
    assert RussianPreprocessor(negation=False).tokens("не перезвонили") == ["не", "перезвонить+past"]


def test_negation_before_punctuation_stays_a_word(prep):
    assert prep.tokens("а я говорю не!") == ["а", "я", "говорить+pres", "не", "!"]


def test_verb_tense_and_mood_survive_lemmatisation(prep):
    done, demand, promise = (prep.tokens(t)[-1] for t in ("деньги вернули", "деньги верните", "деньги вернут"))
    assert (done, demand, promise) == ("вернуть+past", "вернуть+impr", "вернуть+futr")
    assert RussianPreprocessor(verb_forms=False).tokens("деньги вернули") == ["деньга", "вернуть"]


def test_abbreviations_pymorphy_would_misread(prep):
    assert prep.tokens("ждал 20 мин") == ["ждать+past", "_num_", "минута"]


def test_yo_is_folded_in_text_and_lemmas(prep):
    assert prep.tokens("Ещё раз") == prep.tokens("еще раз")
    assert all("ё" not in t for t in prep.tokens("Всё ещё жду, пришёл счёт"))


@pytest.mark.parametrize("raw, placeholder", [
    ("пишите на help@bank.ru", "_email_"),
    ("смотрите https://t.co/AbC123 там", "_url_"),
    ("@sberbank верните деньги", "_user_"),
    ("звонил с +7 (912) 345-67-89", "_phone_"),
    ("звонил 8 800 555 35 35", "_phone_"),
    ("карта 4276 1234 5678 9012 заблокирована", "_card_"),
    ("карта *1234 заблокирована", "_card_"),
    ("списали 4 500 руб. без причины", "_money_"),
    ("списали 120,30 р за смс", "_money_"),
    ("ждала 40 минут", "_num_"),
    ("обращение от 12.03.2024", "_date_"),
    ("вы о****ли совсем", "_mask_"),
])
def test_pii_and_numbers_become_placeholders(prep, raw, placeholder):
    tokens = prep.tokens(raw)
    assert placeholder in tokens
    assert not any(ch.isdigit() for t in tokens for ch in t if t != placeholder)


def test_no_digits_of_a_phone_reach_the_tokens(prep):
    assert prep.tokens("мой номер +7 912 345-67-89") == ["мой", "номер", "_phone_"]


def test_nfc_and_case(prep):
    decomposed = "и\u0306"  # «й» as и + combining breve
    assert normalize(f"МО{decomposed}") == "мой"


def test_questions_and_emoji_are_kept(prep):
    tokens = prep.tokens("Где деньги?? 😡😡😡")
    assert "?" in tokens and "😡" in tokens


def test_cached_and_uncached_paths_agree():
    df, _ = read_labelled(["corpora"])
    texts = df["text"].tolist()[:600] * 2  # repeats exercise cache hits
    cached = RussianPreprocessor()
    uncached = RussianPreprocessor(chunk_cache_size=0, lemma_cache_size=0)
    assert cached.transform(texts) == uncached.transform(texts)
    assert cached.cache_info()["hits"] > 0
    assert uncached.cache_info()["hits"] == 0


def test_preprocessor_pickles_after_use(prep):
    prep.tokens("кэш заполнен")
    clone = pickle.loads(pickle.dumps(prep))
    assert clone.tokens("Робот не соединяет") == prep.tokens("Робот не соединяет")
    assert clone.get_params() == prep.get_params()


def test_ngram_analyzer():
    assert NgramAnalyzer((1, 2))(["a", "b", "c"]) == ["a", "b", "c", "a b", "b c"]
    assert NgramAnalyzer((2, 2))(["a"]) == []
