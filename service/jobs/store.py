"""The job table's contract: `JobRecord` (one job) and the `JobStore` protocol that both
backends implement, SQLite (`sqlite_store`, one host) and Redis (`redis_store`, several);
`backends.open_store` picks one. The backends import this module, never the other way.

Every state change is conditional, so two processes never both win: a worker claims a job only
while it is `queued`, and each claim increments `runs`, which fences later writes (a worker that
lost its job, say after being declared dead, can no longer touch it).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from service.jobs.models import (
    JobDocument,
    JobError,
    JobProgress,
    WebhookAttempt,
    WebhookInfo,
)
from service.results import SummarizeResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Owner:
    """The process that holds a job or a delivery: its host, its pid and a token that tells
    it from an earlier process with the same pid (a container restarted). Stored as the text
    `host:pid:token`, the form job tables have always held."""

    host: str
    pid: int
    token: str

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.token}"

    @classmethod
    def parse(cls, text: str) -> Owner:
        """The owner stored as `text`; ValueError unless it is `host:pid:token`."""
        parts = text.rsplit(":", 2)
        if len(parts) != 3 or not parts[1].isdigit() or str(int(parts[1])) != parts[1]:
            raise ValueError(f"not an owner (host:pid:token): {text!r}")
        host, pid, token = parts
        return cls(host, int(pid), token)

    @classmethod
    def read(cls, text: str | None) -> Owner | None:
        """The owner a backend read back, None when there is none. Text this service did not
        write counts as no owner (logged): its work is taken over like an abandoned one."""
        if text is None:
            return None
        try:
            return cls.parse(text)
        except ValueError:
            log.warning("job owner %r is not host:pid:token; treated as no owner", text)
            return None

    @classmethod
    def of_this_process(cls) -> Owner:
        """A new owner for this process (a fresh token each call)."""
        return cls(socket.gethostname(), os.getpid(), uuid.uuid4().hex[:12])


def stored_owner(owner: Owner | None) -> str | None:
    """How a backend writes `owner` (None stays None)."""
    return None if owner is None else str(owner)


LeaseKind = Literal["run", "webhook"]


@dataclass(frozen=True)
class Lease:
    """Work someone holds: a running job (`run`) or a finished job whose webhook is still to
    be delivered (`webhook`), with the run number, its owner and its last heartbeat."""

    job_id: str
    kind: LeaseKind
    run: int
    owner: Owner | None
    heartbeat: float | None


class StoreUnavailableError(RuntimeError):
    """The job table cannot be reached (the Redis server is down, say)."""


def _when(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


@dataclass
class JobRecord:
    """One row of the job table, with its webhook attempts."""

    id: str
    status: str
    request_json: str
    body_hash: str
    idempotency_key: str | None
    callback_url: str | None
    request_id: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    updated_at: float
    stage: str
    progress_done: int
    progress_total: int
    runs: int
    owner: Owner | None
    heartbeat_at: float | None
    result_json: str | None
    error_json: str | None
    webhook_state: str | None
    attempts: list[WebhookAttempt] = field(default_factory=list)
    progress_paragraphs_done: int | None = None
    progress_paragraphs_total: int | None = None

    @property
    def request(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.request_json)
        return body

    def document(self, *, with_webhook: bool = True) -> JobDocument:
        """The public view of the job (webhook bodies leave the delivery log out)."""
        fraction = 1.0 if self.status == "done" else 0.0
        if self.status != "done" and self.progress_total:
            fraction = round(self.progress_done / self.progress_total, 4)
        webhook = None
        if with_webhook and self.callback_url:
            webhook = WebhookInfo(
                url=self.callback_url,
                state=self.webhook_state,
                attempts=self.attempts,
            )
        return JobDocument(
            id=self.id,
            status=self.status,
            progress=JobProgress(
                stage=self.stage,
                done=self.progress_done,
                total=self.progress_total,
                fraction=fraction,
                **self._paragraphs(),
            ),
            created_at=datetime.fromtimestamp(self.created_at, UTC),
            started_at=_when(self.started_at),
            finished_at=_when(self.finished_at),
            updated_at=datetime.fromtimestamp(self.updated_at, UTC),
            runs=self.runs,
            request_id=self.request_id,
            result=(
                SummarizeResult.model_validate_json(self.result_json) if self.result_json else None
            ),
            error=JobError.model_validate_json(self.error_json) if self.error_json else None,
            webhook=webhook,
        )

    def _paragraphs(self) -> dict[str, int]:
        """Paragraph counts for the progress, while translating only."""
        if self.stage != "translating" or self.progress_paragraphs_total is None:
            return {}
        return {
            "paragraphs_done": self.progress_paragraphs_done or 0,
            "paragraphs_total": self.progress_paragraphs_total,
        }


Paragraphs = tuple[int, int]
"""(paragraphs translated from the start, paragraphs in all) of a job's progress."""


class JobStore(Protocol):
    """The job table: jobs, their idempotency keys and their webhook attempts."""

    def close(self) -> None: ...

    def create(
        self,
        job_id: str,
        request: dict[str, Any],
        body_hash: str,
        idempotency_key: str | None,
        callback_url: str | None,
        request_id: str,
    ) -> tuple[JobRecord, bool]:
        """Insert a queued job; with a key already used, the existing job and False."""
        ...

    def delete(self, job_id: str) -> None:
        """Remove a job that could not be queued at all (its submitter got an error)."""
        ...

    def get(self, job_id: str) -> JobRecord | None: ...

    def get_by_key(self, idempotency_key: str) -> JobRecord | None: ...

    def ids(self, status: str, created_before: float | None = None) -> list[str]:
        """Ids of jobs in `status` created before `created_before`, oldest first."""
        ...

    def claim(self, job_id: str, owner: Owner) -> int | None:
        """Mark a queued job running for `owner`; its run number, or None if not queued."""
        ...

    def progress(
        self,
        job_id: str,
        run: int,
        stage: str,
        done: int,
        total: int,
        paragraphs: Paragraphs | None = None,
    ) -> bool: ...

    def finish(
        self,
        job_id: str,
        run: int,
        *,
        result_json: str | None = None,
        error_json: str | None = None,
    ) -> bool:
        """Record the outcome of run `run`: done with a result, or failed with an error."""
        ...

    def requeue(self, job_id: str, run: int) -> bool:
        """Put run `run` of a running job back in the queue (its worker stopped or died)."""
        ...

    def cancel(self, job_id: str) -> tuple[JobRecord | None, bool]:
        """Cancel a queued job: (the job or None if unknown, whether it is now cancelled)."""
        ...

    def heartbeat(self, job_ids: Iterable[str]) -> None: ...

    def leases(self) -> list[Lease]:
        """Every running job ('run') and every finished job whose webhook is still to be
        delivered ('webhook')."""
        ...

    def take_webhook(self, job_id: str, owner: Owner, seen: Lease) -> bool:
        """Take over a pending delivery for `owner` if its lease is still as `seen` (the same
        owner and heartbeat)."""
        ...

    def record_attempt(
        self,
        job_id: str,
        status_code: int | None,
        error: str | None,
        duration_ms: float,
        at: float,
    ) -> None: ...

    def webhook_finished(self, job_id: str, delivered: bool) -> None: ...

    def purge(self, finished_before: float) -> int:
        """Delete finished jobs (and their idempotency keys and attempts) that finished before
        `finished_before`, except those whose webhook is still pending; how many."""
        ...

    def counts(self) -> dict[str, int]:
        """Jobs per status (statuses with no job may be left out); read by GET /metrics."""
        ...
