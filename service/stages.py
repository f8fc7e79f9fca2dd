"""The pipeline's stages, each a function that returns a small report: segment, translate (the
paragraph cache, glossary protection and `keep_terms` included), check the translation,
summarize and ground; `build_meta` makes the response's `meta` once from those reports.

The translation stage can stream: it sends each part (headline and standfirst as one `head`
event, then every paragraph) as soon as it and every part before it are translated, glossary
terms restored. No web code."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from service.article import ArticleInput, source_language
from service.cache import ParagraphCache, ParagraphReuse
from service.engines.base import GenerationSettings, ModelInfo
from service.glossary.matching import term_index
from service.glossary.protect import ProtectedSentence, protect_sentences, restore
from service.glossary.terms import request_terms
from service.grounding.checks import check_translation, translation_warning
from service.grounding.policy import GroundedSummary, Unsupported, ground_summary
from service.grounding.sentences import build_sentences
from service.results import (
    ArticleSentence,
    CacheUse,
    Coverage,
    GlossaryUse,
    Meta,
    ModelUsed,
    Timings,
    TokenCounts,
    TranslatedBlock,
    Translation,
    TranslationCheck,
)
from service.scheduler import BatchScheduler, OutputSink, Progress
from service.stream import EventSink, HeadEvent, ParagraphEvent, ProgressEvent
from service.summarize import MapPass, SummaryResult, summarize_paragraphs
from service.text.html import BlockKind, render_html
from service.text.segment import SegmentedArticle, segment_parts
from service.translate import SentenceTranslation, keep_terms, translate_sentences


def ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


# --- segment -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segmented:
    """The article cut into sentences, the language it is treated as, and what the input
    itself warns of."""

    article: ArticleInput
    segmented: SegmentedArticle
    language: str
    warnings: list[str]
    ms: float

    @property
    def sentences(self) -> list[str]:
        return self.segmented.all_sentences()


def segment(article: ArticleInput) -> Segmented:
    started = time.perf_counter()
    choice = source_language(article)
    segmented = segment_parts(
        [block.text for block in article.blocks],
        article.title,
        article.standfirst,
        article.captions,
        choice.language,
    )
    return Segmented(
        article=article,
        segmented=segmented,
        language=choice.language,
        warnings=[*article.input_warnings(), *choice.warnings],
        ms=ms_since(started),
    )


# --- translate ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Translated:
    """One English sentence per source sentence, and what the translation stage reports."""

    english: list[str]
    coverage: Coverage
    tokens: TokenCounts
    warnings: list[str]
    ms: float
    skipped: bool = False  # English input: the translator never saw it
    reuse: ParagraphReuse | None = None  # None when skipped
    glossary: list[GlossaryUse] = field(default_factory=list)


@dataclass(frozen=True)
class Translator:
    """What the translation stage runs on: the model's scheduler, its settings and the
    paragraph cache."""

    scheduler: BatchScheduler
    settings: GenerationSettings
    cache: ParagraphCache

    @property
    def info(self) -> ModelInfo:
        return self.scheduler.engine.info

    def run(
        self,
        todo: Sequence[str],
        progress: Progress | None = None,
        on_output: OutputSink | None = None,
        lead: int = 0,
    ) -> SentenceTranslation:
        return translate_sentences(self.scheduler, todo, self.settings, progress, on_output, lead)

    def as_written(self, sentences: list[str]) -> SentenceTranslation:
        """Sentences whose placeholders the model lost, translated again with no protection.
        They go through the paragraph cache as one-sentence parts: a sentence's own
        translation does not depend on any glossary."""
        result, _ = self.cache.translate_parts(
            [[sentence] for sentence in sentences],
            self.info,
            self.settings,
            lambda todo, sink, _lead: self.run(todo, on_output=sink),
        )
        return result


def protected_article(article: ArticleInput, sentences: Sequence[str]) -> list[ProtectedSentence]:
    """Every sentence with its glossary terms, do_not_translate terms, URLs, e-mail addresses,
    @handles and #hashtags replaced by placeholders (see `service.glossary.protect`)."""
    index = term_index(request_terms(article.glossary, article.do_not_translate))
    return protect_sentences(sentences, index)


def _shifted(progress: Progress | None, offset: int) -> Progress | None:
    """`progress` with `offset` sentences done from the start (those reused from the cache)."""
    if progress is None:
        return None
    report = progress
    return lambda done, total: report(done + offset, total + offset)


def translate(
    seg: Segmented,
    translator: Translator,
    progress: Progress | None = None,
    emit: EventSink | None = None,
) -> Translated:
    """Translate every sentence (English input passes through), paragraphs from the cache
    reused, glossary terms kept; `emit` hears each part as soon as it and all before it are
    done."""
    sentences = seg.sentences
    if seg.language == "en":
        if progress is not None:
            progress(len(sentences), len(sentences))  # nothing left to translate
        if emit is not None:
            PartStream(seg, None, emit).finish(sentences)
        return _passed_through(seg)
    started = time.perf_counter()
    # Terms are protected before the paragraph cache sees the sentences: its key is the text
    # the model gets, placeholders included, and it keeps the model's output with the
    # placeholders, so no glossary's English can reach another request.
    plan = protected_article(seg.article, sentences)
    stream = PartStream(seg, plan, emit) if emit is not None else None
    raw, reuse = _translate_parts(plan, seg.segmented.parts(), translator, progress, stream)
    kept = keep_terms(plan, raw, translator.as_written)
    result = kept.translation
    if stream is not None:
        stream.finish(result.sentences)
    return Translated(
        english=result.sentences,
        coverage=Coverage(
            sentences=len(sentences),
            translated=sum(1 for s in result.sentences if s.strip()),
            split=result.split_sentences,
        ),
        tokens=TokenCounts(
            translation_input=result.input_tokens, translation_output=result.output_tokens
        ),
        warnings=kept.warnings,
        ms=ms_since(started),
        reuse=reuse,
        glossary=kept.glossary,
    )


def _passed_through(seg: Segmented) -> Translated:
    warnings = ["input is English: translation skipped"]
    if seg.article.glossary or seg.article.do_not_translate:
        warnings.append(
            "glossary and do_not_translate were not applied: the input is English, so "
            "translation was skipped"
        )
    sentences = seg.sentences
    return Translated(
        english=sentences,
        coverage=Coverage(sentences=len(sentences), translated=0),
        tokens=TokenCounts(),
        warnings=warnings,
        ms=0.0,
        skipped=True,
    )


def _translate_parts(
    plan: Sequence[ProtectedSentence],
    source_parts: Sequence[Sequence[str]],
    translator: Translator,
    progress: Progress | None,
    stream: PartStream | None,
) -> tuple[SentenceTranslation, ParagraphReuse]:
    """The model's output for every protected sentence (placeholders still in), through the
    paragraph cache: cached parts reused, the others translated in one call and cached. Each
    output goes to `stream` as it lands (cached ones at once)."""
    texts = iter(item.text for item in plan)
    parts = [[next(texts) for _ in part] for part in source_parts]

    def run(todo: list[str], sink: OutputSink | None, lead: int) -> SentenceTranslation:
        # Sentences reused from the cache count as done from the start.
        shifted = _shifted(progress, len(plan) - len(todo))
        return translator.run(todo, shifted, on_output=sink, lead=lead)

    raw, reuse = translator.cache.translate_parts(
        parts,
        translator.info,
        translator.settings,
        run,
        stream.landed if stream is not None else None,
        # A stream's first event needs the head and the first paragraph: they lead.
        stream.heads + 1 if stream is not None else 0,
    )
    if progress is not None and not reuse.translated:
        progress(len(plan), len(plan))  # every paragraph came from the cache
    return raw, reuse


