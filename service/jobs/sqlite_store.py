"""The job table in one SQLite file (WAL), shared by the API and the workers of one host.

Every state change is one conditional UPDATE, so two processes never both win: a worker claims
a job only while it is `queued`, and each claim increments `runs`, which fences later writes
(a worker that lost its job, say after being declared dead, can no longer touch it).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.jobs.models import WebhookAttempt
from service.jobs.store import JobRecord, Lease, Owner, Paragraphs, stored_owner
from service.sqlite import connect

_SCHEMA = """
create table if not exists jobs (
    id text primary key,
    status text not null,
    request_json text not null,
    body_hash text not null,
    idempotency_key text unique,
    callback_url text,
    request_id text not null,
    created_at real not null,
    started_at real,
    finished_at real,
    updated_at real not null,
    stage text not null default 'queued',
    progress_done integer not null default 0,
    progress_total integer not null default 0,
    runs integer not null default 0,
    owner text,
    heartbeat_at real,
    result_json text,
    error_json text,
    webhook_state text,
    progress_paragraphs_done integer,
    progress_paragraphs_total integer
);
create index if not exists jobs_status on jobs (status);
create table if not exists webhook_attempts (
    job_id text not null references jobs (id),
    attempt integer not null,
    at real not null,
    status_code integer,
    error text,
    duration_ms real not null,
    primary key (job_id, attempt)
);
"""


class SqliteJobStore:
    """The job table in `path` (created with its folder if needed), safe across threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = connect(path)
        self._db.row_factory = sqlite3.Row
        self._db.execute("pragma synchronous=normal")
        self._db.executescript(_SCHEMA)
        columns = {row["name"] for row in self._db.execute("pragma table_info(jobs)")}
        for column in ("progress_paragraphs_done", "progress_paragraphs_total"):
            if column not in columns:  # a jobs file of an earlier version
                self._db.execute(f"alter table jobs add column {column} integer")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes SQLite's write lock at once."""
        with self._lock:
            self._db.execute("begin immediate")
            try:
                yield self._db
            except BaseException:
                self._db.execute("rollback")
                raise
            self._db.execute("commit")

    def _update(self, sql: str, params: Iterable[Any]) -> int:
        with self._lock:
            return self._db.execute(sql, tuple(params)).rowcount

    # -- submission and reading ------------------------------------------------------------

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
        now = time.time()
        with self._write() as db:
            if idempotency_key is not None:
                row = db.execute(
                    "select id from jobs where idempotency_key = ?", (idempotency_key,)
                ).fetchone()
                if row is not None:
                    existing = self._get(row["id"])
                    assert existing is not None
                    return existing, False
            db.execute(
                "insert into jobs (id, status, request_json, body_hash, idempotency_key,"
                " callback_url, request_id, created_at, updated_at)"
                " values (?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    json.dumps(request, ensure_ascii=False),
                    body_hash,
                    idempotency_key,
                    callback_url,
                    request_id,
                    now,
                    now,
                ),
            )
            record = self._get(job_id)
        assert record is not None
        return record, True

    def delete(self, job_id: str) -> None:
        """Remove a job that could not be queued at all (its submitter got an error)."""
        self._update("delete from jobs where id = ? and status = 'queued'", (job_id,))

    def _get(self, job_id: str) -> JobRecord | None:
        row = self._db.execute("select * from jobs where id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        attempts = [
            WebhookAttempt(
                attempt=a["attempt"],
                at=datetime.fromtimestamp(a["at"], UTC),
                status_code=a["status_code"],
                error=a["error"],
                duration_ms=a["duration_ms"],
            )
            for a in self._db.execute(
                "select * from webhook_attempts where job_id = ? order by attempt", (job_id,)
            )
        ]
        values = dict(row)
        values["owner"] = Owner.read(values["owner"])
        return JobRecord(**values, attempts=attempts)

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            return self._get(job_id)

    def get_by_key(self, idempotency_key: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute(
                "select id from jobs where idempotency_key = ?", (idempotency_key,)
            ).fetchone()
            return None if row is None else self._get(row["id"])

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("select status, count(*) from jobs group by status").fetchall()
        return {str(row[0]): int(row[1]) for row in rows}

    def ids(self, status: str, created_before: float | None = None) -> list[str]:
        """Ids of jobs in `status`, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "select id from jobs where status = ? and created_at < ? order by created_at",
                (status, created_before if created_before is not None else float("inf")),
            ).fetchall()
        return [row["id"] for row in rows]

    # -- a worker's run --------------------------------------------------------------------

    def claim(self, job_id: str, owner: Owner) -> int | None:
        """Mark a queued job running for `owner`; its run number, or None if not queued."""
        now = time.time()
        with self._lock:
            row = self._db.execute(
                "update jobs set status = 'running', stage = 'translating', runs = runs + 1,"
                " owner = ?, heartbeat_at = ?, started_at = ?, updated_at = ?,"
                " progress_done = 0, progress_total = 0,"
                " progress_paragraphs_done = null, progress_paragraphs_total = null"
                " where id = ? and status = 'queued' returning runs",
                (str(owner), now, now, now, job_id),
            ).fetchone()
        return None if row is None else int(row["runs"])

    def progress(
        self,
        job_id: str,
        run: int,
        stage: str,
        done: int,
        total: int,
        paragraphs: Paragraphs | None = None,
    ) -> bool:
        now = time.time()
        p_done, p_total = paragraphs if paragraphs is not None else (None, None)
        return bool(
            self._update(
                "update jobs set stage = ?, progress_done = ?, progress_total = ?,"
                " progress_paragraphs_done = ?, progress_paragraphs_total = ?,"
                " heartbeat_at = ?, updated_at = ?"
                " where id = ? and runs = ? and status = 'running'",
                (stage, done, total, p_done, p_total, now, now, job_id, run),
            )
        )

    def finish(
        self,
        job_id: str,
        run: int,
        *,
        result_json: str | None = None,
        error_json: str | None = None,
    ) -> bool:
        """Record the outcome of run `run`: done with a result, or failed with an error."""
        now = time.time()
        status = "done" if error_json is None else "failed"
        return bool(
            self._update(
                "update jobs set status = ?, stage = 'done', result_json = ?, error_json = ?,"
                " finished_at = ?, updated_at = ?, heartbeat_at = ?,"
                " webhook_state = case when callback_url is null then null else 'pending' end"
                " where id = ? and runs = ? and status = 'running'",
                (status, result_json, error_json, now, now, now, job_id, run),
            )
        )

    def requeue(self, job_id: str, run: int) -> bool:
        """Put run `run` of a running job back in the queue (its worker stopped or died)."""
        now = time.time()
        return bool(
            self._update(
                "update jobs set status = 'queued', stage = 'queued', owner = null,"
                " heartbeat_at = null, progress_done = 0, progress_total = 0,"
                " progress_paragraphs_done = null, progress_paragraphs_total = null, updated_at = ?"
                " where id = ? and runs = ? and status = 'running'",
                (now, job_id, run),
            )
        )

    def cancel(self, job_id: str) -> tuple[JobRecord | None, bool]:
        """Cancel a queued job: (the job or None if unknown, whether it is now cancelled)."""
        now = time.time()
        with self._write() as db:
            db.execute(
                "update jobs set status = 'cancelled', finished_at = ?, updated_at = ?"
                " where id = ? and status = 'queued'",
                (now, now, job_id),
            )
            record = self._get(job_id)
        return record, record is not None and record.status == "cancelled"

    def heartbeat(self, job_ids: Iterable[str]) -> None:
        ids = list(job_ids)
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        self._update(f"update jobs set heartbeat_at = ? where id in ({marks})", [time.time(), *ids])

    def leases(self) -> list[Lease]:
        """Every running job ('run') and every finished job whose webhook is still to be
        delivered ('webhook')."""
        with self._lock:
            rows = self._db.execute(
                "select id, case when status = 'running' then 'run' else 'webhook' end as what,"
                " runs, owner, heartbeat_at from jobs"
                " where status = 'running' or webhook_state = 'pending'"
            ).fetchall()
        return [
            Lease(r["id"], r["what"], r["runs"], Owner.read(r["owner"]), r["heartbeat_at"])
            for r in rows
        ]

    # -- webhooks --------------------------------------------------------------------------

    def take_webhook(self, job_id: str, owner: Owner, seen: Lease) -> bool:
        """Take over a pending delivery whose lease is still as `seen` (owner, heartbeat)."""
        return bool(
            self._update(
                "update jobs set owner = ?, heartbeat_at = ?"
                " where id = ? and webhook_state = 'pending' and owner is ? and heartbeat_at is ?",
                (str(owner), time.time(), job_id, stored_owner(seen.owner), seen.heartbeat),
            )
        )

    def record_attempt(
        self,
        job_id: str,
        status_code: int | None,
        error: str | None,
        duration_ms: float,
        at: float,
    ) -> None:
        with self._write() as db:
            row = db.execute(
                "select coalesce(max(attempt), 0) + 1 as n from webhook_attempts where job_id = ?",
                (job_id,),
            ).fetchone()
            db.execute(
                "insert into webhook_attempts (job_id, attempt, at, status_code, error,"
                " duration_ms) values (?, ?, ?, ?, ?, ?)",
                (job_id, row["n"], at, status_code, error, duration_ms),
            )
            db.execute(
                "update jobs set updated_at = ?, heartbeat_at = ? where id = ?",
                (time.time(), time.time(), job_id),
            )

    def webhook_finished(self, job_id: str, delivered: bool) -> None:
        self._update(
            "update jobs set webhook_state = ?, updated_at = ?"
            " where id = ? and webhook_state = 'pending'",
            ("delivered" if delivered else "failed", time.time(), job_id),
        )

    def purge(self, finished_before: float) -> int:
        """Delete finished jobs (with their keys and attempts) finished before the cutoff,
        except those whose webhook is still pending; how many."""
        where = (
            "status in ('done', 'failed', 'cancelled') and finished_at < ?"
            " and (webhook_state is null or webhook_state != 'pending')"
        )
        with self._write() as db:
            db.execute(
                f"delete from webhook_attempts where job_id in (select id from jobs where {where})",
                (finished_before,),
            )
            return db.execute(f"delete from jobs where {where}", (finished_before,)).rowcount
