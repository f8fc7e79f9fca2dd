"""Opening the jobs SQLite file: one connection setup shared by the job table, the usage counts
and the stored glossaries, which all live in `DEPECHE_JOBS_DB`."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: Path) -> sqlite3.Connection:
    """A connection to `path` (its folder created if needed) in autocommit mode, shareable
    across threads (callers hold their own lock), waiting up to 10 s for another writer, with
    write-ahead logging so that readers never block the writer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), timeout=10, isolation_level=None, check_same_thread=False)
    db.execute("pragma journal_mode=wal")
    return db
