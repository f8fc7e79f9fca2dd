"""Sentence ids: the pipeline's order (headline, standfirst, paragraphs, captions) and /verify's."""

from __future__ import annotations

import pytest

from service.grounding.sentences import build_sentences, verify_sentences
from service.text.segment import segment_parts


def test_build_sentences_numbers_every_part_in_reading_order() -> None:
    segmented = segment_parts(
        ["Premier paragraphe. Deuxième phrase.", "Second paragraphe."],
        title="Le titre",
        standfirst="Le chapô.",
        captions=["Une légende.", "Une autre. Avec deux phrases."],
    )
    english = [f"English {i}." for i in range(len(segmented.all_sentences()))]
    sentences = build_sentences(segmented, english)
    assert [(s.id, s.paragraph, s.caption) for s in sentences] == [
        (0, "title", None),
        (1, "standfirst", None),
        (2, 0, None),
        (3, 0, None),
        (4, 1, None),
        (5, "caption", 0),
        (6, "caption", 1),
        (7, "caption", 1),
    ]
    assert [s.source for s in sentences] == segmented.all_sentences()
    assert [s.text for s in sentences] == english


def test_build_sentences_refuses_a_wrong_count() -> None:
    with pytest.raises(ValueError, match="2 English sentences for 1"):
        build_sentences(segment_parts(["Une phrase."]), ["One.", "Two."])


def test_verify_pairs_sentence_by_sentence_when_the_counts_agree() -> None:
    sentences, pairs = verify_sentences(["One. Two.", "Three."], ["Un. Deux.", "Trois."])
    assert [(s.id, s.paragraph, s.source, s.text) for s in sentences] == [
        (0, 0, "Un.", "One."),
        (1, 0, "Deux.", "Two."),
        (2, 1, "Trois.", "Three."),
    ]
    assert [p.ids for p in pairs] == [(0,), (1,), (2,)]


def test_verify_pairs_a_paragraph_whole_when_the_counts_differ() -> None:
    sentences, pairs = verify_sentences(["One. Two."], ["Un et deux."])
    assert [s.source for s in sentences] == ["Un et deux.", "Un et deux."]
    assert [(p.ids, p.french, p.english) for p in pairs] == [
        ((0, 1), "Un et deux.", ("One.", "Two."))
    ]


def test_verify_without_source_and_with_blank_paragraphs() -> None:
    sentences, pairs = verify_sentences(["One.", "  ", "Two."], None)
    assert [(s.id, s.paragraph, s.source, s.text) for s in sentences] == [
        (0, 0, "One.", "One."),
        (1, 2, "Two.", "Two."),
    ]
    assert pairs == []
    # French without English stays addressable, with empty text
    sentences, pairs = verify_sentences([""], ["Il y a 19 morts."])
    assert [(s.source, s.text) for s in sentences] == [("Il y a 19 morts.", "")]
    assert pairs[0].english == ("",)


def test_verify_normalizes_typography_and_line_breaks() -> None:
    sentences, _ = verify_sentences(["One\u00a0:\nstill one."], None)
    assert [s.text for s in sentences] == ["One : still one."]
