"""The worker's side of a job: claim it, run the article service (result cache, pipeline) with
progress, record the outcome, then hand the webhook to the dispatcher. Called by the queue with
nothing but the job id; no web code."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from service.articles import ResultCache, SummaryRequest, summarize_article
from service.errors import DepecheError, OverloadedError
from service.jobs.models import JobError, JobErrorBody
from service.jobs.store import JobStore, Owner
from service.pipeline import Pipeline
from service.results import SummarizeResult
from service.scheduler import Progress
from service.stream import EventSink, ParagraphEvent, ProgressEvent

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.5
"""Progress is written to the job table at most this often (and at the end of translation)."""
OVERLOADED_WAIT_S = 2.0
OVERLOADED_TRIES = 30
"""A job that meets full model queues (429 for a request) waits and tries again, up to a
minute, rather than failing: nobody is waiting on the line for it."""


def summarize_request(
    pipeline: Pipeline,
    body: dict[str, Any],
    progress: Progress | None,
    results: ResultCache | None = None,
    emit: EventSink | None = None,
) -> SummarizeResult:
    """Do what POST /summarize does with a job's stored body (`SummaryRequest.to_body`; the
    job's own fields are ignored), through `results` when given; `emit` hears the stream's
    events."""
    request = SummaryRequest.from_body(body)
    cache = results if results is not None else ResultCache(0)
    result, _ = summarize_article(pipeline, cache, request, progress=progress, emit=emit)
    return result


class _Throttled:
    """Writes the progress to the table at most every PROGRESS_EVERY_S seconds (and once the
    translation is done): sentences (done, total) as the scheduler reports them, paragraphs
    as the translation stage sends them (`paragraph`, an EventSink)."""

    def __init__(self, store: JobStore, job_id: str, run: int, paragraphs: int = 0) -> None:
        self.store, self.job_id, self.run = store, job_id, run
        self._last = 0.0
        self._lock = threading.Lock()
        self._sentences = (0, 0)
        self._paragraphs = (0, paragraphs)

    def __call__(self, done: int, total: int) -> None:
        with self._lock:
            self._sentences = (done, total)
            self._write(force=done >= total)

    def paragraph(self, event: ProgressEvent) -> None:
        if isinstance(event, ParagraphEvent):
            with self._lock:
                self._paragraphs = (event.index + 1, self._paragraphs[1])
                self._write(force=False)

    def _write(self, *, force: bool) -> None:
        now = time.monotonic()
        done, total = self._sentences
        if not force and (total == 0 or now - self._last < PROGRESS_EVERY_S):
            return
        self._last = now
        stage = "summarizing" if done >= total else "translating"
        paragraphs = self._paragraphs if self._paragraphs[1] else None
        self.store.progress(self.job_id, self.run, stage, done, total, paragraphs)


class JobRunner:
    """Runs one job at a time per calling thread; `active` holds the ids this process works
    on, so that a keeper thread can keep their leases fresh."""

    def __init__(
        self,
        store: JobStore,
        pipeline: Callable[[], Pipeline | None],
        owner: Owner,
        on_finished: Callable[[str], None],
        on_failed: Callable[[str], None] | None = None,
        results: ResultCache | None = None,
    ) -> None:
        self.store = store
        # The /summarize result cache when the API runs the job, so both answer alike.
        self.results = results if results is not None else ResultCache(0)
        self.pipeline = pipeline
        self.owner = owner
        self.on_finished = on_finished
        self.on_failed = on_failed  # called with the error code of a job that failed (metrics)
        self.active: dict[str, int] = {}
        self._lock = threading.Lock()

    def run(self, job_id: str) -> None:
        pipeline = self.pipeline()
        if pipeline is None:  # the consumer starts only once models are loaded
            raise RuntimeError("job worker started before the models were loaded")
        run = self.store.claim(job_id, self.owner)
        if run is None:
            log.info("job %s is not queued any more (cancelled or taken); skipped", job_id)
            return
        with self._lock:
            self.active[job_id] = run
        log.info("job %s started (run %d)", job_id, run)
        record = self.store.get(job_id)
        assert record is not None
        result_json: str | None = None
        error: JobErrorBody | None = None
        try:
            paragraphs = len(SummaryRequest.from_body(record.request).article.blocks)
            progress = _Throttled(self.store, job_id, run, paragraphs)
            result = self._summarize(pipeline, record.request, progress)
            result_json = result.model_dump_json()
        except DepecheError as exc:
            error = JobErrorBody(code=exc.code, message=exc.message, request_id=record.request_id)
        except Exception as exc:
            log.exception("job %s failed", job_id)
            error = JobErrorBody(
                code="internal_error",
                message=f"The job failed unexpectedly ({type(exc).__name__}); quote request id "
                f"{record.request_id} when reporting it.",
                request_id=record.request_id,
            )
        finally:
            with self._lock:
                self.active.pop(job_id, None)
        error_json = JobError(error=error).model_dump_json() if error else None
        if not self.store.finish(job_id, run, result_json=result_json, error_json=error_json):
            log.warning("job %s run %d finished after losing its lease; dropped", job_id, run)
            return
        log.info("job %s %s", job_id, "failed" if error else "done")
        if error is not None and self.on_failed is not None:
            self.on_failed(error.code)
        if record.callback_url:
            self.on_finished(job_id)

    def _summarize(
        self, pipeline: Pipeline, body: dict[str, Any], progress: _Throttled
    ) -> SummarizeResult:
        for _ in range(OVERLOADED_TRIES - 1):
            try:
                return summarize_request(pipeline, body, progress, self.results, progress.paragraph)
            except OverloadedError:
                time.sleep(OVERLOADED_WAIT_S)
        return summarize_request(pipeline, body, progress, self.results, progress.paragraph)

    def running(self) -> dict[str, int]:
        """Job id -> run number of the jobs running in this process now."""
        with self._lock:
            return dict(self.active)
