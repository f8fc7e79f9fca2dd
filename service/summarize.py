"""Summaries of any length of English text: single pass, or map-reduce over window-sized chunks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from service.engines.base import Encoded, EncodingMemo, GenerationSettings, TokenCounter
from service.scheduler import BatchScheduler
from service.text.chunking import CountTokens, pack, split_to_fit
from service.text.segment import split_sentences

Strategy = Literal["single", "map_reduce"]
MIN_POINTS = 3
MAX_POINTS = 6
_MAX_ROUNDS = 5


@dataclass
class SummaryResult:
    """A summary, its key points and how it was made."""

    summary: str
    key_points: list[str]
    strategy: Strategy
    chunks: int
    """Chunks summarized in the first (map) pass; 1 for a single pass."""
    rounds: int
    """Passes over the text: 1 for single, 2 or more for map-reduce."""
    input_tokens: int = 0
    output_tokens: int = 0
    warnings: list[str] = field(default_factory=list)


def _chunk(paragraphs: Sequence[str], count: CountTokens, window: int) -> list[str]:
    units: list[str] = []
    for paragraph, size in zip(paragraphs, count(paragraphs), strict=True):
        if size <= window:
            units.append(paragraph)
            continue
        for sentence in split_sentences(paragraph, "en"):
            units.extend(split_to_fit(sentence, count, window))
    return pack(units, count, window)


def chunk_paragraphs(paragraphs: Sequence[str], engine: TokenCounter) -> list[str]:
    """Pack paragraphs into window-sized chunks; cut a too-long paragraph at sentences first.

    Exact: every chunk is measured as the engine will encode it (`pack` counts the joined
    text), so none exceeds the window whatever the joins and the tokenizer add.
    """
    return _chunk(paragraphs, engine.count_tokens, engine.max_input_tokens)


def encoded_chunks(paragraphs: Sequence[str], memo: EncodingMemo) -> list[Encoded]:
    """`chunk_paragraphs`, encoded: the chunks come from `memo`, so the encoding `pack`
    measured is the one the model reads, and no text is tokenized twice."""
    return memo.encode(_chunk(paragraphs, memo.count_tokens, memo.max_input_tokens))


def extract_key_points(summary: str, limit: int) -> list[str]:
    """The summary's distinct sentences, in order, at most `limit` of them."""
    points: list[str] = []
    seen: set[str] = set()
    for sentence in split_sentences(summary, "en"):
        key = " ".join(sentence.lower().split())
        if key and key not in seen:
            seen.add(key)
            points.append(sentence)
    return points[:limit]


def summarize_paragraphs(
    scheduler: BatchScheduler,
    paragraphs: Sequence[str],
    settings: GenerationSettings,
    max_points: int,
) -> SummaryResult:
    """Summarize English paragraphs; text longer than the window is summarized chunk by chunk,
    then the joined partial summaries are summarized again, until one pass fits."""
    memo = EncodingMemo(scheduler.engine)  # each text tokenized once, whatever measures it
    chunks = encoded_chunks([p for p in paragraphs if p.strip()], memo)
    first_chunks = len(chunks)
    partials: list[str] = []
    rounds = input_tokens = output_tokens = 0
    warnings: list[str] = []
    while True:
        rounds += 1
        generated = scheduler.run(chunks, settings)
        outputs = generated.texts
        input_tokens += generated.input_tokens
        output_tokens += generated.output_tokens
        if len(chunks) == 1:
            summary = outputs[0]
            break
        partials.extend(outputs)
        next_chunks = encoded_chunks(outputs, memo)
        if rounds >= _MAX_ROUNDS or len(next_chunks) >= len(chunks):
            # Partial summaries no longer shrink: report them all rather than drop any.
            summary = " ".join(outputs)
            warnings.append(
                f"the {len(outputs)} partial summaries did not fit one final pass; the summary "
                "is their concatenation"
            )
            break
        chunks = next_chunks

    points = extract_key_points(summary, max_points)
    if len(points) < MIN_POINTS and partials:
        # Complete from the partial summaries: they too summarize the article, section by section.
        for point in extract_key_points(" ".join(partials), MAX_POINTS * 4):
            if len(points) >= MIN_POINTS:
                break
            if point.lower() not in {p.lower() for p in points}:
                points.append(point)
    if len(points) < MIN_POINTS:
        warnings.append(
            f"the summary has {len(points)} distinct sentence(s), fewer than the {MIN_POINTS} "
            "key points asked for"
        )
    return SummaryResult(
        summary=summary,
        key_points=points,
        strategy="single" if rounds == 1 else "map_reduce",
        chunks=first_chunks,
        rounds=rounds,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        warnings=warnings,
    )
