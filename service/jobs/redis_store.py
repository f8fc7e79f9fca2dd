"""The job table in Redis, for API replicas and workers on several machines.

Keys, under the prefix P (DEPECHE_REDIS_PREFIX):
- `P:job:<id>`: a hash with the fields of `JobRecord` (an absent field is None);
- `P:job:<id>:attempts`: the webhook attempts, a list of JSON objects, oldest first;
- `P:idem:<key>`: the job id an Idempotency-Key names;
- `P:status:<status>`: a sorted set of the job ids in that status, scored by creation time;
- `P:finished`: finished job ids scored by when they finished (for retention);
- `P:leases`: ids of running jobs and of finished jobs whose webhook is pending.

Every conditional change is one Lua script, so it is atomic on the server like the SQLite
store's conditional UPDATEs. Floats are written as `repr(float)`, which reads back exactly, so
a heartbeat seen in `leases()` compares equal in `take_webhook`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar, get_args

import redis
from redis.commands.core import Script

from service.jobs.models import JobStatus, WebhookAttempt
from service.jobs.store import JobRecord, Lease, Owner, Paragraphs, StoreUnavailableError

T = TypeVar("T")

_PRELUDE = """
local P, id = ARGV[1], ARGV[2]
local job = P .. ':job:' .. id
local function field(name)
  return redis.call('HGET', job, name)
end
local function move(from, to)
  redis.call('ZREM', P .. ':status:' .. from, id)
  redis.call('ZADD', P .. ':status:' .. to, field('created_at'), id)
end
local function is_run(run)
  return field('status') == 'running' and field('runs') == run
end
"""

_CREATE = """
local key = ARGV[3]
if key ~= '' then
  local existing = redis.call('GET', P .. ':idem:' .. key)
  if existing then return existing end
  redis.call('SET', P .. ':idem:' .. key, id)
end
redis.call('HSET', job, unpack(ARGV, 5))
redis.call('ZADD', P .. ':status:queued', ARGV[4], id)
return ''
"""

_DELETE = """
if field('status') ~= 'queued' then return 0 end
local key = field('idempotency_key')
if key and redis.call('GET', P .. ':idem:' .. key) == id then
  redis.call('DEL', P .. ':idem:' .. key)
end
redis.call('ZREM', P .. ':status:queued', id)
redis.call('DEL', job)
return 1
"""

_CLAIM = """
if field('status') ~= 'queued' then return false end
local runs = redis.call('HINCRBY', job, 'runs', 1)
local now = ARGV[4]
redis.call('HSET', job, 'status', 'running', 'stage', 'translating', 'owner', ARGV[3],
  'heartbeat_at', now, 'started_at', now, 'updated_at', now,
  'progress_done', '0', 'progress_total', '0')
redis.call('HDEL', job, 'progress_paragraphs_done', 'progress_paragraphs_total')
move('queued', 'running')
redis.call('SADD', P .. ':leases', id)
return runs
"""

_PROGRESS = """
if not is_run(ARGV[3]) then return 0 end
redis.call('HSET', job, 'stage', ARGV[4], 'progress_done', ARGV[5], 'progress_total', ARGV[6],
  'heartbeat_at', ARGV[7], 'updated_at', ARGV[7])
if ARGV[9] ~= '' then
  redis.call('HSET', job, 'progress_paragraphs_done', ARGV[8], 'progress_paragraphs_total', ARGV[9])
else
  redis.call('HDEL', job, 'progress_paragraphs_done', 'progress_paragraphs_total')
end
return 1
"""

_FINISH = """
if not is_run(ARGV[3]) then return 0 end
local now = ARGV[7]
redis.call('HSET', job, 'status', ARGV[4], 'stage', 'done', 'finished_at', now,
  'updated_at', now, 'heartbeat_at', now)
