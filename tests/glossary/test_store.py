"""Stored glossaries on both backends (SQLite, and Redis when redis-server is installed):
create, list, read, delete, the limit on their number, and an unreachable store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.config import Settings
from service.errors import GlossariesUnavailableError, TooManyGlossariesError
from service.glossary.store import (
    GlossaryStore,
    RedisGlossaryStore,
    SqliteGlossaryStore,
    UnavailableGlossaryStore,
    open_glossaries,
)

ENTRIES = (("Conseil de sécurité nationale", "National Security Council"), ("ONU", "UN"))


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GlossaryStore]:
    opened: GlossaryStore
    if request.param == "sqlite":
        opened = SqliteGlossaryStore(tmp_path / "sub" / "jobs.sqlite3", limit=3)
    else:
        opened = RedisGlossaryStore(
            request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix"), limit=3
        )
    yield opened
    opened.close()


def test_a_glossary_is_stored_listed_read_and_deleted(store: GlossaryStore) -> None:
    info = store.create("Politique", ENTRIES)
    assert (info.name, info.entry_count) == ("Politique", 2)
    assert len(info.id) == 32
    other = store.create("Vide ou presque", (("Sénat", "Senate"),))
    assert [g.id for g in store.list()] == [info.id, other.id]
    stored = store.get(info.id)
    assert stored is not None
    assert stored.info == info
    assert stored.entries == ENTRIES  # in the order given, accents intact
    assert store.delete(info.id)
    assert not store.delete(info.id)
    assert store.get(info.id) is None
    assert [g.id for g in store.list()] == [other.id]


def test_the_number_of_glossaries_is_limited(store: GlossaryStore) -> None:
    for n in range(3):
        store.create(f"g{n}", ENTRIES)
    with pytest.raises(TooManyGlossariesError) as raised:
        store.create("one more", ENTRIES)
    assert raised.value.status == 409
    assert len(store.list()) == 3
    store.delete(store.list()[0].id)
    store.create("now it fits", ENTRIES)


def test_it_lives_in_the_jobs_database_and_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    first = open_glossaries(Settings(jobs_db=path))
    info = first.create("Politique", ENTRIES)
    first.close()
    again = open_glossaries(Settings(jobs_db=path))
    stored = again.get(info.id)
    assert stored is not None
    assert stored.entries == ENTRIES
    again.close()


def test_redis_is_chosen_with_the_redis_jobs_backend(redis_url: str, redis_prefix: str) -> None:
    settings = Settings(jobs_backend="redis", redis_url=redis_url, redis_prefix=redis_prefix)
    store = open_glossaries(settings)
    assert isinstance(store, RedisGlossaryStore)
    info = store.create("Politique", ENTRIES)
    assert [g.id for g in RedisGlossaryStore(redis_url, redis_prefix).list()] == [info.id]
    store.close()


def test_an_unreachable_store_answers_503() -> None:
    store = RedisGlossaryStore("redis://127.0.0.1:9/0", "nowhere")
    with pytest.raises(GlossariesUnavailableError) as raised:
        store.list()
    assert raised.value.status == 503
    broken = open_glossaries(Settings(jobs_db=Path("/proc/no/such/dir/jobs.sqlite3")))
    assert isinstance(broken, UnavailableGlossaryStore)
    with pytest.raises(GlossariesUnavailableError, match="cannot be opened"):
        broken.get("x")