class PartStream:
    """Sends the head and each paragraph once all its sentences, and those of every part before
    it, are in: `landed` takes the model's raw output of one sentence (from any thread) and
    restores its glossary terms; a sentence whose placeholders did not survive waits for
    `finish`, which gets the final English of every sentence after `keep_terms`."""

    def __init__(
        self, seg: Segmented, plan: Sequence[ProtectedSentence] | None, emit: EventSink
    ) -> None:
        self.emit = emit
        self.segmented = seg.segmented
        self.sources = seg.sentences
        article = seg.article
        self.plan = plan  # None for English input: nothing to restore
        self.kinds: list[BlockKind] | None = (
            [block.kind for block in article.blocks] if article.html is not None else None
        )
        # (name, first sentence, end) per part, in all_sentences order.
        names: list[str | int] = []
        if self.segmented.title is not None:
            names.append("title")
        if self.segmented.standfirst is not None:
            names.append("standfirst")
        names.extend(range(len(self.segmented.paragraphs)))
        self.heads = len(names) - len(self.segmented.paragraphs)
        self.parts: list[tuple[str | int, int, int]] = []
        start = 0
        for name, part in zip(names, self.segmented.parts(), strict=False):
            self.parts.append((name, start, start + len(part)))
            start += len(part)
        self.english: list[str | None] = [None] * self.segmented.sentence_count
        self.next = 0
        self._lock = threading.Lock()

    def landed(self, index: int, raw: str) -> None:
        plan = self.plan
        text = restore(plan[index], raw) if plan is not None and plan[index].protected else raw
        if text is None:
            return  # translated again as written, after the first pass (`finish`)
        with self._lock:
            self.english[index] = text
            self._flush()

    def finish(self, english: Sequence[str]) -> None:
        with self._lock:
            self.english = list(english)
            self._flush()

    def _flush(self) -> None:
        while self.next < len(self.parts):
            _, start, end = self.parts[self.next]
            if any(text is None for text in self.english[start:end]):
                return
            self.next += 1
            if self.next == self.heads:
                self.emit(self._head())
            elif self.next > self.heads:
                self.emit(self._paragraph(self.next - self.heads - 1))

    def _sentences(self, name: str | int, start: int, end: int) -> list[ArticleSentence]:
        return [
            ArticleSentence(
                id=i, paragraph=name, source=self.sources[i], text=self.english[i] or ""
            )
            for i in range(start, end)
        ]

    def _text(self, start: int, end: int) -> str:
        return " ".join(text or "" for text in self.english[start:end])

    def _head(self) -> HeadEvent:
        fields: dict[str, str | None] = {"title": None, "standfirst": None}
        sentences: list[ArticleSentence] = []
        for name, start, end in self.parts[: self.heads]:
            fields[str(name)] = self._text(start, end)
            sentences.extend(self._sentences(name, start, end))
        return HeadEvent(
            title=fields["title"], standfirst=fields["standfirst"], sentences=sentences
        )

    def _paragraph(self, index: int) -> ParagraphEvent:
        name, start, end = self.parts[self.heads + index]
        return ParagraphEvent(
            index=index,
            text=self._text(start, end),
            kind=self.kinds[index] if self.kinds is not None else None,
            sentences=self._sentences(name, start, end),
        )


# --- check and build the translation -----------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """The English article, its numbered sentences and the number checks."""

    translation: Translation
    checks: list[TranslationCheck]
    summary_input: list[str]  # what the summarizer reads: body paragraphs, captions left out
    warnings: list[str]
    ms: float


def check(seg: Segmented, done: Translated) -> Checked:
    article = seg.article
    parts = seg.segmented.regroup(done.english)
    started = time.perf_counter()
    numbered = build_sentences(seg.segmented, done.english)
    checks = check_translation(numbered, french=not done.skipped)
    warning = translation_warning(checks)
    ms = ms_since(started)
    english_blocks = [
        replace(block, text=text)
        for block, text in zip(article.blocks, parts.paragraphs, strict=True)
    ]
    head = [part for part in (parts.title, parts.standfirst) if part]
    translation = Translation(
        title=parts.title,
        standfirst=parts.standfirst,
        captions=parts.captions,
        paragraphs=parts.paragraphs,
        text="\n\n".join(head + parts.paragraphs),
        blocks=[TranslatedBlock(kind=b.kind, text=b.text) for b in english_blocks]
        if article.html is not None
        else None,
        html=render_html(english_blocks) if article.format == "html" else None,
        sentences=numbered,
    )
    body = [block.text for block in english_blocks if block.kind != "figcaption"]
    return Checked(
        translation=translation,
        checks=checks,
        summary_input=body or parts.paragraphs,
        warnings=[warning] if warning is not None else [],
        ms=ms,
    )


# --- summarize and ground ----------------------------------------------------------------------


@dataclass(frozen=True)
class Summarized:
    summary: SummaryResult
    grounded: GroundedSummary
    summarize_ms: float
    ground_ms: float