for i, name in ipairs({'result_json', 'error_json'}) do
  local value = ARGV[4 + i]
  if value ~= '' then redis.call('HSET', job, name, value) else redis.call('HDEL', job, name) end
end
move('running', ARGV[4])
redis.call('ZADD', P .. ':finished', now, id)
if redis.call('HEXISTS', job, 'callback_url') == 1 then
  redis.call('HSET', job, 'webhook_state', 'pending')
else
  redis.call('HDEL', job, 'webhook_state')
  redis.call('SREM', P .. ':leases', id)
end
return 1
"""

_REQUEUE = """
if not is_run(ARGV[3]) then return 0 end
redis.call('HSET', job, 'status', 'queued', 'stage', 'queued', 'progress_done', '0',
  'progress_total', '0', 'updated_at', ARGV[4])
redis.call('HDEL', job, 'owner', 'heartbeat_at', 'progress_paragraphs_done',
  'progress_paragraphs_total')
move('running', 'queued')
redis.call('SREM', P .. ':leases', id)
return 1
"""

_CANCEL = """
if field('status') ~= 'queued' then return 0 end
redis.call('HSET', job, 'status', 'cancelled', 'finished_at', ARGV[3], 'updated_at', ARGV[3])
move('queued', 'cancelled')
redis.call('ZADD', P .. ':finished', ARGV[3], id)
return 1
"""

_TAKE_WEBHOOK = """
if field('webhook_state') ~= 'pending' then return 0 end
if (field('owner') or '') ~= ARGV[5] or (field('heartbeat_at') or '') ~= ARGV[6] then
  return 0
end
redis.call('HSET', job, 'owner', ARGV[3], 'heartbeat_at', ARGV[4])
return 1
"""

_RECORD_ATTEMPT = """
if redis.call('EXISTS', job) == 0 then return 0 end
redis.call('RPUSH', job .. ':attempts', ARGV[3])
redis.call('HSET', job, 'updated_at', ARGV[4], 'heartbeat_at', ARGV[4])
return 1
"""

_WEBHOOK_FINISHED = """
if field('webhook_state') ~= 'pending' then return 0 end
redis.call('HSET', job, 'webhook_state', ARGV[3], 'updated_at', ARGV[4])
redis.call('SREM', P .. ':leases', id)
return 1
"""

# Not per job: ARGV[1] is the prefix, ARGV[2] the time, the rest job ids.
_HEARTBEAT = """
local P = ARGV[1]
for i = 3, #ARGV do
  local job = P .. ':job:' .. ARGV[i]
  if redis.call('EXISTS', job) == 1 then redis.call('HSET', job, 'heartbeat_at', ARGV[2]) end
end
return 1
"""

_PURGE = """
local P = ARGV[1]
local count = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. ':finished', '-inf', '(' .. ARGV[2])) do
  local job = P .. ':job:' .. id
  if redis.call('HGET', job, 'webhook_state') ~= 'pending' then
    local key = redis.call('HGET', job, 'idempotency_key')
    if key and redis.call('GET', P .. ':idem:' .. key) == id then
      redis.call('DEL', P .. ':idem:' .. key)
    end
    local status = redis.call('HGET', job, 'status')
    if status then redis.call('ZREM', P .. ':status:' .. status, id) end
    redis.call('ZREM', P .. ':finished', id)
    redis.call('SREM', P .. ':leases', id)
    redis.call('DEL', job, job .. ':attempts')
    count = count + 1
  end
