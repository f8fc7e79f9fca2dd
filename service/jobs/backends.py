"""Which job table the settings pick: `open_store` opens the SQLite or the Redis backend (each
imported only when chosen, so a SQLite service never imports redis)."""

from __future__ import annotations

from service.config import Settings
from service.jobs.store import JobStore


def open_store(settings: Settings) -> JobStore:
    """The job table of the configured backend (`DEPECHE_JOBS_BACKEND`)."""
    if settings.jobs_backend == "redis":
        from service.jobs.redis_store import RedisJobStore

        return RedisJobStore(settings.redis_url, settings.redis_prefix)
    from service.jobs.sqlite_store import SqliteJobStore

    return SqliteJobStore(settings.jobs_db)