class EarlySummary:
    """The summary's map pass, started while the translation runs: `hear` takes the stream's
    events (from any thread) and hands each body paragraph to a planning thread of its own,
    which feeds an eager `MapPass`, so each chunk goes to the summary model as soon as its
    last paragraph is translated. Not the translation's worker threads: a summary engine may
    hold its lock for a whole generate, and the translation must not wait on it."""

    def __init__(self, scheduler: BatchScheduler, settings: GenerationSettings) -> None:
        self.map_pass = MapPass(scheduler, settings, eager=True)
        self._inbox: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._plan, name="summary-planner", daemon=True)
        self._thread.start()

    def hear(self, event: ProgressEvent) -> None:
        if isinstance(event, ParagraphEvent) and event.kind != "figcaption":
            self._inbox.put(event.text)

    def stop(self) -> None:
        """Let the planning thread finish what it was given, and end it (idempotent)."""
        if not self._stopped:
            self._stopped = True
            self._inbox.put(None)
            self._thread.join()

    def started(self) -> MapPass:
        """The map pass as planned so far, for `summarize_paragraphs` to finish; raises what
        planning raised (a full summary queue: OverloadedError)."""
        self.stop()
        if self._error is not None:
            raise self._error
        return self.map_pass

    def _plan(self) -> None:
        while (paragraph := self._inbox.get()) is not None:
            if self._error is not None:
                continue  # the request fails when the summary starts; drain until stopped
            try:
                self.map_pass.add(paragraph)
            except BaseException as exc:  # raised in the request's own thread, by `started`
                self._error = exc


def listening(emit: EventSink | None, early: EarlySummary | None) -> EventSink | None:
    """`emit`, with `early` hearing every event first (either may be None)."""
    if early is None:
        return emit
    if emit is None:
        return early.hear
    send = emit

    def both(event: ProgressEvent) -> None:
        early.hear(event)
        send(event)

    return both


def summarize(
    checked: Checked,
    done: Translated,
    scheduler: BatchScheduler,
    settings: GenerationSettings,
    max_points: int,
    unsupported: Unsupported,
    early: EarlySummary | None = None,
) -> Summarized:
    """Summarize the body and ground the key points; `early` holds the map pass already
    started during the translation, if any."""
    started = time.perf_counter()
    summary = summarize_paragraphs(
        scheduler,
        checked.summary_input,
        settings,
        max_points,
        early.started() if early is not None else None,
    )
    summarize_ms = ms_since(started)
    started = time.perf_counter()
    grounded = ground_summary(
        summary.key_points, checked.translation.sentences, unsupported, french=not done.skipped
    )
    return Summarized(summary, grounded, summarize_ms, ms_since(started))


# --- meta --------------------------------------------------------------------------------------


def build_meta(
    *,
    models: list[ModelUsed],
    device: str,
    seg: Segmented,
    done: Translated,
    checked: Checked,
    summarized: Summarized | None,
    load_warnings: Sequence[str],
    started: float,
) -> Meta:
    """`meta` from the stages' reports, once; `started` is when the request began (total)."""
    coverage = done.coverage
    if done.skipped:  # "translation skipped" first, then the input's own warnings
        warnings = [*done.warnings[:1], *seg.warnings, *done.warnings[1:]]
    else:
        warnings = [*seg.warnings, *done.warnings]
    warnings.extend(checked.warnings)
    if not done.skipped and coverage.translated < coverage.sentences:
        missing = coverage.sentences - coverage.translated
        warnings.append(f"{missing} sentence(s) came back empty from the translation model")
    if coverage.split:
        warnings.append(
            f"{coverage.split} sentence(s) exceeded the translation window and were "
            "translated in pieces"
        )
    tokens = done.tokens.model_copy()
    timings = Timings(segment=seg.ms, translate=done.ms, ground=checked.ms)
    strategy = None
    chunks = 0
    if summarized is not None:
        summary = summarized.summary
        warnings.extend([*summary.warnings, *summarized.grounded.warnings])
        timings.ground += summarized.ground_ms
        timings.summarize = summarized.summarize_ms
        tokens.summary_input = summary.input_tokens
        tokens.summary_output = summary.output_tokens
        strategy = summary.strategy
        chunks = summary.chunks
    warnings.extend(load_warnings)
    if done.skipped:
        models = [m for m in models if m.task != "translation"]
    timings.total = ms_since(started)
    return Meta(
        models=models,
        device=device,
        timings_ms=timings,
        coverage=coverage,
        tokens=tokens,
        strategy=strategy,
        chunks=chunks,
        source_lang=seg.language,
        warnings=warnings,
        cache=CacheUse(
            paragraphs_reused=done.reuse.reused, paragraphs_translated=done.reuse.translated
        )
        if done.reuse is not None
        else None,
        glossary=done.glossary,
    )
