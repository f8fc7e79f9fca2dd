"""Translating sentences: cut to the window, length-sorted token-budget batches, back in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from service.engines.base import GenerationSettings, Seq2SeqEngine
from service.text.chunking import split_to_fit

Progress = Callable[[int, int], None]
"""Called with (units done, units in all) as work advances."""


@dataclass(frozen=True)
class SentenceTranslation:
    """Translated sentences in input order, and what it took."""

    sentences: list[str]
    split_sentences: int
    """How many source sentences were longer than the window and translated in pieces."""
    batches: int
    input_tokens: int
    output_tokens: int


def plan_batches(sizes: Sequence[int], budget: int) -> list[list[int]]:
    """Group item indices into batches, longest first, so that padded size stays within budget.

    A batch's cost is its item count times its longest item; an item larger than the budget
    gets a batch of its own.
    """
    order = sorted(range(len(sizes)), key=lambda i: sizes[i], reverse=True)
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = sizes[current[0]] if current else sizes[index]
        if current and (len(current) + 1) * longest > budget:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def translate_sentences(
    engine: Seq2SeqEngine,
    sentences: Sequence[str],
    settings: GenerationSettings,
    batch_tokens: int,
    progress: Progress | None = None,
) -> SentenceTranslation:
    """Translate each sentence exactly once and return the translations in the input order."""
    window = engine.max_input_tokens
    pieces: list[str] = []
    owner: list[int] = []
    split_count = 0
    for index, (sentence, size) in enumerate(
        zip(sentences, engine.count_tokens(sentences), strict=True)
    ):
        parts = (
            [sentence] if size <= window else split_to_fit(sentence, engine.count_tokens, window)
        )
        split_count += len(parts) > 1
        pieces.extend(parts)
        owner.extend([index] * len(parts))

    sizes = engine.count_tokens(pieces)
    outputs: list[str | None] = [None] * len(pieces)
    batches = plan_batches(sizes, batch_tokens)
    input_tokens = output_tokens = done = 0
    for batch in batches:
        generated = engine.generate([pieces[i] for i in batch], settings)
        for i, text in zip(batch, generated.texts, strict=True):
            outputs[i] = text
        input_tokens += generated.input_tokens
        output_tokens += generated.output_tokens
        done += len(batch)
        if progress is not None:
            progress(done, len(pieces))

    joined: list[list[str]] = [[] for _ in sentences]
    for index, output in zip(owner, outputs, strict=True):
        if output is None:  # every piece belongs to exactly one batch; this would be a bug
            raise RuntimeError("a sentence piece was left untranslated")
        joined[index].append(output)
    return SentenceTranslation(
        sentences=[" ".join(part for part in parts if part) for parts in joined],
        split_sentences=split_count,
        batches=len(batches),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )
