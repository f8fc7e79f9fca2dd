"""Translating sentences: cut to the model's window, run through its scheduler, back in order."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from service.engines.base import Encoded, EncodingMemo, GenerationSettings
from service.glossary.protect import ProtectedSentence, report, restore
from service.results import GlossaryUse
from service.scheduler import BatchScheduler, OutputSink, Progress
from service.text.chunking import split_to_fit


@dataclass(frozen=True)
class SentenceTranslation:
    """Translated sentences in input order, and what it took."""

    sentences: list[str]
    split_sentences: int
    """How many source sentences were longer than the window and translated in pieces."""
    input_tokens: int
    output_tokens: int


def translate_sentences(
    scheduler: BatchScheduler,
    sentences: Sequence[str],
    settings: GenerationSettings,
    progress: Progress | None = None,
    on_output: OutputSink | None = None,
    lead: int = 0,
) -> SentenceTranslation:
    """Translate each sentence exactly once and return the translations in the input order.

    A sentence longer than the model's window is cut at clause, then word boundaries; its
    pieces are translated and joined again, so nothing is truncated. `on_output` hears
    (sentence index, its translation) as each sentence's last piece lands (from a scheduler
    worker thread, in any order). The first `lead` sentences (a stream's head and first
    paragraph) go to the scheduler as its lead: first, in a batch of their own.

    Each sentence is tokenized once, and the scheduler and the model reuse that encoding; only
    an over-long sentence is measured again while it is cut, and its pieces are encoded once.
    """
    engine = scheduler.engine
    window = engine.max_input_tokens
    pieces: list[Encoded] = []
    owner: list[int] = []
    split_count = 0
    for index, item in enumerate(engine.encode(sentences)):
        if item.size <= window:
            pieces.append(item)
            owner.append(index)
            continue
        # The pieces split_to_fit measures are the ones encoded, and the sentence is known.
        memo = EncodingMemo(engine, [item])
        parts = memo.encode(split_to_fit(item.text, memo.count_tokens, window))
        split_count += len(parts) > 1
        pieces.extend(parts)
        owner.extend([index] * len(parts))

    sink = _joined_sink(owner, on_output) if on_output is not None else None
    lead_pieces = sum(1 for index in owner if index < lead)
    generated = scheduler.run(pieces, settings, progress, sink, lead_pieces)
    joined: list[list[str]] = [[] for _ in sentences]
    for index, output in zip(owner, generated.texts, strict=True):
        joined[index].append(output)
    return SentenceTranslation(
        sentences=[" ".join(part for part in parts if part) for parts in joined],
        split_sentences=split_count,
        input_tokens=generated.input_tokens,
        output_tokens=generated.output_tokens,
    )


def _joined_sink(owner: Sequence[int], on_output: OutputSink) -> OutputSink:
    """A scheduler sink over pieces that calls `on_output` once per sentence, its pieces joined
    as `translate_sentences` joins them."""
    pieces: dict[int, dict[int, str]] = {}
    counts: dict[int, int] = {}
    for sentence in owner:
        counts[sentence] = counts.get(sentence, 0) + 1
    lock = threading.Lock()

    def landed(piece: int, text: str) -> None:
        sentence = owner[piece]
        with lock:
            got = pieces.setdefault(sentence, {})
            got[piece] = text
            if len(got) < counts[sentence]:
                return
            del pieces[sentence]
        on_output(sentence, " ".join(got[i] for i in sorted(got) if got[i]))

    return landed


@dataclass(frozen=True)
class TermsKept:
    """A translation with its glossary terms put back, and what `meta.glossary` reports."""

    translation: SentenceTranslation
    glossary: list[GlossaryUse]
    warnings: list[str]
    retranslated: int
    """Sentences whose placeholders did not survive, translated again without protection."""


def keep_terms(
    plan: Sequence[ProtectedSentence],
    raw: SentenceTranslation,
    retranslate: Callable[[list[str]], SentenceTranslation],
) -> TermsKept:
    """Put each term's English in place of its placeholder in the model's output of the
    protected sentences (`plan`, in order). A sentence whose output lost, changed or repeated
    a placeholder is translated again as the article wrote it (`retranslate`), so its meaning
    stays whole; the report then says which terms its English lacks."""
    sentences: list[str | None] = [
        restore(item, output) if item.protected else output
        for item, output in zip(plan, raw.sentences, strict=True)
    ]
    failed = [i for i, text in enumerate(sentences) if text is None]
    again = (
        retranslate([plan[i].source for i in failed])
        if failed
        else SentenceTranslation(sentences=[], split_sentences=0, input_tokens=0, output_tokens=0)
    )
    for i, text in zip(failed, again.sentences, strict=True):
        sentences[i] = text
    english = [text or "" for text in sentences]
    uses, warnings = report(plan, english)
    return TermsKept(
        translation=SentenceTranslation(
            sentences=english,
            split_sentences=raw.split_sentences,
            input_tokens=raw.input_tokens + again.input_tokens,
            output_tokens=raw.output_tokens + again.output_tokens,
        ),
        glossary=uses,
        warnings=warnings,
        retranslated=len(failed),
    )
