"""The job table: idempotency keys, fenced claims, requeues and webhook leases."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from service.jobs.store import JobStore
from service.jobs.system import _owner_is_gone, body_hash

BODY = {"text": "Bonjour.", "title": None, "options": {"max_points": None}}


def test_an_idempotency_key_maps_to_one_job(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "sub" / "jobs.sqlite3")
    _, created = store.create("a", BODY, "h1", "key", None, "r1")
    assert created
    again, created = store.create("b", BODY, "h1", "key", None, "r2")
    assert not created
    assert again.id == "a"
    assert store.get_by_key("key") is not None
    assert store.get("b") is None


def test_claims_are_fenced_by_the_run_number(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.create("a", BODY, "h", None, "http://127.0.0.1/h", "r")
    assert store.claim("a", "w1") == 1
    assert store.claim("a", "w2") is None, "a running job cannot be claimed again"
    assert store.requeue("a", 1)
    assert store.claim("a", "w2") == 2
    # The first worker comes back late: its writes no longer count.
    assert not store.progress("a", 1, "translating", 3, 10)
    assert not store.finish("a", 1, result_json=None, error_json='{"error": {}}')
    assert store.progress("a", 2, "translating", 3, 10)
    record = store.get("a")
    assert record is not None
    assert (record.status, record.runs, record.progress_done) == ("running", 2, 3)
    assert store.leases() == [("a", "run", 2, "w2", record.heartbeat_at)]


def test_a_finished_job_with_a_callback_leases_its_webhook(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.create("a", BODY, "h", None, "http://127.0.0.1/h", "r")
    run = store.claim("a", "w1")
    assert run is not None
    assert store.finish(
        "a", run, error_json='{"error": {"code": "x", "message": "m", "request_id": "r"}}'
    )
    (lease,) = store.leases()
    assert lease[:4] == ("a", "webhook", 1, "w1")
    assert not store.take_webhook("a", "w2", "someone-else", lease[4])
    assert store.take_webhook("a", "w2", "w1", lease[4])
    store.record_attempt("a", 500, None, 12.5, 1.0)
    store.record_attempt("a", None, "ConnectError", 3.0, 2.0)
    store.webhook_finished("a", delivered=False)
    record = store.get("a")
    assert record is not None
    assert record.webhook_state == "failed"
    assert [(a.attempt, a.status_code, a.error) for a in record.attempts] == [
        (1, 500, None),
        (2, None, "ConnectError"),
    ]
    assert store.leases() == []


def test_only_queued_jobs_can_be_cancelled(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.create("a", BODY, "h", None, None, "r")
    store.create("b", BODY, "h", None, None, "r")
    assert store.claim("b", "w") == 1
    assert store.cancel("a")[1]
    assert not store.cancel("b")[1]
    assert store.cancel("zzz") == (None, False)
    assert store.claim("a", "w") is None, "a cancelled job never runs"


def test_owners_on_this_host_are_judged_by_their_process() -> None:
    host = socket.gethostname()
    me = f"{host}:{os.getpid()}:mytoken"
    assert _owner_is_gone(me, me) is False
    assert _owner_is_gone(f"{host}:{os.getpid()}:earlier", me) is True  # same pid, new process
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert _owner_is_gone(f"{host}:{finished.stdout.strip()}:t", me) is True
    assert _owner_is_gone(f"{host}:1:t", me) is None  # alive: the heartbeat decides
    assert _owner_is_gone("elsewhere:123:t", me) is None
    assert _owner_is_gone(None, me) is True


def test_body_hash_ignores_key_order() -> None:
    assert body_hash({"a": 1, "b": [1, 2]}) == body_hash({"b": [1, 2], "a": 1})
    assert body_hash({"a": 1}) != body_hash({"a": 2})
