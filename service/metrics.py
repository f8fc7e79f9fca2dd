"""Prometheus metrics: one registry per app, its families, and what the domain code reports.

No web code here: the pipeline, the schedulers and the job system call the plain methods of a
`Metrics` object handed to them; the API layer serves `exposition()` at GET /metrics. Values
that already live somewhere (queue depths, the job table's counts, the loaded models) are read
at scrape time by a custom collector rather than mirrored into gauges that could go stale.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, get_args

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from service.errors import DepecheError
from service.jobs.models import JobStatus
from service.results import Meta, ModelUsed

log = logging.getLogger(__name__)


class _Queue(Protocol):
    @property
    def queued(self) -> int: ...


class Served(Protocol):
    """What the gauges read of the loaded pipeline (`service.pipeline.Pipeline`), named here so
    that the metrics, which the pipeline reports to, do not import it back."""

    @property
    def translation_scheduler(self) -> _Queue: ...

    @property
    def summary_scheduler(self) -> _Queue: ...

    def models(self) -> Sequence[ModelUsed]: ...


CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The media type of `exposition()`: the Prometheus text format 0.0.4 that every Prometheus
version reads (what `generate_latest` writes)."""

# No `*_created` series beside every counter and histogram: they double the exposition and
# Prometheus does not use them in the text format (process-wide, and nothing else here uses them).
disable_created_metrics()  # type: ignore[no-untyped-call]

STAGES = ("segment", "translate", "summarize", "total")
MODELS = ("translation", "summary")
DIRECTIONS = ("input", "output")
JOB_STATUSES: tuple[str, ...] = get_args(JobStatus)
WEBHOOK_OUTCOMES = ("delivered", "failed", "interrupted", "error")
"""`delivered`: a 2xx answer; `failed`: attempts used up or target refused; `interrupted`: the
service stopped mid-delivery (it resumes after the restart); `error`: a bug in the sender."""

OTHER = "other"
"""The reason (or route) label of anything outside the fixed set, so labels stay bounded."""

FAILURE_REASONS = (
    "overloaded",
    "models_not_ready",
    "inference_failed",
    "internal_error",
    "jobs_unavailable",
    "unauthorized",
    "invalid_api_key",
    "text_too_long",
    "payload_too_large",
    "too_many_articles",
    "empty_text",
    "malformed_json",
    "missing_field",
    "invalid_request",
    "unknown_field",
    "conflicting_fields",
    "unsupported_language",
    "callback_not_allowed",
    "idempotency_conflict",
    "job_not_found",
    "job_not_cancellable",
    "bad_request",
    "not_found",
    "method_not_allowed",
    "unsupported_media_type",
)
"""Error codes counted under their own name; the codes of every `DepecheError` subclass count
too (so a code added later is not lost in `other`). Any other code counts as `other`."""

_ALWAYS_SHOWN = ("overloaded", "models_not_ready", "inference_failed", "internal_error")
"""Reasons exported at 0 from the start, so that `rate()` and alerts work before the first."""

