"""French paragraphs and sentences: abbreviations, guillemets, decimals and initials hold."""

from __future__ import annotations

import pytest

from service.text.segment import segment_article, split_paragraphs, split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "M. Dupont est arrivé. Mme Martin aussi.",
            ["M. Dupont est arrivé.", "Mme Martin aussi."],
        ),
        (
            "Le chômage a baissé de 1,5 % en 2023. Les prix montent.",
            ["Le chômage a baissé de 1,5 % en 2023.", "Les prix montent."],
        ),
        (
            "J. K. Rowling a signé. Le Dr. Martin a parlé.",
            ["J. K. Rowling a signé.", "Le Dr. Martin a parlé."],
        ),
        (
            "Il a dit : « Nous y allons ! » Puis il est parti.",
            ["Il a dit : « Nous y allons ! »", "Puis il est parti."],
        ),
        (
            "« C'est fini. » Le ministre est sorti.",
            ["« C'est fini. »", "Le ministre est sorti."],
        ),
        (
            "« Est-ce vrai ? » demanda-t-il. Personne ne répondit.",
            ["« Est-ce vrai ? » demanda-t-il.", "Personne ne répondit."],
        ),
    ],
)
def test_french_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_paragraphs_by_blank_lines_and_single_newlines() -> None:
    text = "Premier paragraphe.\n\nDeuxième.\r\nTroisième.\n\n\n  \nQuatrième."
    assert split_paragraphs(text) == [
        "Premier paragraphe.",
        "Deuxième.",
        "Troisième.",
        "Quatrième.",
    ]


def test_whitespace_is_normalized() -> None:
    assert split_paragraphs("Un\u00a0mot\tet  un autre.") == ["Un mot et un autre."]


def test_sample_article_structure(sample_article: str) -> None:
    article = segment_article(sample_article, "Poutine et Kim Jong-Un. Une rencontre")
    assert article.title == ["Poutine et Kim Jong-Un.", "Une rencontre"]
    assert len(article.paragraphs) == 10
    assert article.paragraphs[3] == ["Des discussions à éviter pour les Etats-Unis"]
    assert article.sentence_count == 2 + sum(len(p) for p in article.paragraphs)
    # Nothing is lost: the sentences put back together give the paragraphs again.
    for paragraph, sentences in zip(
        split_paragraphs(sample_article), article.paragraphs, strict=True
    ):
        assert " ".join(sentences) == paragraph
