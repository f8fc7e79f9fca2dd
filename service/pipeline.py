"""The article pipeline: segment, translate, summarize; shared by API and CLI, no web code.

torch is imported only when a model runs on transformers: with both models on CTranslate2,
the process never loads it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from service.article import ArticleInput, source_language, validate_article
from service.cache import PARAGRAPHS_PER_RESULT, ParagraphCache, ParagraphReuse
from service.config import Settings
from service.device import DeviceChoice
from service.engines.base import GenerationSettings, ModelInfo, Seq2SeqEngine
from service.engines.registry import load_models
from service.engines.registry import requested_threads as requested_threads  # tests import it
from service.glossary.matching import term_index
from service.glossary.protect import ProtectedSentence, protect_sentences
from service.glossary.terms import request_terms
from service.grounding.checks import check_translation, translation_warning
from service.grounding.policy import Unsupported, ground_summary
from service.grounding.sentences import build_sentences
from service.results import (
    CacheUse,
    Coverage,
    GlossaryUse,
    Meta,
    ModelUsed,
    SummarizeResult,
    ThreadsUsed,
    Timings,
    TokenCounts,
    TranslatedBlock,
    TranslateResult,
    Translation,
    TranslationCheck,
)
from service.scheduler import BatchScheduler, Progress
from service.summarize import summarize_paragraphs
from service.text.html import render_html
from service.text.segment import segment_parts
from service.translate import SentenceTranslation, keep_terms, translate_sentences

if TYPE_CHECKING:
    from service.metrics import Metrics

log = logging.getLogger(__name__)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def _shifted(progress: Progress | None, offset: int) -> Progress | None:
    """`progress` with `offset` sentences done from the start (those reused from the cache)."""
    if progress is None:
        return None
    report = progress
    return lambda done, total: report(done + offset, total + offset)


@dataclass
class _TranslatedArticle:
    translation: Translation
    coverage: Coverage
    tokens: TokenCounts
    timings: Timings
    paragraphs: list[str]  # what the summarizer reads: body paragraphs, captions left out
    source_lang: str = "fr"
    skipped: bool = False  # English input: the translator never saw it
    reuse: ParagraphReuse | None = None  # None when skipped
    warnings: list[str] = field(default_factory=list)
    glossary: list[GlossaryUse] = field(default_factory=list)  # meta.glossary
    checks: list[TranslationCheck] = field(default_factory=list)  # numbers, sentence by sentence


def protected_article(article: ArticleInput, sentences: Sequence[str]) -> list[ProtectedSentence]:
    """Every sentence with its glossary terms, do_not_translate terms, URLs, e-mail addresses,
    @handles and #hashtags replaced by placeholders (see `service.glossary.protect`)."""
    index = term_index(request_terms(article.glossary, article.do_not_translate))
    return protect_sentences(sentences, index)


def _like(parts: Sequence[Sequence[str]], texts: Sequence[str]) -> list[list[str]]:
    """`texts` (one per sentence, in order) cut into the shape of `parts`."""
    items = iter(texts)
    return [[next(items) for _ in part] for part in parts]


def running_precision(device: DeviceChoice, models: Sequence[ModelInfo]) -> DeviceChoice:
    """The device with the precision its models really run in (`ModelInfo.precision`): one
    precision, or each model's when they differ. A CTranslate2 int8 service must not say
    `cpu (float32)` because float32 is the device's default. Models that do not say their
    precision (test doubles) are left out."""
    found = [(m.task, m.precision) for m in models if m.precision is not None]
    precisions = {precision for _, precision in found}
    if not found:
        return device
    if len(precisions) == 1:
        return replace(device, dtype=found[0][1])
    return replace(device, dtype=", ".join(f"{task} {precision}" for task, precision in found))


