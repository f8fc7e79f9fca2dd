"""The queue: huey, carrying nothing but job ids.

`SqliteHuey` in the jobs database by default (one host, nothing else to run); `RedisHuey` when
several worker processes share one queue. The consumer runs as threads inside the calling
process (the service, or `python -m service worker`), without huey's signal handlers: the
process that embeds it decides when it stops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from huey import RedisHuey, SqliteHuey
from huey.api import Huey
from huey.consumer import Consumer

from service.config import Settings

log = logging.getLogger(__name__)

IDLE_POLL_MAX_S = 0.5
"""Longest pause between two looks at an empty SQLite queue (Redis blocks instead)."""


def make_huey(settings: Settings) -> Huey:
    """The huey instance of the configured backend (its storage is opened lazily)."""
    if settings.jobs_backend == "redis":
        return RedisHuey(settings.redis_prefix, url=settings.redis_url, results=False, utc=True)
    settings.jobs_db.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(
        "depeche", filename=str(settings.jobs_db), results=False, utc=True, timeout=10
    )


class _EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """huey's consumer, minus the signal handlers it installs for its own process."""

    def _set_signal_handlers(self) -> None:
        pass


class JobQueue:
    """Enqueue job ids; run a consumer whose workers call `execute(job_id)`."""

    def __init__(self, settings: Settings, execute: Callable[[str], None]) -> None:
        self.huey = make_huey(settings)

        def run_job(job_id: str) -> None:
            execute(job_id)

        self._task: Any = self.huey.task(name="run_job")(run_job)
        self._consumer: Consumer | None = None

    def enqueue(self, job_id: str) -> None:
        self.huey.enqueue(self._task.s(job_id))

    def pending_ids(self) -> set[str]:
        """Job ids waiting in the queue now."""
        return {str(task.args[0]) for task in self.huey.pending() if task.args}

    def start(self, workers: int, shutdown_timeout: float) -> None:
        """Start `workers` worker threads (and huey's scheduler thread)."""
        self._consumer = _EmbeddedConsumer(
            self.huey,
            workers=workers,
            worker_type="thread",
            periodic=False,
            initial_delay=0.05,
            backoff=1.5,
            max_delay=IDLE_POLL_MAX_S,
            check_worker_health=True,
            shutdown_timeout=shutdown_timeout,
        )
        self._consumer.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop taking tasks; wait up to `timeout` (default: the start's shutdown_timeout)
        for the running ones."""
        if self._consumer is not None:
            if timeout is not None:
                self._consumer.shutdown_timeout = timeout
            self._consumer.stop(graceful=True)
            self._consumer = None

    def close(self) -> None:
        self.huey.storage.close()