end
return count
"""

_STATUSES: tuple[str, ...] = get_args(JobStatus)
_INT_FIELDS = ("progress_done", "progress_total", "runs")
_FLOAT_FIELDS = ("created_at", "started_at", "finished_at", "updated_at", "heartbeat_at")
_TEXT_FIELDS = (
    "status",
    "request_json",
    "body_hash",
    "idempotency_key",
    "callback_url",
    "request_id",
    "stage",
    "owner",
    "result_json",
    "error_json",
    "webhook_state",
)


def _num(value: float) -> str:
    """A float as text that reads back to the same float."""
    return repr(float(value))


def _now() -> str:
    return _num(time.time())


class RedisJobStore:
    """The job table in the Redis server at `url`, every key under `prefix`."""

    def __init__(self, url: str, prefix: str = "depeche") -> None:
        self.prefix = prefix
        self._redis: redis.Redis = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5
        )
        self._call(self._redis.ping)  # fail at startup, with the reason, if it is unreachable

        def script(body: str, prelude: bool = True) -> Script:
            return self._redis.register_script((_PRELUDE if prelude else "") + body)

        self._create = script(_CREATE)
        self._delete = script(_DELETE)
        self._claim = script(_CLAIM)
        self._progress = script(_PROGRESS)
        self._finish = script(_FINISH)
        self._requeue = script(_REQUEUE)
        self._cancel = script(_CANCEL)
        self._take_webhook = script(_TAKE_WEBHOOK)
        self._record_attempt = script(_RECORD_ATTEMPT)
        self._webhook_finished = script(_WEBHOOK_FINISHED)
        self._heartbeat = script(_HEARTBEAT, prelude=False)
        self._purge = script(_PURGE, prelude=False)

    @staticmethod
    def _call(operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return operation(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailableError(f"Redis is unreachable ({exc})") from exc

    def _run(self, script: Script, job_id: str, *args: str) -> Any:
        return self._call(script, args=[self.prefix, job_id, *args])

    def close(self) -> None:
        self._redis.close()

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
        now = _now()
        fields = {
            "id": job_id,
            "status": "queued",
            "request_json": json.dumps(request, ensure_ascii=False),
            "body_hash": body_hash,
            "request_id": request_id,
            "created_at": now,
            "updated_at": now,
            "stage": "queued",
            "progress_done": "0",
            "progress_total": "0",
            "runs": "0",
        }
        if idempotency_key is not None:
            fields["idempotency_key"] = idempotency_key
        if callback_url is not None:
            fields["callback_url"] = callback_url
        flat = [item for pair in fields.items() for item in pair]
        existing = self._run(self._create, job_id, idempotency_key or "", now, *flat)
        record = self.get(existing or job_id)
        assert record is not None
        return record, not existing

    def delete(self, job_id: str) -> None:
        self._run(self._delete, job_id)

    def get(self, job_id: str) -> JobRecord | None:
        key = f"{self.prefix}:job:{job_id}"
        pipe = self._redis.pipeline(transaction=True)
        pipe.hgetall(key)
        pipe.lrange(f"{key}:attempts", 0, -1)
        row, attempts = self._call(pipe.execute)
        if not row:
            return None
        return self._record(job_id, row, attempts)

    @staticmethod
    def _record(job_id: str, row: dict[str, str], attempts: list[str]) -> JobRecord:
        values: dict[str, Any] = {name: row.get(name) for name in _TEXT_FIELDS}
        values["owner"] = Owner.read(values["owner"])
        values.update({name: int(row.get(name) or 0) for name in _INT_FIELDS})
        for name in ("progress_paragraphs_done", "progress_paragraphs_total"):
            values[name] = int(row[name]) if row.get(name) else None
        for name in _FLOAT_FIELDS:
            values[name] = float(row[name]) if name in row else None
        logged = []
        for number, text in enumerate(attempts, start=1):
            attempt = json.loads(text)
            logged.append(
                WebhookAttempt(
                    attempt=number,
                    at=datetime.fromtimestamp(attempt["at"], UTC),
                    status_code=attempt["status_code"],
                    error=attempt["error"],
                    duration_ms=attempt["duration_ms"],
                )
            )
        return JobRecord(id=job_id, **values, attempts=logged)

    def get_by_key(self, idempotency_key: str) -> JobRecord | None:
        job_id = self._call(self._redis.get, f"{self.prefix}:idem:{idempotency_key}")
        return None if job_id is None else self.get(str(job_id))

    def counts(self) -> dict[str, int]:
        pipe = self._redis.pipeline(transaction=False)
        for status in _STATUSES:
            pipe.zcard(f"{self.prefix}:status:{status}")
        sizes = self._call(pipe.execute)
        return {status: int(size) for status, size in zip(_STATUSES, sizes, strict=True)}

    def ids(self, status: str, created_before: float | None = None) -> list[str]:
        high = "+inf" if created_before is None else f"({_num(created_before)}"
        ids = self._call(self._redis.zrangebyscore, f"{self.prefix}:status:{status}", "-inf", high)
        return [str(job_id) for job_id in ids]

    # -- a worker's run --------------------------------------------------------------------

    def claim(self, job_id: str, owner: Owner) -> int | None:
        runs = self._run(self._claim, job_id, str(owner), _now())
        return None if runs is None else int(runs)

    def progress(
        self,
        job_id: str,
        run: int,
        stage: str,
        done: int,
        total: int,
        paragraphs: Paragraphs | None = None,
    ) -> bool:
        p_done, p_total = (str(n) for n in paragraphs) if paragraphs is not None else ("", "")
        return bool(
            self._run(
                self._progress,
                job_id,
                str(run),
                stage,
                str(done),
                str(total),
                _now(),
                p_done,
                p_total,
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
        status = "done" if error_json is None else "failed"
        return bool(
            self._run(
                self._finish,
                job_id,
                str(run),
                status,
                result_json or "",
                error_json or "",
                _now(),
            )
        )

    def requeue(self, job_id: str, run: int) -> bool:
        return bool(self._run(self._requeue, job_id, str(run), _now()))

    def cancel(self, job_id: str) -> tuple[JobRecord | None, bool]:
        cancelled = bool(self._run(self._cancel, job_id, _now()))
        return self.get(job_id), cancelled

    def heartbeat(self, job_ids: Iterable[str]) -> None:
        ids = list(job_ids)
        if ids:
            self._call(self._heartbeat, args=[self.prefix, _now(), *ids])

    def leases(self) -> list[Lease]:
        ids = sorted(
            str(job_id) for job_id in self._call(self._redis.smembers, f"{self.prefix}:leases")
        )
        pipe = self._redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(f"{self.prefix}:job:{job_id}", "status", "runs", "owner", "heartbeat_at")
        leases: list[Lease] = []
        for job_id, (status, runs, owner, heartbeat) in zip(
            ids, self._call(pipe.execute), strict=True
        ):
            if status is None:  # purged between the two reads
                continue
            leases.append(
                Lease(
                    job_id,
                    "run" if status == "running" else "webhook",
                    int(runs),
                    Owner.read(owner),
                    None if heartbeat is None else float(heartbeat),
                )
            )
        return leases

    # -- webhooks --------------------------------------------------------------------------

    def take_webhook(self, job_id: str, owner: Owner, seen: Lease) -> bool:
        seen_owner = "" if seen.owner is None else str(seen.owner)
        heartbeat = "" if seen.heartbeat is None else _num(seen.heartbeat)
        return bool(
            self._run(self._take_webhook, job_id, str(owner), _now(), seen_owner, heartbeat)
        )

    def record_attempt(
        self,
        job_id: str,
        status_code: int | None,
        error: str | None,
        duration_ms: float,
        at: float,
    ) -> None:
        attempt = {"at": at, "status_code": status_code, "error": error, "duration_ms": duration_ms}
        self._run(self._record_attempt, job_id, json.dumps(attempt), _now())

    def webhook_finished(self, job_id: str, delivered: bool) -> None:
        state = "delivered" if delivered else "failed"
        self._run(self._webhook_finished, job_id, state, _now())

    def purge(self, finished_before: float) -> int:
        count: int = self._call(self._purge, args=[self.prefix, _num(finished_before)])
        return count
