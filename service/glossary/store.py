"""Stored glossaries, kept where the jobs are: a `glossaries` table in the SQLite jobs database
(DEPECHE_JOBS_DB), or Redis hashes under DEPECHE_REDIS_PREFIX when DEPECHE_JOBS_BACKEND is
`redis`, so every API replica sees the same glossaries. A stored glossary never changes: to
edit one, create the new version and delete the old."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from service.config import Settings
from service.errors import GlossariesUnavailableError, TooManyGlossariesError
from service.glossary.terms import MAX_GLOSSARIES, Entries
from service.sqlite import connect

T = TypeVar("T")


@dataclass(frozen=True)
class GlossaryInfo:
    """A stored glossary without its entries."""

    id: str
    name: str
    entry_count: int
    created_at: float


@dataclass(frozen=True)
class StoredGlossary:
    info: GlossaryInfo
    entries: Entries


class GlossaryStore(Protocol):
    def create(self, name: str, entries: Entries) -> GlossaryInfo:
        """Store a new glossary (TooManyGlossariesError when MAX_GLOSSARIES are stored)."""
        ...

    def list(self) -> list[GlossaryInfo]:
        """Every stored glossary, oldest first."""
        ...

    def get(self, glossary_id: str) -> StoredGlossary | None: ...

    def delete(self, glossary_id: str) -> bool:
        """Remove a glossary; False when there was none with this id."""
        ...

    def close(self) -> None: ...


def _new_id() -> str:
    return uuid.uuid4().hex


def _too_many() -> TooManyGlossariesError:
    return TooManyGlossariesError(
        f"The service holds {MAX_GLOSSARIES} glossaries already, its limit: delete one first."
    )


def _entries_json(entries: Entries) -> str:
    return json.dumps([list(pair) for pair in entries], ensure_ascii=False)


def _entries_of(text: str) -> Entries:
    return tuple((str(source), str(target)) for source, target in json.loads(text))


@contextmanager
def _sqlite_errors() -> Iterator[None]:
    """A locked or broken database file answers 503, not 500."""
    try:
        yield
    except sqlite3.Error as exc:
        raise GlossariesUnavailableError(
            f"The glossary store (SQLite) failed: {type(exc).__name__}: {exc}."
        ) from exc


class SqliteGlossaryStore:
    """The `glossaries` table of the SQLite file at `path` (the jobs database)."""

    def __init__(self, path: Path, limit: int = MAX_GLOSSARIES) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._db = connect(path)
        self._db.execute(
            "create table if not exists glossaries (id text primary key, name text not null,"
            " created_at real not null, entry_count integer not null,"
            " entries_json text not null)"
        )

    def create(self, name: str, entries: Entries) -> GlossaryInfo:
        info = GlossaryInfo(_new_id(), name, len(entries), time.time())
        with self._lock, _sqlite_errors():
            # One write transaction for the count and the insert: two replicas on one file
            # cannot both take the last place.
            self._db.execute("begin immediate")
            try:
                (count,) = self._db.execute("select count(*) from glossaries").fetchone()
                if count >= self.limit:
                    raise _too_many()
                self._db.execute(
                    "insert into glossaries values (?, ?, ?, ?, ?)",
                    (info.id, name, info.created_at, info.entry_count, _entries_json(entries)),
                )
            except BaseException:
                self._db.execute("rollback")
                raise
            self._db.execute("commit")
        return info

    def list(self) -> list[GlossaryInfo]:
        with self._lock, _sqlite_errors():
            rows = self._db.execute(
                "select id, name, entry_count, created_at from glossaries order by created_at, id"
            ).fetchall()
        return [GlossaryInfo(str(i), str(n), int(c), float(t)) for i, n, c, t in rows]

    def get(self, glossary_id: str) -> StoredGlossary | None:
        with self._lock, _sqlite_errors():
            row = self._db.execute(
                "select id, name, entry_count, created_at, entries_json from glossaries"
                " where id = ?",
                (glossary_id,),
            ).fetchone()
        if row is None:
            return None
        info = GlossaryInfo(str(row[0]), str(row[1]), int(row[2]), float(row[3]))
        return StoredGlossary(info, _entries_of(row[4]))

    def delete(self, glossary_id: str) -> bool:
        with self._lock, _sqlite_errors():
            cursor = self._db.execute("delete from glossaries where id = ?", (glossary_id,))
        return cursor.rowcount > 0

    def close(self) -> None:
        with self._lock:
            self._db.close()


# Count and insert in one script, atomic on the server like the SQLite transaction.
_CREATE = """
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], 'name', ARGV[3], 'entry_count', ARGV[4], 'created_at', ARGV[5],
  'entries_json', ARGV[6])
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[2])
return 1
"""


class RedisGlossaryStore:
    """Glossaries in Redis under `prefix`: `P:glossary:<id>`, a hash (name, entry_count,
    created_at, entries_json), and `P:glossaries`, their ids scored by creation time."""

    def __init__(self, url: str, prefix: str, limit: int = MAX_GLOSSARIES) -> None:
        import redis

        self._errors: tuple[type[Exception], ...] = (redis.RedisError,)
        self.limit = limit
        self._redis = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5
        )
        self._prefix = prefix
        self._index = f"{prefix}:glossaries"
        self._create = self._redis.register_script(_CREATE)

    def _key(self, glossary_id: str) -> str:
        return f"{self._prefix}:glossary:{glossary_id}"

    def _call(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except self._errors as exc:
            raise GlossariesUnavailableError(
                f"The glossary store (Redis) cannot be reached: {type(exc).__name__}."
            ) from exc

    def create(self, name: str, entries: Entries) -> GlossaryInfo:
        info = GlossaryInfo(_new_id(), name, len(entries), time.time())
        args = [str(self.limit), info.id, name, str(info.entry_count), repr(info.created_at)]
        created = self._call(
            lambda: self._create(
                keys=[self._index, self._key(info.id)], args=[*args, _entries_json(entries)]
            )
        )
        if not created:
            raise _too_many()
        return info

    def list(self) -> list[GlossaryInfo]:
        def read() -> list[Any]:
            ids: list[str] = self._redis.zrange(self._index, 0, -1)  # type: ignore[assignment]
            pipe = self._redis.pipeline(transaction=False)
            for glossary_id in ids:
                pipe.hmget(self._key(glossary_id), "name", "entry_count", "created_at")
            return list(zip(ids, pipe.execute(), strict=True))

        return [
            GlossaryInfo(glossary_id, name, int(count), float(created))
            for glossary_id, (name, count, created) in self._call(read)
            if name is not None  # deleted between the two reads
        ]

    def get(self, glossary_id: str) -> StoredGlossary | None:
        def read() -> Any:
            return self._redis.hgetall(self._key(glossary_id))

        fields: dict[str, str] = self._call(read)
        if not fields:
            return None
        info = GlossaryInfo(
            glossary_id, fields["name"], int(fields["entry_count"]), float(fields["created_at"])
        )
        return StoredGlossary(info, _entries_of(fields["entries_json"]))

    def delete(self, glossary_id: str) -> bool:
        def remove() -> int:
            pipe = self._redis.pipeline(transaction=True)
            pipe.delete(self._key(glossary_id))
            pipe.zrem(self._index, glossary_id)
            deleted, _ = pipe.execute()
            return int(deleted)

        return self._call(remove) > 0

    def close(self) -> None:
        self._redis.close()


class UnavailableGlossaryStore:
    """Stands in when the store cannot be opened: every call answers 503 with the reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def _fail(self) -> GlossariesUnavailableError:
        return GlossariesUnavailableError(f"The glossary store cannot be opened: {self.reason}.")

    def create(self, name: str, entries: Entries) -> GlossaryInfo:
        raise self._fail()

    def list(self) -> list[GlossaryInfo]:
        raise self._fail()

    def get(self, glossary_id: str) -> StoredGlossary | None:
        raise self._fail()

    def delete(self, glossary_id: str) -> bool:
        raise self._fail()

    def close(self) -> None:
        pass


def open_glossaries(settings: Settings) -> GlossaryStore:
    """The glossary store of the jobs backend; one that answers 503 if it cannot be opened."""
    try:
        if settings.jobs_backend == "redis":
            return RedisGlossaryStore(settings.redis_url, settings.redis_prefix)
        return SqliteGlossaryStore(settings.jobs_db)
    except (OSError, sqlite3.Error) as exc:
        return UnavailableGlossaryStore(f"{type(exc).__name__}: {exc}")
