"""Per-key usage counts (articles and characters) behind GET /usage, kept where the jobs are:
a table in the SQLite jobs database, or hashes in Redis shared by every API replica. A service
whose store cannot be opened counts in memory and says so in the report."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from service.config import Settings
from service.sqlite import connect

log = logging.getLogger(__name__)

Storage = Literal["sqlite", "redis", "memory"]


@dataclass
class UsageTotals:
    """Counts per key id, and when counting started (unix seconds)."""

    since: float
    storage: Storage
    keys: dict[str, tuple[int, int]] = field(default_factory=dict)
    """key id -> (articles, characters)."""


class UsageStore(Protocol):
    def record(self, key_id: str, characters: int, articles: int = 1) -> None: ...

    def totals(self) -> UsageTotals: ...

    def close(self) -> None: ...


class MemoryUsage:
    """Counts in this process only: they restart at zero with it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since = time.time()
        self._counts: dict[str, tuple[int, int]] = {}

    def record(self, key_id: str, characters: int, articles: int = 1) -> None:
        with self._lock:
            done, chars = self._counts.get(key_id, (0, 0))
            self._counts[key_id] = (done + articles, chars + characters)

    def totals(self) -> UsageTotals:
        with self._lock:
            return UsageTotals(self._since, "memory", dict(self._counts))

    def close(self) -> None:
        pass


class SqliteUsage:
    """Counts in the `usage` table of the SQLite file at `path` (the jobs database)."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = connect(path)
        self._db.executescript(
            "create table if not exists usage (key_id text primary key,"
            " articles integer not null, characters integer not null);"
            "create table if not exists usage_since (id integer primary key check (id = 1),"
            " since real not null);"
        )
        self._db.execute("insert or ignore into usage_since values (1, ?)", (time.time(),))

    def record(self, key_id: str, characters: int, articles: int = 1) -> None:
        with self._lock:
            self._db.execute(
                "insert into usage values (?, ?, ?) on conflict (key_id) do update set"
                " articles = articles + excluded.articles,"
                " characters = characters + excluded.characters",
                (key_id, articles, characters),
            )

    def totals(self) -> UsageTotals:
        with self._lock:
            (since,) = self._db.execute("select since from usage_since").fetchone()
            rows = self._db.execute("select key_id, articles, characters from usage").fetchall()
        return UsageTotals(float(since), "sqlite", {key: (a, c) for key, a, c in rows})

    def close(self) -> None:
        with self._lock:
            self._db.close()


class RedisUsage:
    """Counts in two Redis hashes under `prefix`, shared by every replica."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5
        )
        self._articles = f"{prefix}:usage:articles"
        self._characters = f"{prefix}:usage:characters"
        self._since = f"{prefix}:usage:since"
        self._redis.set(self._since, repr(time.time()), nx=True)

    def record(self, key_id: str, characters: int, articles: int = 1) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.hincrby(self._articles, key_id, articles)
        pipe.hincrby(self._characters, key_id, characters)
        pipe.execute()

    def totals(self) -> UsageTotals:
        pipe = self._redis.pipeline(transaction=True)
        pipe.get(self._since)
        pipe.hgetall(self._articles)
        pipe.hgetall(self._characters)
        since, articles, characters = pipe.execute()
        keys = {key: (int(articles[key]), int(characters.get(key, 0))) for key in articles}
        return UsageTotals(float(since or time.time()), "redis", keys)

    def close(self) -> None:
        self._redis.close()


def open_usage(settings: Settings) -> UsageStore:
    """The usage store of the jobs backend; in memory (with a warning) if it cannot open."""
    try:
        if settings.jobs_backend == "redis":
            return RedisUsage(settings.redis_url, settings.redis_prefix)
        return SqliteUsage(settings.jobs_db)
    except Exception as exc:
        log.warning(
            "usage counts are kept in memory only: the %s store could not be opened (%s: %s)",
            settings.jobs_backend,
            type(exc).__name__,
            exc,
        )
        return MemoryUsage()
