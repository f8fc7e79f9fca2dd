"""Jobs report paragraphs done while translating (`progress.paragraphs_done`/`_total`), on
both job backends; the paragraph counts are gone once the translation is over."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from service.api.app import create_app
from service.config import Settings
from service.jobs.sqlite_store import SqliteJobStore
from service.pipeline import Pipeline
from tests.api.test_jobs import jobs_settings, wait_until
from tests.api.test_stream import HeldEngine


def test_a_job_reports_paragraphs_done_while_translating(
    settings: Settings,
    pipeline: Pipeline,
    tmp_path: Path,
    memorized_pairs: list[tuple[str, str]],
    backend: dict[str, Any],
) -> None:
    engine = HeldEngine(pipeline.translator, "Retenue")
    own_settings = jobs_settings(settings, tmp_path, translation_batch_tokens=1, **backend)
    own = Pipeline(engine, pipeline.summarizer, pipeline.device, own_settings)  # type: ignore[arg-type]
    fr, _ = max(memorized_pairs, key=lambda pair: len(pair[0]))  # the longest runs first
    body = {"text": f"{fr}\n\nRetenue.\n\n{memorized_pairs[0][0]}"}
    try:
        with TestClient(create_app(own_settings, pipeline=own)) as client:
            job_id = client.post("/jobs", json=body).json()["id"]
            job = wait_until(client, job_id, lambda j: j["progress"].get("paragraphs_done") == 1)
            progress = job["progress"]
            assert progress["stage"] == "translating"
            assert progress["paragraphs_done"] == 1
            assert progress["paragraphs_total"] == 3
            assert progress["done"] < progress["total"]
            engine.release.set()
            job = wait_until(client, job_id)
    finally:
        engine.release.set()
        own.close()
    assert job["status"] == "done", job
    assert set(job["progress"]) == {"stage", "done", "total", "fraction"}


def test_a_jobs_file_of_an_earlier_version_gets_the_paragraph_columns(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "create table jobs (id text primary key, status text not null, request_json text "
            "not null, body_hash text not null, idempotency_key text unique, callback_url text, "
            "request_id text not null, created_at real not null, started_at real, finished_at "
            "real, updated_at real not null, stage text not null default 'queued', "
            "progress_done integer not null default 0, progress_total integer not null default 0, "
            "runs integer not null default 0, owner text, heartbeat_at real, result_json text, "
            "error_json text, webhook_state text)"
        )
    store = SqliteJobStore(path)
    try:
        store.create("a", {"text": "x"}, "hash", None, None, "r")
        run = store.claim("a", "me")
        assert run is not None
        assert store.progress("a", run, "translating", 1, 4, (1, 2))
        record = store.get("a")
        assert record is not None
        progress = record.document().progress
        assert (progress.paragraphs_done, progress.paragraphs_total) == (1, 2)
        assert store.requeue("a", run)
        record = store.get("a")
        assert record is not None
        assert record.progress_paragraphs_total is None
    finally:
        store.close()
