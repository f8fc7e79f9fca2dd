"""A model call that raises, through the API: only the requests of that batch fail, with
500 `inference_failed` and their request id; others, on other batches, succeed; the model keeps
serving; jobs record the same code; a broken device turns /ready to 503."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.config import Settings
from service.pipeline import Pipeline
from tests.api.test_routes import assert_envelope
from tests.fakes import RaisingEngine

POISON = "Sabotage"
"""A word of the French input that makes the translation engine raise on its batch."""


@pytest.fixture
def raising(
    settings: Settings, pipeline: Pipeline, tmp_path: Path
) -> Iterator[tuple[TestClient, RaisingEngine, Pipeline]]:
    """An app whose translator is the real tiny one, except on batches holding POISON; one
    scheduler worker, so a held failing batch makes every other request wait in the queue."""
    engine = RaisingEngine(pipeline.translator, [POISON], hold=True)
    own = Pipeline(engine, pipeline.summarizer, pipeline.device, settings)
    assert own.translation_scheduler.workers == 1
    app_settings = settings.model_copy(update={"jobs_db": tmp_path / "jobs.sqlite3"})
    try:
        with TestClient(create_app(app_settings, pipeline=own)) as client:
            yield client, engine, own
    finally:
        engine.release.set()
        own.close()


def test_only_the_failing_batch_fails_and_the_model_keeps_serving(
    raising: tuple[TestClient, RaisingEngine, Pipeline],
    memorized_pairs: list[tuple[str, str]],
) -> None:
    client, engine, own = raising
    (fr, en), (fr2, en2) = memorized_pairs[0], memorized_pairs[1]

    def post(body: dict[str, Any], request_id: str) -> Any:
        return client.post("/translate", json=body, headers={"X-Request-ID": request_id})

    with ThreadPoolExecutor(max_workers=2) as pool:
        failing = pool.submit(post, {"text": f"{POISON} à l’usine. {fr}"}, "cms-failing")
        assert engine.failing.wait(30), "the poisoned batch reached the engine"
        other = pool.submit(post, {"text": fr2}, "cms-other")
        # The other request is in flight at the same time, waiting in the queue for the one
        # worker: it runs on a batch of its own once the failing one is over.
        deadline = time.monotonic() + 10
        while own.translation_scheduler.queued == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert own.translation_scheduler.queued == 1
        engine.release.set()
        error = assert_envelope(failing.result(30), 500, "inference_failed")
        answer = other.result(30)

    assert error["request_id"] == "cms-failing"
    assert "RuntimeError" in error["message"]
    assert "illegal memory access" not in error["message"], "engine text stays in the log"
    assert answer.status_code == 200, answer.text
    assert answer.json()["translation"]["paragraphs"] == [en2]
    (failed,) = engine.failed_batches  # both sentences of the failing request, nothing else
    assert len(failed) == 2
    assert any(text.startswith(POISON) for text in failed)
    assert [len(batch) for batch in engine.served_batches] == [1], "the other's own batch"

    # The scheduler goes on: a whole article afterwards, translated exactly.
    again = client.post("/summarize", json={"text": f"{fr}\n\n{fr2}"})
    assert again.status_code == 200, again.text
    assert again.json()["translation"]["paragraphs"] == [en, en2]
    assert own.translation_scheduler.batches_failed == 1
    assert all(thread.is_alive() for thread in own.translation_scheduler._threads)


def test_a_failing_article_of_a_batch_request_fails_alone(
    raising: tuple[TestClient, RaisingEngine, Pipeline],
    memorized_pairs: list[tuple[str, str]],
) -> None:
    client, engine, _ = raising
    engine.hold = False
    (fr, en) = memorized_pairs[2]
    # Each article runs on its own, so the poisoned one may share a batch with the other or
    # not; sent one after the other, they never do.
    response = client.post(
        "/summarize/batch",
        json={"articles": [{"text": f"{POISON} !"}]},
        headers={"X-Request-ID": "cms-batch-1"},
    )
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert result["ok"] is False
    assert result["error"]["code"] == "inference_failed"
    assert result["error"]["request_id"] == "cms-batch-1.0"
    fine = client.post("/summarize/batch", json={"articles": [{"text": fr}]}).json()
    assert fine["results"][0]["ok"] is True
    assert fine["results"][0]["result"]["translation"]["paragraphs"] == [en]


def test_a_job_hitting_a_failing_batch_records_inference_failed(
    raising: tuple[TestClient, RaisingEngine, Pipeline],
    memorized_pairs: list[tuple[str, str]],
) -> None:
    from tests.api.test_jobs import wait_until

    client, engine, _ = raising
    engine.hold = False
    response = client.post(
        "/jobs", json={"text": f"{POISON} en cours."}, headers={"X-Request-ID": "cms-job-7"}
    )
    assert response.status_code == 202, response.text
    job = wait_until(client, response.json()["id"])
    assert job["status"] == "failed", job
    assert job["error"]["error"]["code"] == "inference_failed"
    assert job["error"]["error"]["request_id"] == "cms-job-7"
    assert job["result"] is None

    fr, en = memorized_pairs[3]
    job = wait_until(client, client.post("/jobs", json={"text": fr}).json()["id"])
    assert job["status"] == "done", job
    assert job["result"]["translation"]["paragraphs"] == [en]


def test_a_broken_device_turns_ready_to_503_with_the_envelope(
    raising: tuple[TestClient, RaisingEngine, Pipeline],
) -> None:
    client, engine, _ = raising
    assert client.get("/ready").status_code == 200
    engine.broken = True
    response = client.get("/ready", headers={"X-Request-ID": "probe-1"})
    error = assert_envelope(response, 503, "models_not_ready")
    assert error["request_id"] == "probe-1"
    assert "device check failed" in error["message"]
    assert "RuntimeError" in error["message"]
    assert response.headers["retry-after"]
    assert client.get("/health").status_code == 200, "liveness is not readiness"
    engine.broken = False
    assert client.get("/ready").status_code == 200