class Pipeline:
    """Both models, loaded once, and the flow from French article to English result."""

    def __init__(
        self,
        translator: Seq2SeqEngine,
        summarizer: Seq2SeqEngine,
        device: DeviceChoice,
        settings: Settings,
        load_warnings: Sequence[str] = (),
    ) -> None:
        self.translator = translator
        self.summarizer = summarizer
        self.device = running_precision(device, [translator.info, summarizer.info])
        self.settings = settings
        # One scheduler per model: concurrent requests share its batches and its bounded queue.
        self.translation_scheduler = self._scheduler(translator, settings.translation_batch_tokens)
        self.summary_scheduler = self._scheduler(summarizer, settings.summary_batch_tokens)
        self.translation_settings = GenerationSettings(
            num_beams=settings.translation_num_beams, max_length=settings.translation_max_length
        )
        self.summary_settings = GenerationSettings(
            num_beams=settings.summary_num_beams or None,  # 0: the model's own
            max_length=settings.summary_max_length,
            min_length=settings.summary_min_length,
        )
        # Translations per paragraph: an updated article re-translates only what changed.
        self.paragraph_cache = ParagraphCache(settings.cache_size * PARAGRAPHS_PER_RESULT)
        self.metrics: Metrics | None = None  # set by observe(); the CLI runs without
        # What loading did otherwise than asked (a model left on transformers because its
        # conversion failed): in /health and in every response's meta.warnings.
        self.load_warnings = tuple(load_warnings)

    def observe(self, metrics: Metrics) -> None:
        """Report articles and batches to `metrics` from now on (the app that serves this
        pipeline calls it; one pipeline reports to one Metrics, the last one given)."""
        self.metrics = metrics
        self.translation_scheduler.on_batch = metrics.observe_batch
        self.summary_scheduler.on_batch = metrics.observe_batch

    def _report(self, meta: Meta) -> None:
        """The one place an article's timings and tokens reach the metrics."""
        if self.metrics is not None:
            self.metrics.observe_article(meta)

    def _scheduler(self, engine: Seq2SeqEngine, batch_tokens: int) -> BatchScheduler:
        # One worker per call the engine runs in parallel (CTranslate2's inter_threads), so that
        # up to that many batches reach it at once; engines that report no layout get one.
        threads = engine.info.threads
        return BatchScheduler(
            engine,
            batch_tokens=batch_tokens,
            wait_ms=self.settings.batch_wait_ms,
            max_queued=self.settings.max_queued_sentences,
            workers=threads.inter if threads is not None else 1,
        )

    @classmethod
    def load(cls, settings: Settings) -> Pipeline:
        """Resolve the device and load both models (ModelLoadError, DeviceUnavailableError)."""
        # With DEPECHE_ENGINE=auto this converts a model to CTranslate2 first if it needs it.
        models = load_models(settings)
        return cls(models.translator, models.summarizer, models.device, settings, models.warnings)

    def close(self) -> None:
        """Stop the schedulers' worker threads."""
        self.translation_scheduler.close()
        self.summary_scheduler.close()

    def check(self) -> None:
        """Touch the device through each model; raises when it is unusable."""
        self.translator.check()
        self.summarizer.check()

    def models(self) -> list[ModelUsed]:
        return [
            ModelUsed(
                task=e.info.task,
                id=e.info.id,
                revision=e.info.revision,
                engine=e.info.label,
                threads=ThreadsUsed(inter=e.info.threads.inter, intra=e.info.threads.intra)
                if e.info.threads is not None
                else None,
            )
            for e in (self.translator, self.summarizer)
        ]

    def _translate_article(
        self, article: ArticleInput, progress: Progress | None
    ) -> _TranslatedArticle:
        validate_article(article, self.settings.max_chars)
        started = time.perf_counter()
        choice = source_language(article)
        blocks = article.blocks
        segmented = segment_parts(
            [block.text for block in blocks],
            article.title,
            article.standfirst,
            article.captions,
            choice.language,
        )
        segment_ms = _ms(started)
        sentences = segmented.all_sentences()
        warnings = [*article.input_warnings(), *choice.warnings]

        translate_ms = 0.0
        reuse: ParagraphReuse | None = None
        glossary: list[GlossaryUse] = []
        skipped = choice.language == "en"
        if skipped:
            # Already English: the text goes to the summarizer as it is.
            warnings.insert(0, "input is English: translation skipped")
            english = sentences
            coverage = Coverage(sentences=len(sentences), translated=0)
            tokens = TokenCounts()
            if progress is not None:
                progress(len(sentences), len(sentences))  # nothing left to translate
            if article.glossary or article.do_not_translate:
                warnings.append(
                    "glossary and do_not_translate were not applied: the input is English, so "
                    "translation was skipped"
                )
        else:
            started = time.perf_counter()
            # Terms are protected before the paragraph cache sees the sentences: its key is the
            # text the model gets, placeholders included, and it keeps the model's output with
            # the placeholders, so no glossary's English can reach another request.
            plan = protected_article(article, sentences)

            def translate_new(todo: list[str]) -> SentenceTranslation:
                reused = len(sentences) - len(todo)  # reported as done from the start
                return translate_sentences(
                    self.translation_scheduler,
                    todo,
                    self.translation_settings,
                    _shifted(progress, reused),
                )

            protected, reuse = self.paragraph_cache.translate_parts(
                _like(segmented.parts(), [item.text for item in plan]),
                self.translator.info,
                self.translation_settings,
                translate_new,
            )
            if progress is not None and not reuse.translated:
                progress(len(sentences), len(sentences))  # every paragraph came from the cache
            kept = keep_terms(plan, protected, self._translate_as_written)
            result = kept.translation
            glossary = kept.glossary
            warnings.extend(kept.warnings)
            translate_ms = _ms(started)
            english = result.sentences
            coverage = Coverage(
                sentences=len(sentences),
                translated=sum(1 for s in english if s.strip()),
                split=result.split_sentences,
            )
            tokens = TokenCounts(
                translation_input=result.input_tokens, translation_output=result.output_tokens
            )

        parts = segmented.regroup(english)
        started = time.perf_counter()
        numbered = build_sentences(segmented, english)
        checks = check_translation(numbered, french=not skipped)
        if (checks_warning := translation_warning(checks)) is not None:
            warnings.append(checks_warning)
        ground_ms = _ms(started)
        english_blocks = [
            replace(block, text=text) for block, text in zip(blocks, parts.paragraphs, strict=True)
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
        return _TranslatedArticle(
            translation=translation,
            coverage=coverage,
            tokens=tokens,
            timings=Timings(segment=segment_ms, translate=translate_ms, ground=ground_ms),
            paragraphs=body or parts.paragraphs,
            source_lang=choice.language,
            skipped=skipped,
            warnings=warnings,
            reuse=reuse,
            glossary=glossary,
            checks=checks,
        )

    def _translate_as_written(self, sentences: list[str]) -> SentenceTranslation:
        """Sentences whose placeholders the model lost, translated again with no protection.
        They go through the paragraph cache as one-sentence parts: a sentence's own
        translation does not depend on any glossary."""
        result, _ = self.paragraph_cache.translate_parts(
            [[sentence] for sentence in sentences],
            self.translator.info,
            self.translation_settings,
            lambda todo: translate_sentences(
                self.translation_scheduler, todo, self.translation_settings
            ),
        )
        return result

    def _meta(self, done: _TranslatedArticle, later_warnings: list[str]) -> Meta:
        warnings = list(done.warnings)
        if not done.skipped and done.coverage.translated < done.coverage.sentences:
            missing = done.coverage.sentences - done.coverage.translated
            warnings.append(f"{missing} sentence(s) came back empty from the translation model")
        if done.coverage.split:
            warnings.append(
                f"{done.coverage.split} sentence(s) exceeded the translation window and were "
                "translated in pieces"
            )
        warnings.extend(later_warnings)
        warnings.extend(self.load_warnings)
        models = self.models()
        if done.skipped:
            models = [m for m in models if m.task != "translation"]
        return Meta(
            models=models,
            device=self.device.label,
            timings_ms=done.timings,
            coverage=done.coverage,
            tokens=done.tokens,
            source_lang=done.source_lang,
            warnings=warnings,
            cache=CacheUse(
                paragraphs_reused=done.reuse.reused, paragraphs_translated=done.reuse.translated
            )
            if done.reuse is not None
            else None,
            glossary=done.glossary,
        )

    def translate(
        self,
        text: str | ArticleInput,
        title: str | None = None,
        progress: Progress | None = None,
    ) -> TranslateResult:
        """Translate a French article (plain text, or an ArticleInput with HTML, standfirst,
        captions), every sentence, paragraph for paragraph. English input is passed through."""
        started = time.perf_counter()
        done = self._translate_article(ArticleInput.of(text, title), progress)
        meta = self._meta(done, [])
        meta.models = [m for m in meta.models if m.task == "translation"]
        meta.timings_ms.total = _ms(started)
        self._report(meta)
        return TranslateResult(
            translation=done.translation, translation_checks=done.checks, meta=meta
        )

    def summarize(
        self,
        text: str | ArticleInput,
        title: str | None = None,
        max_points: int | None = None,
        progress: Progress | None = None,
        unsupported: Unsupported = "flag",
    ) -> SummarizeResult:
        """Translate a French article, then condense the English body into key points, each
        grounded in the article's sentences; `unsupported` says what happens to a point whose
        facts the article does not state (flag, drop, replace). English input is summarized
        directly."""
        started = time.perf_counter()
        done = self._translate_article(ArticleInput.of(text, title), progress)
        summary_started = time.perf_counter()
        summary = summarize_paragraphs(
            self.summary_scheduler,
            done.paragraphs,
            self.summary_settings,
            max_points or self.settings.default_max_points,
        )
        summarize_ms = _ms(summary_started)
        started_grounding = time.perf_counter()
        grounded = ground_summary(
            summary.key_points,
            done.translation.sentences,
            unsupported,
            french=not done.skipped,
        )
        meta = self._meta(done, [*summary.warnings, *grounded.warnings])
        meta.timings_ms.ground += _ms(started_grounding)
        meta.timings_ms.summarize = summarize_ms
        meta.timings_ms.total = _ms(started)
        meta.tokens.summary_input = summary.input_tokens
        meta.tokens.summary_output = summary.output_tokens
        meta.strategy = summary.strategy
        meta.chunks = summary.chunks
        self._report(meta)
        return SummarizeResult(
            translation=done.translation,
            key_points=grounded.key_points,
            summary=summary.summary,
            grounding=grounded.grounding,
            translation_checks=done.checks,
            meta=meta,
        )


PipelineFactory = Callable[[Settings], Pipeline]
