"""The job table, on both backends (SQLite, and Redis when redis-server is installed):
idempotency keys, fenced claims, requeues, webhook leases and retention."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.jobs.sqlite_store import SqliteJobStore
from service.jobs.store import JobStore, Lease, Owner
from service.jobs.system import _owner_is_gone, body_hash

BODY = {"text": "Bonjour.", "title": None, "options": {"max_points": None}}
ERROR = '{"error": {"code": "x", "message": "m", "request_id": "r"}}'
W1 = Owner("host-1", 101, "w1")
W2 = Owner("host-2", 202, "w2")
W = Owner("host", 1, "w")


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    opened: JobStore
    if request.param == "sqlite":
        opened = SqliteJobStore(tmp_path / "sub" / "jobs.sqlite3")
    else:
        from service.jobs.redis_store import RedisJobStore

        opened = RedisJobStore(
            request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
        )
    yield opened
    opened.close()


def test_an_idempotency_key_maps_to_one_job(store: JobStore) -> None:
    _, created = store.create("a", BODY, "h1", "key", None, "r1")
    assert created
    again, created = store.create("b", BODY, "h1", "key", None, "r2")
    assert not created
    assert again.id == "a"
    assert store.get_by_key("key") is not None
    assert store.get("b") is None


def test_claims_are_fenced_by_the_run_number(store: JobStore) -> None:
    store.create("a", BODY, "h", None, "http://127.0.0.1/h", "r")
    assert store.claim("a", W1) == 1
    assert store.claim("a", W2) is None, "a running job cannot be claimed again"
    assert store.requeue("a", 1)
    assert store.claim("a", W2) == 2
    # The first worker comes back late: its writes no longer count.
    assert not store.progress("a", 1, "translating", 3, 10)
    assert not store.finish("a", 1, result_json=None, error_json='{"error": {}}')
    assert store.progress("a", 2, "translating", 3, 10)
    record = store.get("a")
    assert record is not None
    assert (record.status, record.runs, record.progress_done) == ("running", 2, 3)
    assert record.owner == W2
    assert store.leases() == [Lease("a", "run", 2, W2, record.heartbeat_at)]


def test_a_finished_job_with_a_callback_leases_its_webhook(store: JobStore) -> None:
    store.create("a", BODY, "h", None, "http://127.0.0.1/h", "r")
    run = store.claim("a", W1)
    assert run is not None
    assert store.finish("a", run, error_json=ERROR)
    (lease,) = store.leases()
    assert (lease.job_id, lease.kind, lease.run, lease.owner) == ("a", "webhook", 1, W1)
    someone_else = Owner("host-3", 303, "other")
    assert not store.take_webhook("a", W2, Lease("a", "webhook", 1, someone_else, lease.heartbeat))
    assert store.take_webhook("a", W2, lease)
    (taken,) = store.leases()
    assert taken.owner == W2
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


def test_only_queued_jobs_can_be_cancelled(store: JobStore) -> None:
    store.create("a", BODY, "h", None, None, "r")
    store.create("b", BODY, "h", None, None, "r")
    assert store.claim("b", W) == 1
    assert store.cancel("a")[1]
    assert not store.cancel("b")[1]
    assert store.cancel("zzz") == (None, False)
    assert store.claim("a", W) is None, "a cancelled job never runs"


def test_a_job_reads_back_as_written(store: JobStore) -> None:
    record, _ = store.create("a", BODY, "h", "k", "http://127.0.0.1/h", "r")
    assert (record.status, record.stage, record.runs, record.request) == (
        "queued",
        "queued",
        0,
        BODY,
    )
    assert (record.callback_url, record.idempotency_key, record.request_id) == (
        "http://127.0.0.1/h",
        "k",
        "r",
    )
    assert record.started_at is None
    assert record.finished_at is None
    assert abs(record.created_at - time.time()) < 5
    assert store.ids("queued") == ["a"]
    assert store.ids("queued", created_before=record.created_at) == []
    run = store.claim("a", W)
    assert run == 1
    assert store.ids("queued") == []
    assert store.ids("running") == ["a"]
    assert store.finish("a", run, result_json='{"x": 1}')
    done = store.get("a")
    assert done is not None
    assert (done.status, done.result_json, done.error_json, done.webhook_state) == (
        "done",
        '{"x": 1}',
        None,
        "pending",
    )
    assert store.ids("done") == ["a"]


def test_a_job_that_could_not_be_queued_is_deleted_with_its_key(store: JobStore) -> None:
    store.create("a", BODY, "h", "key", None, "r")
    store.delete("a")
    assert store.get("a") is None
    assert store.get_by_key("key") is None
    _, created = store.create("b", BODY, "h", "key", None, "r")
    assert created, "the key is free again"


def test_retention_deletes_old_finished_jobs_but_not_pending_webhooks(store: JobStore) -> None:
    store.create("done", BODY, "h", "k1", None, "r")
    store.create("hook", BODY, "h", "k2", "http://127.0.0.1/h", "r")
    store.create("cancelled", BODY, "h", None, None, "r")
    store.create("queued", BODY, "h", None, None, "r")
    for job_id in ("done", "hook"):
        run = store.claim(job_id, W)
        assert run is not None
        assert store.finish(job_id, run, result_json="{}")
    store.record_attempt("hook", 500, None, 1.0, time.time())
    assert store.cancel("cancelled")[1]
    assert store.purge(time.time() - 3600) == 0, "nothing is an hour old yet"

    assert store.purge(time.time() + 1) == 2
    assert store.get("done") is None
    assert store.get("cancelled") is None
    assert store.get_by_key("k1") is None, "the key goes with its job"
    assert store.create("again", BODY, "h", "k1", None, "r")[1]
    kept = store.get("hook")
    assert kept is not None, "its webhook is still pending"
    assert store.get("queued") is not None

    store.webhook_finished("hook", delivered=True)
    assert store.purge(time.time() + 1) == 1
    assert store.get("hook") is None
    assert store.get_by_key("k2") is None
    assert store.leases() == []
    store.heartbeat(["hook", "done"])
    assert store.get("hook") is None, "a heartbeat never brings a deleted job back"


def test_owners_on_this_host_are_judged_by_their_process() -> None:
    host = socket.gethostname()
    me = Owner(host, os.getpid(), "mytoken")
    assert _owner_is_gone(me, me) is False
    assert _owner_is_gone(Owner(host, os.getpid(), "earlier"), me) is True  # same pid, new one
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert _owner_is_gone(Owner(host, int(finished.stdout), "t"), me) is True
    assert _owner_is_gone(Owner(host, 1, "t"), me) is None  # alive: the heartbeat decides
    assert _owner_is_gone(Owner("elsewhere", 123, "t"), me) is None
    assert _owner_is_gone(None, me) is True


def test_an_owner_is_stored_as_host_pid_token() -> None:
    """The stored form job tables have always held, so older files and Redis data still read."""
    owner = Owner("web-1.internal", 4242, "0123abcd")
    assert str(owner) == "web-1.internal:4242:0123abcd"
    assert Owner.parse(str(owner)) == owner
    assert Owner.parse("a:b:c:12:tok") == Owner("a:b:c", 12, "tok")  # rsplit: the host keeps ':'
    for bad in ("w1", "host:pid:tok", "host:012:tok", "host:-1:tok"):
        with pytest.raises(ValueError, match="host:pid:token"):
            Owner.parse(bad)
    assert Owner.read(None) is None
    assert Owner.read("w1") is None, "text this service never writes counts as no owner"
    mine, again = Owner.of_this_process(), Owner.of_this_process()
    assert (mine.host, mine.pid) == (socket.gethostname(), os.getpid())
    assert mine.token != again.token


def test_an_owner_written_as_text_reads_back(store: JobStore) -> None:
    """A job file or Redis hash written before the owner was typed holds the same text."""
    store.create("a", BODY, "h", None, None, "r")
    assert store.claim("a", W1) == 1
    if isinstance(store, SqliteJobStore):
        store._update("update jobs set owner = ? where id = 'a'", ("old-host:7:tok",))
    else:
        store._redis.hset(f"{store.prefix}:job:a", "owner", "old-host:7:tok")  # type: ignore[attr-defined]
    record = store.get("a")
    assert record is not None
    assert record.owner == Owner("old-host", 7, "tok")
    (lease,) = store.leases()
    assert lease.owner == Owner("old-host", 7, "tok")


def test_body_hash_ignores_key_order() -> None:
    assert body_hash({"a": 1, "b": [1, 2]}) == body_hash({"b": [1, 2], "a": 1})
    assert body_hash({"a": 1}) != body_hash({"a": 2})


def test_counts_per_status(store: JobStore) -> None:
    """What GET /metrics reports as depeche_jobs{status}."""
    assert sum(store.counts().values()) == 0
    for job_id in ("a", "b", "c", "d"):
        store.create(job_id, BODY, "h", None, None, "r")
    run = store.claim("a", W1)
    assert run is not None
    assert store.finish("a", run, error_json=ERROR)
    assert store.claim("b", W1) is not None
    store.cancel("c")
    counts = {status: n for status, n in store.counts().items() if n}
    assert counts == {"failed": 1, "running": 1, "cancelled": 1, "queued": 1}
