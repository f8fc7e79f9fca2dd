"""The source score: the share of a point's stemmed content words a sentence has."""

from __future__ import annotations

from service.grounding.sources import MAX_SOURCES, content_words, coverage, rank_sources


def test_content_words_are_stemmed_folded_and_without_function_words() -> None:
    assert content_words("The negotiations on arms deliveries") == {"negoti", "arm", "deliveri"}
    assert content_words("négociations") == content_words("negociations")
    assert content_words("the of and is") == frozenset()


def test_coverage_is_the_share_of_the_point_words_in_the_sentence() -> None:
    point = content_words("Putin met Kim in Moscow")
    assert coverage(point, content_words("Kim met Putin in Moscow yesterday")) == 1.0
    assert coverage(point, content_words("Putin stayed in Moscow")) == 0.5
    assert coverage(point, content_words("Nothing related")) == 0.0
    assert coverage(frozenset(), content_words("anything")) == 0.0


def test_sources_best_first_above_the_threshold() -> None:
    sentences = [
        content_words("The weather was fine."),
        content_words("Putin stayed in Moscow."),
        content_words("Kim met Putin in Moscow yesterday."),
        content_words("Putin spoke."),
    ]
    ranked = rank_sources("Putin met Kim in Moscow", sentences)
    assert [(r.index, r.score) for r in ranked] == [(2, 1.0), (1, 0.5)]  # 0.25 is below 0.3


def test_ties_keep_reading_order_and_at_most_three() -> None:
    sentences = [content_words("Putin spoke in Moscow.")] * 5
    ranked = rank_sources("Putin in Moscow", sentences)
    assert [r.index for r in ranked] == [0, 1, 2]
    assert len(ranked) == MAX_SOURCES
