"""Summaries: one pass when the text fits, map-reduce over chunks when it does not."""

from __future__ import annotations

import pytest

from service.engines.base import EncodingMemo, GenerationSettings
from service.summarize import (
    ChunkPlanner,
    MapPass,
    chunk_paragraphs,
    encoded_chunks,
    extract_key_points,
    summarize_paragraphs,
)
from tests.fakes import RecordingEngine, scheduler_for

DEFAULTS = GenerationSettings()


def first_sentences(text: str) -> str:
    """A fake summarizer: keeps the first three sentences of its input."""
    return " ".join(s.strip() + "." for s in text.split(".")[:3] if s.strip())


def test_short_text_takes_a_single_pass() -> None:
    engine = RecordingEngine(window=100, transform=first_sentences, task="summary")
    paragraphs = ["One thing happened. Then another.", "A third thing. And a fourth."]
    result = summarize_paragraphs(scheduler_for(engine, 1000), paragraphs, DEFAULTS, max_points=5)
    assert (result.strategy, result.chunks, result.rounds) == ("single", 1, 1)
    assert engine.inputs == [" ".join(paragraphs)]
    assert result.key_points == ["One thing happened.", "Then another.", "A third thing."]
    assert result.warnings == []


def test_long_text_is_chunked_then_reduced() -> None:
    engine = RecordingEngine(window=40, transform=first_sentences, task="summary")
    paragraphs = [
        f"Paragraph {i} says something. It adds detail {i}. More words here." for i in range(30)
    ]
    result = summarize_paragraphs(scheduler_for(engine, 400), paragraphs, DEFAULTS, max_points=4)
    assert result.strategy == "map_reduce"
    assert result.chunks > 1
    assert result.rounds >= 2
    # The map pass read every paragraph exactly once.
    first_round = engine.inputs[: result.chunks]
    assert " ".join(first_round).split() == " ".join(paragraphs).split()
    assert 3 <= len(result.key_points) <= 4


def test_paragraph_longer_than_window_is_cut_at_sentences() -> None:
    engine = RecordingEngine(window=12, task="summary")
    paragraph = " ".join(f"Sentence number {i} is here." for i in range(10))
    chunks = chunk_paragraphs([paragraph], engine)
    assert len(chunks) > 1
    assert all(engine.count_tokens([c])[0] <= 12 for c in chunks)
    assert " ".join(chunks) == paragraph


def test_key_points_are_distinct_sentences_in_order() -> None:
    summary = "Prices rose. Prices rose. Mr. Smith resigned on Monday. Talks continue."
    assert extract_key_points(summary, 6) == [
        "Prices rose.",
        "Mr. Smith resigned on Monday.",
        "Talks continue.",
    ]
    assert extract_key_points(summary, 2) == ["Prices rose.", "Mr. Smith resigned on Monday."]


def test_too_few_points_is_a_warning_not_an_invention() -> None:
    engine = RecordingEngine(window=100, transform=lambda _: "Only one sentence.", task="summary")
    result = summarize_paragraphs(
        scheduler_for(engine, 1000), ["Some text. More text."], DEFAULTS, 5
    )
    assert result.key_points == ["Only one sentence."]
    assert any("fewer than the 3" in w for w in result.warnings)


def test_no_text_is_tokenized_twice_on_the_way_to_the_model() -> None:
    # Chunking measures paragraphs and joined chunks; the scheduler and the model reuse those
    # encodings instead of tokenizing each chunk again.
    engine = RecordingEngine(window=40, transform=first_sentences, task="summary")
    paragraphs = [
        f"Paragraph {i} says something. It adds detail {i}. More words here." for i in range(30)
    ]
    summarize_paragraphs(scheduler_for(engine, 400), paragraphs, DEFAULTS, max_points=4)
    assert len(engine.encoded) == len(set(engine.encoded))
    assert set(engine.inputs) <= set(engine.encoded)


def _articles() -> list[list[str]]:
    """Bodies for a 40-token window: many short paragraphs, uneven ones, one paragraph longer
    than the window among others, blank paragraphs, a single short one."""
    long = " ".join(f"Sentence number {i} is here and says more." for i in range(12))
    return [
        [f"Paragraph {i} says something. It adds detail {i}." for i in range(20)],
        [" ".join(["word"] * (3 + 7 * i % 30)) + "." for i in range(15)],
        ["A short start.", long, "A short end.", "", "Another one after a blank."],
        [long],
        ["Only this."],
    ]


@pytest.mark.parametrize("paragraphs", _articles())
def test_chunks_planned_paragraph_by_paragraph_are_the_whole_text_chunks(
    paragraphs: list[str],
) -> None:
    engine = RecordingEngine(window=40, transform=first_sentences, task="summary")
    whole = encoded_chunks(paragraphs, EncodingMemo(engine))
    planner = ChunkPlanner(EncodingMemo(engine))
    planned = [chunk for paragraph in paragraphs for chunk in planner.add(paragraph)]
    assert planned + planner.finish() == whole


@pytest.mark.parametrize("paragraphs", _articles())
def test_an_eager_map_pass_submits_each_chunk_once_final_and_sums_up_the_same(
    paragraphs: list[str],
) -> None:
    engine = RecordingEngine(window=40, transform=first_sentences, task="summary")
    scheduler = scheduler_for(engine, 400)
    eager = MapPass(scheduler, DEFAULTS, eager=True)
    body = [p for p in paragraphs if p.strip()]
    whole = encoded_chunks(body, EncodingMemo(engine))
    for i, paragraph in enumerate(paragraphs):
        eager.add(paragraph)
        # Every chunk final by now is with the scheduler: those that the paragraphs so far
        # fill and that the next one cannot join.
        assert eager.chunks == whole[: len(eager.chunks)]
        assert eager._submitted == len(eager.chunks)
        if i < len(paragraphs) - 1 and len(whole) > 1 and eager.chunks:
            assert eager.chunks[-1] != whole[-1]
    if len(whole) == 1:
        assert eager.chunks == []  # a single chunk is one call, at the end
    eager_result = summarize_paragraphs(scheduler, paragraphs, DEFAULTS, 4, eager)
    plain_engine = RecordingEngine(window=40, transform=first_sentences, task="summary")
    plain = summarize_paragraphs(scheduler_for(plain_engine, 400), paragraphs, DEFAULTS, 4)
    assert eager_result == plain
    assert sorted(engine.inputs) == sorted(plain_engine.inputs)  # each chunk summarized once


def test_a_map_pass_of_other_paragraphs_is_planned_again() -> None:
    engine = RecordingEngine(window=40, transform=first_sentences, task="summary")
    scheduler = scheduler_for(engine, 400)
    paragraphs = [f"Paragraph {i} says something. It adds detail {i}." for i in range(20)]
    stale = MapPass(scheduler, DEFAULTS, eager=True)
    for paragraph in paragraphs[:-1]:
        stale.add(paragraph)
    result = summarize_paragraphs(scheduler, paragraphs, DEFAULTS, 4, stale)
    fresh = summarize_paragraphs(scheduler, paragraphs, DEFAULTS, 4)
    assert result == fresh
