"""Summaries of any length of English text: single pass, or map-reduce over window-sized chunks,
whose map pass may start while the paragraphs are still arriving (`MapPass`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from service.engines.base import (
    Encoded,
    EncodingMemo,
    Generated,
    GenerationSettings,
    TokenCounter,
)
from service.scheduler import BatchScheduler, Ticket, gather
from service.text.chunking import CountTokens, Packer, split_to_fit
from service.text.segment import split_sentences

Strategy = Literal["single", "map_reduce"]
MIN_POINTS = 3
MAX_POINTS = 6
_MAX_ROUNDS = 5

log = logging.getLogger(__name__)


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


def _units(paragraph: str, count: CountTokens, window: int) -> list[str]:
    """The paragraph, or its sentences cut to fit when it is longer than the window."""
    if count([paragraph])[0] <= window:
        return [paragraph]
    return [
        piece
        for sentence in split_sentences(paragraph, "en")
        for piece in split_to_fit(sentence, count, window)
    ]


def _chunk(paragraphs: Sequence[str], count: CountTokens, window: int) -> list[str]:
    packer = Packer(count, window)
    chunks = [
        c for paragraph in paragraphs for c in packer.extend(_units(paragraph, count, window))
    ]
    return chunks + packer.finish()


def chunk_paragraphs(paragraphs: Sequence[str], engine: TokenCounter) -> list[str]:
    """Pack paragraphs into window-sized chunks; cut a too-long paragraph at sentences first.

    Exact: every chunk is measured as the engine will encode it (`pack` counts the joined
    text), so none exceeds the window whatever the joins and the tokenizer add.
    """
    return _chunk(paragraphs, engine.count_tokens, engine.max_input_tokens)


class ChunkPlanner:
    """`encoded_chunks`, fed one paragraph at a time: `add` returns the chunks that paragraph
    made final, `finish` the rest; together they are `encoded_chunks` of all the paragraphs,
    chunk for chunk (see `Packer`)."""

    def __init__(self, memo: EncodingMemo) -> None:
        self.memo = memo
        self._packer = Packer(memo.count_tokens, memo.max_input_tokens)

    def add(self, paragraph: str) -> list[Encoded]:
        units = _units(paragraph, self.memo.count_tokens, self.memo.max_input_tokens)
        return self.memo.encode(self._packer.extend(units))

    def finish(self) -> list[Encoded]:
        return self.memo.encode(self._packer.finish())


def encoded_chunks(paragraphs: Sequence[str], memo: EncodingMemo) -> list[Encoded]:
    """`chunk_paragraphs`, encoded: the chunks come from `memo`, so the encoding `pack`
    measured is the one the model reads, and no text is tokenized twice."""
    planner = ChunkPlanner(memo)
    return [c for paragraph in paragraphs for c in planner.add(paragraph)] + planner.finish()


class MapPass:
    """The first pass over the text: its paragraphs, in order, packed into chunks as they come
    (`add`, from one thread at a time), then `finish` waits for every chunk's output.

    Submitted all at once by `finish`, unless `eager`: then each chunk goes to the scheduler as
    soon as it is final, while the caller is still producing paragraphs (the translation).
    Either way a text that fits one chunk is one call made by `finish`: its chunk is final only
    when a second one begins, or at the end.
    """

    def __init__(
        self, scheduler: BatchScheduler, settings: GenerationSettings, *, eager: bool = False
    ) -> None:
        self.scheduler = scheduler
        self.settings = settings
        self.eager = eager
        self.memo = EncodingMemo(scheduler.engine)  # each text tokenized once, whatever measures it
        self.paragraphs: list[str] = []
        """The paragraphs taken (blank ones are skipped)."""
        self.chunks: list[Encoded] = []
        self._planner = ChunkPlanner(self.memo)
        self._tickets: list[Ticket] = []
        self._submitted = 0

    def add(self, paragraph: str) -> None:
        if not paragraph.strip():
            return
        self.paragraphs.append(paragraph)
        self.chunks.extend(self._planner.add(paragraph))
        if self.eager:
            self._submit()

    def finish(self) -> Generated:
        self.chunks.extend(self._planner.finish())
        self._submit()
        return gather(self._tickets)

    def _submit(self) -> None:
        if self._submitted < len(self.chunks):
            self._tickets.append(
                self.scheduler.submit(self.chunks[self._submitted :], self.settings)
            )
            self._submitted = len(self.chunks)


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


@dataclass
class _Reduced:
    """What the map pass and the reduce rounds made of the text."""

    summary: str
    partials: list[str]
    rounds: int
    input_tokens: int
    output_tokens: int
    warnings: list[str]


def summarize_paragraphs(
    scheduler: BatchScheduler,
    paragraphs: Sequence[str],
    settings: GenerationSettings,
    max_points: int,
    started: MapPass | None = None,
) -> SummaryResult:
    """Summarize English paragraphs; text longer than the window is summarized chunk by chunk,
    then the joined partial summaries are summarized again, until one pass fits.

    `started` is a map pass already fed (`MapPass`, eager while the translation ran); it is
    used when it took exactly these paragraphs, else the text is planned again here."""
    body = [p for p in paragraphs if p.strip()]
    first = started
    if first is None or first.paragraphs != body:
        if first is not None:
            log.warning(
                "the early map pass saw other paragraphs than the summary's; planning again"
            )
        first = MapPass(scheduler, settings)
        for paragraph in body:
            first.add(paragraph)
    reduced = _reduce(first, first.finish())
    points, short = _key_points(reduced.summary, reduced.partials, max_points)
    return SummaryResult(
        summary=reduced.summary,
        key_points=points,
        strategy="single" if reduced.rounds == 1 else "map_reduce",
        chunks=len(first.chunks),
        rounds=reduced.rounds,
        input_tokens=reduced.input_tokens,
        output_tokens=reduced.output_tokens,
        warnings=[*reduced.warnings, *short],
    )


def _reduce(first: MapPass, generated: Generated) -> _Reduced:
    """Summarize the map pass's outputs again, joined into chunks, until one chunk is left (or
    they stop shrinking)."""
    chunks = first.chunks
    outputs = generated.texts
    reduced = _Reduced("", [], 1, generated.input_tokens, generated.output_tokens, [])
    while len(chunks) != 1:
        reduced.partials.extend(outputs)
        next_chunks = encoded_chunks(outputs, first.memo)
        if reduced.rounds >= _MAX_ROUNDS or len(next_chunks) >= len(chunks):
            # Partial summaries no longer shrink: report them all rather than drop any.
            reduced.summary = " ".join(outputs)
            reduced.warnings.append(
                f"the {len(outputs)} partial summaries did not fit one final pass; the summary "
                "is their concatenation"
            )
            return reduced
        chunks = next_chunks
        generated = first.scheduler.run(chunks, first.settings)
        outputs = generated.texts
        reduced.rounds += 1
        reduced.input_tokens += generated.input_tokens
        reduced.output_tokens += generated.output_tokens
    reduced.summary = outputs[0]
    return reduced


def _key_points(
    summary: str, partials: Sequence[str], max_points: int
) -> tuple[list[str], list[str]]:
    """The summary's key points, completed from the partial summaries when it has fewer than
    MIN_POINTS, and the warning when even that leaves too few."""
    points = extract_key_points(summary, max_points)
    if len(points) < MIN_POINTS and partials:
        # Complete from the partial summaries: they too summarize the article, section by section.
        for point in extract_key_points(" ".join(partials), MAX_POINTS * 4):
            if len(points) >= MIN_POINTS:
                break
            if point.lower() not in {p.lower() for p in points}:
                points.append(point)
    if len(points) >= MIN_POINTS:
        return points, []
    return points, [
        f"the summary has {len(points)} distinct sentence(s), fewer than the {MIN_POINTS} "
        "key points asked for"
    ]