# Article stages and requests take from milliseconds (a cache hit) to minutes (a 100,000-character
# article on a CPU).
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def _subclasses(cls: type[DepecheError]) -> Iterable[type[DepecheError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def failure_reason(code: str) -> str:
    """The `reason` label of an error code: the code itself when it is one the service defines,
    else `other` (an envelope's code is always the service's own, but a label must never grow
    with what clients send)."""
    if code in FAILURE_REASONS or code in {sub.code for sub in _subclasses(DepecheError)}:
        return code
    return OTHER


JobCounts = Callable[[], Mapping[str, int] | None]
"""Jobs per status from the job store, or None when the store is not open."""


class Metrics:
    """The families of one app, in a registry of its own (create_app may run many times in one
    process, as in the tests, and a global registry would refuse the second set of names)."""

    def __init__(
        self,
        pipeline: Callable[[], Served | None] = lambda: None,
        job_counts: JobCounts = lambda: None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "depeche_requests_total",
            "HTTP requests answered, by route template and status class (2xx, 4xx, 5xx).",
            ["route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "depeche_request_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            buckets=SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "depeche_stage_seconds",
            "Time per pipeline stage of each article processed (cache hits not included).",
            ["stage"],
            buckets=SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "depeche_batch_size",
            "Texts (sentences or summary chunks) per model call, by model.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "depeche_tokens_total",
            "Tokens read (input) and written (output) by each model.",
            ["model", "direction"],
            registry=self.registry,
        )
        self.failures = Counter(
            "depeche_failures_total",
            "Requests and jobs that ended in an error, by error code (the /ready probe's "
            "503 not included).",
            ["reason"],
            registry=self.registry,
        )
        self.webhooks = Counter(
            "depeche_webhook_deliveries_total",
            "Webhook deliveries that ended, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        # Zero series from the start: a family with no sample cannot be graphed or alerted on.
        for stage in STAGES:
            self.stage_seconds.labels(stage)
        for model in MODELS:
            self.batch_size.labels(model)
            for direction in DIRECTIONS:
                self.tokens.labels(model, direction)
        for reason in _ALWAYS_SHOWN:
            self.failures.labels(reason)
        for outcome in WEBHOOK_OUTCOMES:
            self.webhooks.labels(outcome)
        self.registry.register(_LiveValues(pipeline, job_counts))
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes and the like

    def exposition(self) -> bytes:
        """Every family in the Prometheus text format."""
        return generate_latest(self.registry)

    # -- what the API layer reports -----------------------------------------------------------

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, f"{status // 100}xx").inc()
        self.request_seconds.labels(route).observe(seconds)

    def observe_failure(self, code: str) -> None:
        self.failures.labels(failure_reason(code)).inc()

    # -- what the domain code reports ---------------------------------------------------------

    def observe_article(self, meta: Meta) -> None:
        """One article processed by the pipeline: its stage timings and token counts, read off
        the Meta the pipeline returns (so the metrics and the response never disagree)."""
        timings, tokens = meta.timings_ms, meta.tokens
        translated = any(model.task == "translation" for model in meta.models)
        summarized = meta.strategy is not None
        ran = {"segment": True, "translate": translated, "summarize": summarized, "total": True}
        for stage, ms in timings.model_dump().items():
            if ran.get(stage):
                self.stage_seconds.labels(stage).observe(ms / 1000)
        if translated:
            self.tokens.labels("translation", "input").inc(tokens.translation_input)
            self.tokens.labels("translation", "output").inc(tokens.translation_output)
        if summarized:
            self.tokens.labels("summary", "input").inc(tokens.summary_input)
            self.tokens.labels("summary", "output").inc(tokens.summary_output)

    def observe_batch(self, model: str, size: int) -> None:
        """One model call of a scheduler, with `size` texts."""
        self.batch_size.labels(model if model in MODELS else OTHER).observe(size)

    def observe_webhook(self, outcome: str) -> None:
        self.webhooks.labels(outcome if outcome in WEBHOOK_OUTCOMES else OTHER).inc()


class _LiveValues:
    """Gauges read at scrape time from what holds them: the schedulers' queues, the loaded
    models and the job store."""

    def __init__(self, pipeline: Callable[[], Served | None], job_counts: JobCounts) -> None:
        self._pipeline = pipeline
        self._job_counts = job_counts

    def collect(self) -> Iterable[Metric]:
        pipeline = self._pipeline()
        ready = GaugeMetricFamily(
            "depeche_models_loaded", "1 once both models are loaded, else 0 (see also /ready)."
        )
        ready.add_metric([], 1 if pipeline is not None else 0)
        yield ready
        depth = GaugeMetricFamily(
            "depeche_queue_depth",
            "Texts (sentences or summary chunks) waiting in a model's scheduler.",
            labels=["model"],
        )
        info = GaugeMetricFamily(
            "depeche_model_info",
            "The models loaded: hub id, revision and engine; always 1.",
            labels=["task", "id", "revision", "engine"],
        )
        if pipeline is not None:
            for model, scheduler in (
                ("translation", pipeline.translation_scheduler),
                ("summary", pipeline.summary_scheduler),
            ):
                depth.add_metric([model], scheduler.queued)
            for used in pipeline.models():
                info.add_metric([used.task, used.id, used.revision, used.engine], 1)
        yield depth
        yield info
        jobs = GaugeMetricFamily(
            "depeche_jobs",
            "Jobs in the job store by status (the store is shared: every replica on one "
            "store reports the same numbers).",
            labels=["status"],
        )
        try:
            counts = self._job_counts()
        except Exception as exc:  # a scrape must not fail because Redis is down
            log.warning("job counts unavailable for /metrics: %s", exc)
            counts = None
        if counts is not None:
            for status in JOB_STATUSES:
                jobs.add_metric([status], counts.get(status, 0))
        yield jobs
