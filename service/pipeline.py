"""The article pipeline: segment, translate, summarize; shared by API and CLI, no web code.

torch is imported only when a model runs on transformers: with both models on CTranslate2,
the process never loads it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from service import stages
from service.article import ArticleInput, validate_article
from service.cache import PARAGRAPHS_PER_RESULT, ParagraphCache
from service.config import Settings
from service.device import DeviceChoice, available_cores
from service.engines.base import GenerationSettings, ModelInfo, Seq2SeqEngine
from service.engines.registry import load_models
from service.engines.registry import requested_threads as requested_threads  # tests import it
from service.grounding.policy import Unsupported
from service.results import (
    Meta,
    ModelUsed,
    SummarizeResult,
    ThreadsUsed,
    TranslateResult,
)
from service.scheduler import BatchScheduler, Progress, ThreadBudget
from service.stream import EventSink, KeyPointsEvent

if TYPE_CHECKING:
    from service.metrics import Metrics

log = logging.getLogger(__name__)


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


def thread_budget(settings: Settings, device: DeviceChoice) -> ThreadBudget | None:
    """The threads both models' calls may use at once (`Settings.compute_threads`): on the
    CPU the setting, else the cores this process may use; None (no cap) for 0 and on CUDA."""
    if device.device != "cpu" or settings.compute_threads == 0:
        return None
    return ThreadBudget(settings.compute_threads or available_cores())


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
        # One scheduler per model: concurrent requests share its batches and its bounded queue;
        # on the CPU both share one thread budget, so that their calls fit the cores.
        self.thread_budget = thread_budget(settings, device)
        self.translation_scheduler = self._scheduler(
            translator, settings.translation_batch_tokens, settings.translation_sub_batch
        )
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

    def _scheduler(
        self, engine: Seq2SeqEngine, batch_tokens: int, sub_batch: int = 0
    ) -> BatchScheduler:
        # One worker per call the engine runs in parallel (CTranslate2's inter_threads), so that
        # up to that many batches reach it at once; engines that report no layout get one.
        threads = engine.info.threads
        return BatchScheduler(
            engine,
            batch_tokens=batch_tokens,
            wait_ms=self.settings.batch_wait_ms,
            max_queued=self.settings.max_queued_sentences,
            workers=threads.inter if threads is not None else 1,
            budget=self.thread_budget,
            sub_batch=sub_batch,
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

    def translator_stage(self) -> stages.Translator:
        return stages.Translator(
            self.translation_scheduler, self.translation_settings, self.paragraph_cache
        )

    def _translated(
        self, article: ArticleInput, progress: Progress | None, emit: EventSink | None
    ) -> tuple[stages.Segmented, stages.Translated, stages.Checked]:
        validate_article(article, self.settings.max_chars)
        seg = stages.segment(article)
        done = stages.translate(seg, self.translator_stage(), progress, emit)
        return seg, done, stages.check(seg, done)

    def _meta(
        self,
        seg: stages.Segmented,
        done: stages.Translated,
        checked: stages.Checked,
        summarized: stages.Summarized | None,
        started: float,
    ) -> Meta:
        models = self.models()
        if summarized is None:
            models = [m for m in models if m.task == "translation"]
        meta = stages.build_meta(
            models=models,
            device=self.device.label,
            seg=seg,
            done=done,
            checked=checked,
            summarized=summarized,
            load_warnings=self.load_warnings,
            started=started,
        )
        self._report(meta)
        return meta

    def translate(
        self,
        text: str | ArticleInput,
        title: str | None = None,
        progress: Progress | None = None,
        emit: EventSink | None = None,
    ) -> TranslateResult:
        """Translate a French article (plain text, or an ArticleInput with HTML, standfirst,
        captions), every sentence, paragraph for paragraph. English input is passed through.
        `emit` hears the head and each paragraph as soon as they are translated."""
        started = time.perf_counter()
        seg, done, checked = self._translated(ArticleInput.of(text, title), progress, emit)
        return TranslateResult(
            translation=checked.translation,
            translation_checks=checked.checks,
            meta=self._meta(seg, done, checked, None, started),
        )

    def summarize(
        self,
        text: str | ArticleInput,
        title: str | None = None,
        max_points: int | None = None,
        progress: Progress | None = None,
        unsupported: Unsupported = "flag",
        emit: EventSink | None = None,
    ) -> SummarizeResult:
        """Translate a French article, then condense the English body into key points, each
        grounded in the article's sentences; `unsupported` says what happens to a point whose
        facts the article does not state (flag, drop, replace). English input is summarized
        directly. `emit` hears the head and each paragraph as soon as they are translated,
        then the key points. With `summary_overlap`, a long article's summary chunks start as
        soon as their paragraphs are translated; the result is the same."""
        started = time.perf_counter()
        article = ArticleInput.of(text, title)
        # The map pass of a long article starts while it is translated (DEPECHE_SUMMARY_OVERLAP).
        early = (
            stages.EarlySummary(self.summary_scheduler, self.summary_settings)
            if self.settings.summary_overlap
            else None
        )
        try:
            seg, done, checked = self._translated(article, progress, stages.listening(emit, early))
            summarized = stages.summarize(
                checked,
                done,
                self.summary_scheduler,
                self.summary_settings,
                max_points or self.settings.default_max_points,
                unsupported,
                early,
            )
        finally:
            if early is not None:
                early.stop()
        grounded = summarized.grounded
        if emit is not None:
            emit(
                KeyPointsEvent(
                    key_points=grounded.key_points,
                    summary=summarized.summary.summary,
                    grounding=grounded.grounding,
                )
            )
        return SummarizeResult(
            translation=checked.translation,
            key_points=grounded.key_points,
            summary=summarized.summary.summary,
            grounding=grounded.grounding,
            translation_checks=checked.checks,
            meta=self._meta(seg, done, checked, summarized, started),
        )


PipelineFactory = Callable[[Settings], Pipeline]
