"""Language detection: confident guesses are believed, short or unclear text is taken as French."""

from __future__ import annotations

import pytest

from service.article import ArticleInput, source_language
from service.errors import UnsupportedLanguageError
from service.text.language import (
    CONFIDENCE,
    SHORT_CONFIDENCE,
    SHORT_TEXT_CHARS,
    classify,
    detect_language,
)
from tests.conftest import DATA

GERMAN = (
    "Die Bundesregierung hat am Montag ein neues Klimaschutzprogramm beschlossen, "
    "das bis 2030 gelten soll."
)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Le gouvernement a annoncé lundi un plan de 2,5 milliards d’euros.", "fr"),
        ("The government announced a 2.5 billion euro plan on Monday afternoon.", "en"),
        (GERMAN, "de"),
        ("El gobierno anunció el lunes un plan de 2.500 millones de euros.", "es"),
    ],
)
def test_confident_detection(text: str, language: str) -> None:
    detection = detect_language(text)
    assert detection.language == language
    assert not detection.fallback
    assert detection.probability >= CONFIDENCE


@pytest.mark.parametrize(
    "text",
    [
        "Bonjour.",  # the classifier leans French, but not enough
        "Hello world.",  # English words, but too short to be sure
        "Guten Tag.",
        "Paris",
        "OK",
        "Emmanuel Macron",
        "",
        "   \n ",
    ],
)
def test_short_unclear_text_is_taken_as_french(text: str) -> None:
    detection = detect_language(text)
    assert detection.language == "fr"
    assert detection.fallback
    assert detection.short


def test_short_text_is_believed_only_when_confident() -> None:
    # Under 40 characters, 0.9 is needed: a plain German sentence reaches it.
    assert len("Das ist gut.") < SHORT_TEXT_CHARS
    guess, probability = classify("Das ist gut.")
    assert (guess, probability >= SHORT_CONFIDENCE) == ("de", True)
    assert detect_language("Das ist gut.").language == "de"


def test_long_gibberish_is_taken_as_french() -> None:
    detection = detect_language("é" * 50)
    assert (detection.language, detection.fallback, detection.short) == ("fr", True, False)


def test_french_prefixes_are_never_mistaken() -> None:
    """Every word-boundary prefix of 100 FLORES French sentences, from one word up: French or
    the French fallback, never English or another language."""
    lines = (DATA / "flores_devtest_400.fr").read_text(encoding="utf-8").splitlines()[:100]
    for line in lines:
        words = line.split()
        for n in range(1, len(words) + 1):
            prefix = " ".join(words[:n])
            assert detect_language(prefix).language == "fr", prefix


def test_english_sentences_are_recognized() -> None:
    lines = (DATA / "flores_devtest_400.en").read_text(encoding="utf-8").splitlines()[:100]
    found = [detect_language(line).language for line in lines]
    assert set(found) <= {"en", "fr"}  # English, or the French fallback when unsure
    assert found.count("en") >= 95


def test_source_language_override_and_refusal() -> None:
    assert source_language(ArticleInput(text=GERMAN, source_lang="fr")).language == "fr"
    assert source_language(ArticleInput(text="Bonjour.", source_lang="en")).language == "en"
    with pytest.raises(UnsupportedLanguageError, match='"de"') as refused:
        source_language(ArticleInput(text=GERMAN))
    assert "source_lang" in refused.value.message
    # The title counts too: a short body with a long English headline is English.
    english = ArticleInput(
        text="Breaking news.", title="The prime minister resigned on Monday after a long crisis"
    )
    assert source_language(english).language == "en"


def test_unsure_detection_of_long_text_is_reported() -> None:
    choice = source_language(ArticleInput(text="é" * 50))
    assert choice.language == "fr"
    assert choice.warnings
    assert "treated as French" in choice.warnings[0]
    assert source_language(ArticleInput(text="Bonjour.")).warnings == []
