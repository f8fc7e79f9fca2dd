"""The job system of one process: submission, the embedded consumer, leases, recovery and
webhook dispatch. Used by the API (`service.api.jobs`) and by `python -m service worker`.

Recovery: every process that runs jobs keeps the leases of its work fresh (a heartbeat) and
looks for work whose owner is gone: a running job, or a finished job whose webhook is still
pending. An owner on this host whose process no longer exists is gone at once; any other owner
once its heartbeat is older than DEPECHE_JOBS_STALE_S. A gone owner's running job goes back
in the queue; its pending webhook is delivered by the process that noticed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from service.articles import ResultCache
from service.config import Settings
from service.errors import (
    CallbackNotAllowedError,
    IdempotencyConflictError,
    JobNotCancellableError,
    JobNotFoundError,
    JobsUnavailableError,
)
from service.jobs.backends import open_store
from service.jobs.queue import JobQueue
from service.jobs.runner import JobRunner
from service.jobs.store import JobRecord, JobStore, Lease, Owner, StoreUnavailableError
from service.jobs.webhooks import (
    AllowList,
    DeliveryStoppedError,
    Resolver,
    WebhookConfig,
    WebhookSender,
    check_submitted,
    resolve,
)
from service.pipeline import Pipeline

if TYPE_CHECKING:
    from service.metrics import Metrics

log = logging.getLogger(__name__)

THREAD_JOIN_S = 2.0
"""How long stopping waits for the starter and keeper threads (they watch the stop flag)."""
QUEUED_GRACE_S = 5.0
"""A queued job older than this with no task in the queue is enqueued again."""
SWEEP_EVERY_S = 60.0
"""How often a worker process looks for lost queued jobs and deletes expired ones."""


def body_hash(body: dict[str, Any]) -> str:
    """Fingerprint of a request body, for Idempotency-Key checks (key order does not count)."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _owner_is_gone(owner: Owner | None, me: Owner) -> bool | None:
    """True if `owner` is a process of this host that is gone, False if it is alive or is us,
    None when this host cannot tell (another host): then the heartbeat decides."""
    if owner is None:
        return True
    if owner.host != me.host:
        return None
    if owner.pid == me.pid:
        return owner.token != me.token  # our pid, an earlier process (a container restarted)
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return None
    return None  # a live pid may have been reused: let the heartbeat tell


@contextmanager
def _reachable() -> Iterator[None]:
    """Turn an unreachable job table into the API's 503 `jobs_unavailable`."""
    try:
        yield
    except StoreUnavailableError as exc:
        raise JobsUnavailableError(f"The job store is unreachable: {exc}; retry later.") from exc


