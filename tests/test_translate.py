"""Translation: each sentence exactly once, in order, in length-sorted token-budget batches."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from service.engines.base import GenerationSettings
from service.pipeline import Pipeline
from service.scheduler import BatchScheduler, plan_batches
from service.translate import translate_sentences
from tests.fakes import RecordingEngine, scheduler_for

DEFAULTS = GenerationSettings()


@given(st.lists(st.integers(min_value=1, max_value=200), max_size=60), st.integers(64, 2048))
def test_batches_cover_every_item_once_within_budget(sizes: list[int], budget: int) -> None:
    batches = plan_batches(sizes, budget)
    assert sorted(i for batch in batches for i in batch) == list(range(len(sizes)))
    for batch in batches:
        longest = max(sizes[i] for i in batch)
        assert len(batch) == 1 or len(batch) * longest <= budget
        assert [sizes[i] for i in batch] == sorted((sizes[i] for i in batch), reverse=True)


def test_every_sentence_translated_once_in_order() -> None:
    engine = RecordingEngine(window=50)
    sentences = [f"phrase {i} " + "mot " * (i % 7) for i in range(40)]
    result = translate_sentences(scheduler_for(engine, 40), sentences, DEFAULTS)
    assert result.sentences == [f"<{s}>" for s in sentences]
    assert sorted(engine.inputs) == sorted(sentences)
    assert len(engine.batches) > 1
    assert result.split_sentences == 0


def test_long_sentence_is_split_not_truncated() -> None:
    engine = RecordingEngine(window=8)
    long_sentence = "un deux trois quatre, cinq six sept huit, neuf dix onze douze, treize quatorze"
    result = translate_sentences(
        scheduler_for(engine, 64), ["Court.", long_sentence, "Fin."], DEFAULTS
    )
    assert result.split_sentences == 1
    assert result.sentences[0] == "<Court.>"
    assert result.sentences[2] == "<Fin.>"
    pieces = [text for text in engine.inputs if text not in ("Court.", "Fin.")]
    assert len(pieces) > 1
    assert " ".join(p.strip("<>") for p in result.sentences[1].split("> <")).split() == (
        long_sentence.split()
    )


def test_progress_reaches_the_total() -> None:
    seen: list[tuple[int, int]] = []
    translate_sentences(
        scheduler_for(RecordingEngine(window=20), 4),
        ["a b", "c d e", "f"],
        DEFAULTS,
        lambda d, t: seen.append((d, t)),
    )
    assert seen[-1] == (3, 3)


def test_tiny_marian_reproduces_the_memorized_pairs(
    pipeline: Pipeline, memorized_pairs: list[tuple[str, str]]
) -> None:
    """The tiny model was trained on these FLORES pairs, so its translations are known exactly."""
    french = [fr for fr, _ in memorized_pairs]
    result = translate_sentences(pipeline.translation_scheduler, french, DEFAULTS)
    assert result.sentences == [en for _, en in memorized_pairs]


def test_each_sentence_is_tokenized_once() -> None:
    # The scheduler and the model reuse the encoding: nothing downstream tokenizes again.
    engine = RecordingEngine(window=50)
    sentences = [f"phrase {i} " + "mot " * (i % 7) for i in range(12)]
    translate_sentences(scheduler_for(engine, 40), sentences, DEFAULTS)
    assert engine.encoded == sentences


def test_only_the_pieces_of_a_long_sentence_are_measured_again() -> None:
    engine = RecordingEngine(window=8)
    long_sentence = "un deux trois quatre, cinq six sept huit, neuf dix onze douze, treize quatorze"
    translate_sentences(scheduler_for(engine, 64), ["Court.", long_sentence, "Fin."], DEFAULTS)
    assert engine.encoded[:3] == ["Court.", long_sentence, "Fin."]
    assert len(engine.encoded) == len(set(engine.encoded)), "no text encoded twice"
    assert set(engine.inputs) <= set(engine.encoded)


def test_the_lead_counts_the_pieces_of_the_leading_sentences() -> None:
    # The first sentence is cut in pieces: all of them lead, and nothing after them.
    engine = RecordingEngine(window=8)
    scheduler = BatchScheduler(engine, batch_tokens=4096, wait_ms=20, max_queued=100, workers=2)
    long_sentence = "un deux trois quatre, cinq six sept huit, neuf dix onze douze"
    rest = [f"Phrase {i}." for i in range(6)]
    result = translate_sentences(scheduler, [long_sentence, *rest], DEFAULTS, lead=1)
    scheduler.close()
    assert result.split_sentences == 1
    # The two workers record their batches in either order: the lead is the batch that holds
    # the long sentence's pieces, and it holds nothing else.
    lead = [batch for batch in engine.batches if not set(batch) & set(rest)]
    assert len(lead) == 1
    assert len(lead[0]) > 1
    others = [t for batch in engine.batches if batch is not lead[0] for t in batch]
    assert sorted(others) == sorted(rest)
