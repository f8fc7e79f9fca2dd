"""Where terms are found: whole words, case and accents ignored, longest first; and the URLs,
e-mail addresses, @handles and #hashtags protected in every article."""

from __future__ import annotations

import pytest

from service.glossary.matching import TermIndex, find_terms, protected_spans
from service.glossary.terms import Term


def index(*sources: str) -> TermIndex:
    return TermIndex([Term(source, source.upper(), "glossary") for source in sources])


def found(sentence: str, terms: TermIndex) -> list[str]:
    return [m.text for m in find_terms(sentence, terms)]


def test_terms_match_without_regard_to_case_or_accents() -> None:
    terms = index("Conseil de sécurité nationale", "Kim Jong-Un")
    sentence = "Le conseil de securite NATIONALE a reçu KIM JONG‑UN hier."
    assert found(sentence, terms) == ["conseil de securite NATIONALE", "KIM JONG‑UN"]


def test_only_whole_words_match() -> None:
    terms = index("ONU", "Jong")
    assert found("L'ONUSIDA et l'ONU.", terms) == ["ONU"]
    assert found("Kim Jong-Un", terms) == ["Jong"]  # a dash ends a word
    assert found("Kimjong", terms) == []


def test_the_longest_term_wins_and_matches_never_overlap() -> None:
    terms = index("Conseil", "Conseil de sécurité", "sécurité nationale")
    matches = find_terms("Le Conseil de sécurité nationale et le Conseil.", terms)
    assert [(m.text, m.term.source) for m in matches] == [
        ("Conseil de sécurité", "Conseil de sécurité"),
        ("Conseil", "Conseil"),
    ]


def test_spans_point_into_the_original_sentence() -> None:
    sentence = "Selon  l’Élysée, Straße et Ｏｎｕ."
    terms = index("l'elysee", "strasse", "onu")
    for match in find_terms(sentence, terms):
        assert sentence[match.start : match.end] == match.text
    assert found(sentence, terms) == ["l’Élysée", "Straße", "Ｏｎｕ"]


def test_a_decomposed_accent_stays_with_its_letter() -> None:
    sentence = "Libe\u0301ration a titre\u0301."
    (match,) = find_terms(sentence, index("Libération"))
    assert match.text == "Libe\u0301ration"


def test_terms_that_start_with_punctuation_are_found_too() -> None:
    assert found("Le parti (PS) et le PS.", index("(PS)")) == ["(PS)"]


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        (
            "Lire https://www.lemonde.fr/politique/article.html.",
            ["https://www.lemonde.fr/politique/article.html"],
        ),
        (
            "Voir (https://fr.wikipedia.org/wiki/Paris_(France)).",
            ["https://fr.wikipedia.org/wiki/Paris_(France)"],
        ),
        (
            "Sur www.example.org, « http://a.b/c?d=1&e=2 ».",
            ["www.example.org", "http://a.b/c?d=1&e=2"],
        ),
        ("Écrire à jean.dupont@lemonde.fr ou à @LeMonde.", ["jean.dupont@lemonde.fr", "@LeMonde"]),
        ("Le mot-dièse #Paris2024 est en tête, pas #1.", ["#Paris2024"]),
        ("Le score était de 3@4 et l'adresse a@b n'existe pas.", []),
        ("Le site https://x.org/@moi#haut est là.", ["https://x.org/@moi#haut"]),
    ],
)
def test_urls_addresses_handles_and_hashtags_are_protected(
    sentence: str, expected: list[str]
) -> None:
    spans = protected_spans(sentence)
    assert [m.text for m in spans] == expected
    assert all(m.term.kind == "protected" and m.term.target == m.text for m in spans)


def test_glossary_terms_inside_a_url_are_left_alone() -> None:
    terms = index("lemonde")
    matches = find_terms("Le site https://lemonde.fr et Lemonde.", terms)
    assert [(m.text, m.term.kind) for m in matches] == [
        ("https://lemonde.fr", "protected"),
        ("Lemonde", "glossary"),
    ]


def test_a_large_glossary_is_scanned_quickly() -> None:
    import time

    terms = index(*(f"terme numéro {i}" for i in range(10_000)))
    sentence = "Le terme numéro 9999 et le terme numéro 5 sont là. " * 10
    started = time.perf_counter()
    matches = find_terms(sentence, terms)
    assert time.perf_counter() - started < 0.5  # generous: CI machines are shared
    assert len(matches) == 20