class JobSystem:
    """Owns the store, the queue and the threads that run, watch and report jobs."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Callable[[], Pipeline | None],
        *,
        resolver: Resolver = resolve,
        metrics: Metrics | None = None,
        results: ResultCache | None = None,
    ) -> None:
        self.settings = settings
        # Jobs answer from the result cache of /summarize (the API's; a worker has its own).
        self.results = results if results is not None else ResultCache(settings.cache_size)
        self.metrics = metrics  # failed jobs and webhook outcomes; None in worker processes
        self.pipeline = pipeline
        self.resolver = resolver
        self.owner = Owner.of_this_process()
        self.allow = AllowList.parse(settings.webhook_allow, public=settings.webhook_allow_public)
        self.store: JobStore | None = None
        self.queue: JobQueue | None = None
        self.runner: JobRunner | None = None
        self.error: str | None = None
        self._draining = threading.Event()  # stopping: take no new work (jobs, takeovers)
        self._stop = threading.Event()  # stopped: the helper threads end
        self._threads: list[threading.Thread] = []
        self._delivering: set[str] = set()
        self._delivering_lock = threading.Lock()
        self._webhooks = ThreadPoolExecutor(max_workers=2, thread_name_prefix="webhook")
        self._started_workers = False
        self._stopping = threading.Lock()  # held for the whole of stop(); a second caller waits
        self._stopped = False
        self._stopper: threading.Thread | None = None
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
        self._webhook_config = WebhookConfig(
            secret=secret,
            allow=self.allow,
            max_attempts=settings.webhook_max_attempts,
            backoff_s=settings.webhook_backoff_s,
            timeout_s=settings.webhook_timeout_s,
        )

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Open the table and the queue; on failure the API answers 503 for /jobs only."""
        try:
            self.store = open_store(self.settings)
            self.runner = JobRunner(
                self.store,
                self.pipeline,
                self.owner,
                self.dispatch_webhook,
                on_failed=self.metrics.observe_failure if self.metrics else None,
                results=self.results,
            )
            self.queue = JobQueue(self.settings, self.runner.run)
        except Exception as exc:
            self.error = f"The job store could not be opened ({type(exc).__name__}: {exc})."
            log.exception("jobs unavailable")

    def start(self, workers: int | None = None) -> None:
        """Open, then start the workers in the background as soon as the models are loaded."""
        self.open()
        workers = self.settings.jobs_workers if workers is None else workers
        if self.error is None and workers > 0:
            self._spawn(self._start_when_loaded, "jobs-starter", workers)

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _start_when_loaded(self, workers: int) -> None:
        while self.pipeline() is None:
            if self._draining.wait(0.1):
                return
        assert self.queue is not None
        with self._stopping:  # never start workers that a stop() in progress would miss
            if self._draining.is_set():
                return
            self.recover()
            self.queue.start(workers, shutdown_timeout=self.settings.shutdown_grace_s)
            self._started_workers = True
        log.info("job workers started (%d, %s queue)", workers, self.settings.jobs_backend)
        self._spawn(self._keep, "jobs-keeper")

    def stop(self, grace_s: float | None = None) -> None:
        """Stop taking jobs at once; give the running ones up to `grace_s` (default
        DEPECHE_SHUTDOWN_GRACE_S) to finish, then put those still running back in the queue
        for the next start or another worker. Their threads may run on until the process
        exits, but their runs are fenced: whatever they write afterwards is refused.

        Idempotent and safe from any thread: a second call waits for the first to end."""
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        with self._stopping:
            if self._stopped:
                return
            self._draining.set()
            if self.queue is not None and self._started_workers:
                running = len(self.runner.running()) if self.runner is not None else 0
                if running:
                    log.info("stopping: waiting up to %s s for %d running job(s)", grace, running)
                self.queue.stop(timeout=grace)
            if self.runner is not None and self.store is not None and self.queue is not None:
                for job_id, run in self.runner.running().items():
                    if self.store.requeue(job_id, run):
                        self._enqueue_quietly(job_id)
                        log.info("job %s put back in the queue at shutdown", job_id)
            self._stop.set()  # the keeper kept the leases fresh until here
            self._webhooks.shutdown(wait=False, cancel_futures=True)
            for thread in self._threads:
                thread.join(timeout=THREAD_JOIN_S)
            if self.queue is not None:
                self.queue.close()
            self._stopped = True

    def stop_in_background(self) -> None:
        """Begin `stop()` in a thread of its own and return at once: called from a signal
        handler, so that jobs drain while the HTTP server drains its requests, in the same
        grace. A later `stop()` waits for it."""
        # No lock: signal handlers run one at a time in the main thread, and stop() is
        # idempotent anyway.
        if self._stopper is not None:
            return
        self._stopper = threading.Thread(target=self.stop, name="jobs-stopper", daemon=True)
        self._stopper.start()

    def _enqueue_quietly(self, job_id: str) -> None:
        assert self.queue is not None
        try:
            self.queue.enqueue(job_id)
        except Exception:
            log.exception("job %s could not be enqueued; it is recovered at next start", job_id)

    # -- leases and recovery ---------------------------------------------------------------

    def _mine(self) -> set[str]:
        assert self.runner is not None
        with self._delivering_lock:
            return set(self.runner.running()) | self._delivering

    def _keep(self) -> None:
        interval = min(self.settings.jobs_stale_s / 3, 5.0)
        last_sweep = time.monotonic()
        while not self._stop.wait(interval):
            try:
                assert self.store is not None
                self.store.heartbeat(self._mine())
                if self._draining.is_set():  # stopping: keep our leases, take on nothing
                    continue
                self.reap()
                if time.monotonic() - last_sweep >= SWEEP_EVERY_S:
                    last_sweep = time.monotonic()
                    self.requeue_lost()
                    self.purge()
            except Exception:
                log.exception("job keeper failed; trying again")

    def purge(self) -> int:
        """Delete finished jobs older than DEPECHE_JOBS_RETENTION_S (0: keep them all)."""
        assert self.store is not None
        if not self.settings.jobs_retention_s:
            return 0
        count = self.store.purge(time.time() - self.settings.jobs_retention_s)
        if count:
            log.info("deleted %d finished job(s) past the retention period", count)
        return count

    def _gone(self, lease: Lease) -> bool:
        verdict = _owner_is_gone(lease.owner, self.owner)
        if verdict is not None:
            return verdict
        return lease.heartbeat is None or time.time() - lease.heartbeat > self.settings.jobs_stale_s

    def reap(self) -> None:
        """Take over the work of owners that are gone."""
        assert self.store is not None
        mine = self._mine()
        for lease in self.store.leases():
            job_id, owner = lease.job_id, lease.owner
            if job_id in mine or not self._gone(lease):
                continue
            if lease.kind == "run":
                if self.store.requeue(job_id, lease.run):
                    log.warning("job %s: its worker %s is gone; queued again", job_id, owner)
                    self._enqueue_quietly(job_id)
            elif self.store.take_webhook(job_id, self.owner, lease):
                log.warning("job %s: webhook left pending by %s; delivering", job_id, owner)
                self.dispatch_webhook(job_id)

    def recover(self) -> None:
        """At startup: take over gone owners' work, enqueue queued jobs the queue lost, and
        delete jobs past retention."""
        self.reap()
        self.requeue_lost()
        self.purge()

    def requeue_lost(self) -> None:
        """Enqueue jobs the table holds as queued for a while that are not in the queue (a
        crash between the two writes). A duplicate task is harmless: claims are fenced."""
        assert self.store is not None
        assert self.queue is not None
        pending = self.queue.pending_ids()
        for job_id in self.store.ids("queued", created_before=time.time() - QUEUED_GRACE_S):
            if job_id not in pending:
                log.warning("job %s was queued but not in the queue; enqueued again", job_id)
                self._enqueue_quietly(job_id)

    # -- webhooks --------------------------------------------------------------------------

    def dispatch_webhook(self, job_id: str) -> None:
        with self._delivering_lock:
            if job_id in self._delivering:
                return
            self._delivering.add(job_id)
        try:
            self._webhooks.submit(self._deliver, job_id)
        except RuntimeError:  # shutting down: the delivery stays pending for the next start
            with self._delivering_lock:
                self._delivering.discard(job_id)

    def _deliver(self, job_id: str) -> None:
        assert self.store is not None
        outcome: str | None = None
        try:
            delivered = WebhookSender(
                self.store, self._webhook_config, self._stop, self.resolver
            ).deliver(job_id)
            if delivered is not None:
                outcome = "delivered" if delivered else "failed"
        except DeliveryStoppedError:
            outcome = "interrupted"
            log.info("webhook for job %s interrupted by shutdown; resumes at next start", job_id)
        except Exception:
            outcome = "error"
            log.exception("webhook for job %s failed unexpectedly", job_id)
            self.store.webhook_finished(job_id, delivered=False)
        finally:
            if outcome is not None and self.metrics is not None:
                self.metrics.observe_webhook(outcome)
            with self._delivering_lock:
                self._delivering.discard(job_id)

    # -- the API's operations --------------------------------------------------------------

    def _ready(self) -> tuple[JobStore, JobQueue]:
        if self.store is None or self.queue is None:
            raise JobsUnavailableError(self.error or "The job system has not started.")
        return self.store, self.queue

    def submit(
        self,
        body: dict[str, Any],
        callback_url: str | None,
        idempotency_key: str | None,
        request_id: str,
    ) -> tuple[JobRecord, bool]:
        """Queue a job (the body is /summarize's); with a known key, the same job and False."""
        store, queue = self._ready()
        fingerprint = body_hash({**body, "callback_url": callback_url})
        if idempotency_key is not None:
            with _reachable():
                existing = store.get_by_key(idempotency_key)
            if existing is not None:
                return self._same(existing, fingerprint), False
        if callback_url is not None:
            if not self._webhook_config.secret:
                raise CallbackNotAllowedError(
                    "Webhooks are off: DEPECHE_WEBHOOK_SECRET is not set on the service."
                )
            check_submitted(callback_url, self.allow, self.resolver)
        job_id = uuid.uuid4().hex
        with _reachable():
            record, created = store.create(
                job_id, body, fingerprint, idempotency_key, callback_url, request_id
            )
        if not created:  # the same key won a race with us
            return self._same(record, fingerprint), False
        try:
            queue.enqueue(job_id)
        except Exception as exc:
            log.exception("job %s could not be queued", job_id)
            try:
                store.delete(job_id)
            except StoreUnavailableError:  # stays queued: requeue_lost enqueues it later
                log.warning("job %s could not be withdrawn either", job_id)
            raise JobsUnavailableError(
                f"The job queue is unavailable ({type(exc).__name__}); retry later."
            ) from exc
        log.info("job %s queued (request %s)", job_id, request_id)
        return record, True

    @staticmethod
    def _same(existing: JobRecord, fingerprint: str) -> JobRecord:
        if existing.body_hash != fingerprint:
            raise IdempotencyConflictError(
                "This Idempotency-Key was used with a different request body "
                f"(job {existing.id}); use a new key for a new article."
            )
        return existing

    def counts(self) -> dict[str, int] | None:
        """Jobs per status in the store (GET /metrics); None while the store is not open."""
        return None if self.store is None else self.store.counts()

    def get(self, job_id: str) -> JobRecord:
        store, _ = self._ready()
        with _reachable():
            record = store.get(job_id)
        if record is None:
            raise JobNotFoundError(f"There is no job {job_id}.")
        return record

    def cancel(self, job_id: str) -> JobRecord:
        """Cancel a queued job (again: no-op); a running or finished one cannot be."""
        store, _ = self._ready()
        with _reachable():
            record, cancelled = store.cancel(job_id)
        if record is None:
            raise JobNotFoundError(f"There is no job {job_id}.")
        if not cancelled:
            raise JobNotCancellableError(
                f"Job {job_id} is {record.status}; only a queued job can be cancelled."
            )
        return record
