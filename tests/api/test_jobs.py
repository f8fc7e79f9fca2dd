"""POST/GET/DELETE /jobs on the tiny models: results, progress, idempotency, cancellation,
errors, and signed webhooks retried until a receiver on 127.0.0.1 accepts them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.api.app import create_app
from service.config import Settings
from service.jobs.webhooks import verify
from service.pipeline import Pipeline
from tests.conftest import free_port
from tests.jobs.receiver import webhook_receiver

SECRET = "whsec_test_secret"


def jobs_settings(settings: Settings, tmp_path: Path, **update: Any) -> Settings:
    values: dict[str, Any] = {
        "jobs_db": tmp_path / "jobs.sqlite3",
        "webhook_secret": SecretStr(SECRET),
        "webhook_allow": "127.0.0.1",
        "webhook_backoff_s": 0.05,
        "webhook_timeout_s": 5.0,
    }
    values.update(update)
    return settings.model_copy(update=values)


@pytest.fixture
def jobs_client(
    settings: Settings, pipeline: Pipeline, tmp_path: Path, backend: dict[str, Any]
) -> Iterator[TestClient]:
    app = create_app(jobs_settings(settings, tmp_path, **backend), pipeline=pipeline)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def idle_client(
    settings: Settings, pipeline: Pipeline, tmp_path: Path, backend: dict[str, Any]
) -> Iterator[TestClient]:
    """Accepts jobs but runs none (DEPECHE_JOBS_WORKERS=0): they stay queued."""
    app = create_app(
        jobs_settings(settings, tmp_path, jobs_workers=0, **backend), pipeline=pipeline
    )
    with TestClient(app) as client:
        yield client


def wait_until(
    client: TestClient, job_id: str, done: Any = None, timeout: float = 60.0
) -> dict[str, Any]:
    finished = done or (lambda job: job["status"] in ("done", "failed", "cancelled"))
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
        if finished(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def memorized_article(pairs: list[tuple[str, str]]) -> tuple[dict[str, Any], list[str]]:
    french = [" ".join(fr for fr, _ in pairs[:3]), " ".join(fr for fr, _ in pairs[3:])]
    english = [" ".join(en for _, en in pairs[:3]), " ".join(en for _, en in pairs[3:])]
    return {"text": "\n\n".join(french), "options": {"max_points": 3}}, english


def test_a_job_runs_to_done_with_the_summarize_result(
    jobs_client: TestClient, memorized_pairs: list[tuple[str, str]]
) -> None:
    body, english = memorized_article(memorized_pairs)
    response = jobs_client.post("/jobs", json=body, headers={"X-Request-ID": "cms-42"})
    assert response.status_code == 202
    job = response.json()
    assert response.headers["location"] == f"/jobs/{job['id']}"
    assert job["status"] in ("queued", "running")
    assert job["request_id"] == "cms-42"
    assert job["result"] is None
    assert job["webhook"] is None

    job = wait_until(jobs_client, job["id"])
    assert job["status"] == "done", job
    assert job["result"]["translation"]["paragraphs"] == english
    assert 1 <= len(job["result"]["key_points"]) <= 3
    assert job["result"]["meta"]["coverage"]["translated"] == len(memorized_pairs)
    assert job["progress"] == {
        "stage": "done",
        "done": len(memorized_pairs),
        "total": len(memorized_pairs),
        "fraction": 1.0,
    }
    assert job["runs"] == 1
    assert job["error"] is None
    assert job["created_at"] <= job["started_at"] <= job["finished_at"]


def test_a_job_answers_from_the_summarize_result_cache(
    settings: Settings, pipeline: Pipeline, tmp_path: Path, memorized_pairs: list[tuple[str, str]]
) -> None:
    app = create_app(jobs_settings(settings, tmp_path, cache_size=8), pipeline=pipeline)
    body, _ = memorized_article(memorized_pairs)
    with TestClient(app) as client:
        answered = client.post("/summarize", json=body)
        assert answered.headers["x-cache"] == "miss"
        job = wait_until(client, client.post("/jobs", json=body).json()["id"])
    assert job["status"] == "done", job
    # The very result /summarize computed, timings included: the job did not run it again.
    assert job["result"] == answered.json()
    sentences = answered.json()["meta"]["coverage"]["sentences"]
    assert job["progress"]["done"] == job["progress"]["total"] == sentences


def test_a_failing_job_carries_the_error_envelope(
    settings: Settings, pipeline: Pipeline, tmp_path: Path
) -> None:
    class Broken:
        def __getattr__(self, name: str) -> Any:
            return getattr(pipeline, name)

        def summarize(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom")

    app = create_app(jobs_settings(settings, tmp_path), pipeline=Broken())  # type: ignore[arg-type]
    with TestClient(app) as client:
        job_id = client.post("/jobs", json={"text": "Bonjour."}).json()["id"]
        job = wait_until(client, job_id)
    assert job["status"] == "failed"
    assert job["result"] is None
    assert job["error"]["error"]["code"] == "internal_error"
    assert job["error"]["error"]["request_id"] == job["request_id"]


def test_the_webhook_is_signed_retried_after_500_and_delivered_once(
    jobs_client: TestClient, memorized_pairs: list[tuple[str, str]]
) -> None:
    body, english = memorized_article(memorized_pairs)
    with webhook_receiver([500, 200]) as receiver:
        response = jobs_client.post("/jobs", json={**body, "callback_url": receiver.url})
        assert response.status_code == 202
        job_id = response.json()["id"]
        assert response.json()["webhook"] == {"url": receiver.url, "state": None, "attempts": []}
        job = wait_until(
            jobs_client, job_id, lambda j: j["webhook"]["state"] in ("delivered", "failed")
        )
        time.sleep(0.5)  # a third POST would arrive by now
        requests = receiver.wait_for(2)
    assert job["webhook"]["state"] == "delivered"
    assert len(requests) == 2, "stops at the first 2xx"
    for request in requests:
        assert request.path == "/hooks/depeche"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-depeche-job"] == job_id
        assert request.headers["x-depeche-event"] == "job.done"
        timestamp = request.headers["x-depeche-timestamp"]
        assert abs(time.time() - int(timestamp)) < 60
        assert verify(SECRET, timestamp, request.body, request.headers["x-depeche-signature"])
        assert not verify("wrong", timestamp, request.body, request.headers["x-depeche-signature"])
    delivered = json.loads(requests[1].body)
    assert delivered["id"] == job_id
    assert delivered["status"] == "done"
    assert delivered["result"]["translation"]["paragraphs"] == english
    assert "webhook" not in delivered or delivered["webhook"] is None

    attempts = job["webhook"]["attempts"]
    assert [a["status_code"] for a in attempts] == [500, 200]
    assert [a["attempt"] for a in attempts] == [1, 2]
    assert all(a["error"] is None and a["duration_ms"] >= 0 and a["at"] for a in attempts)


def test_an_unreachable_receiver_is_retried_up_to_the_limit(
    settings: Settings, pipeline: Pipeline, tmp_path: Path
) -> None:
    with webhook_receiver([200]) as receiver:
        dead_url = receiver.url  # nobody listens there once the receiver is closed
    app = create_app(jobs_settings(settings, tmp_path, webhook_max_attempts=3), pipeline=pipeline)
    with TestClient(app) as client:
        job_id = client.post("/jobs", json={"text": "Bonjour.", "callback_url": dead_url}).json()[
            "id"
        ]
        job = wait_until(client, job_id, lambda j: j["webhook"]["state"] in ("delivered", "failed"))
    assert job["status"] == "done"
    assert job["webhook"]["state"] == "failed"
    attempts = job["webhook"]["attempts"]
    assert len(attempts) == 3
    assert all(a["status_code"] is None and "Connect" in a["error"] for a in attempts)


def test_an_idempotency_key_returns_the_same_job_and_refuses_another_body(
    idle_client: TestClient,
) -> None:
    headers = {"Idempotency-Key": "story-1234-rev-2"}
    first = idle_client.post("/jobs", json={"text": "Bonjour.", "title": "Titre"}, headers=headers)
    assert first.status_code == 202
    again = idle_client.post("/jobs", json={"title": "Titre", "text": "Bonjour."}, headers=headers)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]

    other = idle_client.post("/jobs", json={"text": "Bonsoir."}, headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    assert first.json()["id"] in other.json()["error"]["message"]

    unkeyed = idle_client.post("/jobs", json={"text": "Bonjour.", "title": "Titre"})
    assert unkeyed.json()["id"] != first.json()["id"]


def test_delete_cancels_a_queued_job(idle_client: TestClient) -> None:
    job_id = idle_client.post("/jobs", json={"text": "Bonjour."}).json()["id"]
    response = idle_client.delete(f"/jobs/{job_id}")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["finished_at"] is not None
    assert idle_client.get(f"/jobs/{job_id}").json()["status"] == "cancelled"


def test_delete_refuses_a_finished_job(jobs_client: TestClient) -> None:
    job_id = jobs_client.post("/jobs", json={"text": "Bonjour."}).json()["id"]
    assert wait_until(jobs_client, job_id)["status"] == "done"
    response = jobs_client.delete(f"/jobs/{job_id}")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_not_cancellable"


def test_unknown_job_is_a_404_envelope(jobs_client: TestClient) -> None:
    for method in ("get", "delete"):
        response = getattr(jobs_client, method)("/jobs/nope", headers={"X-Request-ID": "r-1"})
        assert response.status_code == 404
        assert response.json() == {
            "error": {
                "code": "job_not_found",
                "message": "There is no job nope.",
                "request_id": "r-1",
            }
        }


@pytest.mark.parametrize(
    "callback_url",
    [
        "http://10.0.0.7/hooks",  # private
        "http://169.254.169.254/latest/meta-data",  # link-local
        "http://127.0.0.2:8080/hooks",  # loopback, not the allowed 127.0.0.1
        "ftp://127.0.0.1/hooks",  # not http(s)
    ],
)
def test_a_refused_callback_url_is_422(idle_client: TestClient, callback_url: str) -> None:
    response = idle_client.post("/jobs", json={"text": "Bonjour.", "callback_url": callback_url})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "callback_not_allowed"


def test_callbacks_need_a_secret(settings: Settings, pipeline: Pipeline, tmp_path: Path) -> None:
    app = create_app(
        jobs_settings(settings, tmp_path, webhook_secret=None, jobs_workers=0), pipeline=pipeline
    )
    with TestClient(app) as client:
        response = client.post(
            "/jobs", json={"text": "Bonjour.", "callback_url": "http://127.0.0.1:9/h"}
        )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "callback_not_allowed"
    assert "DEPECHE_WEBHOOK_SECRET" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"text": "   "}, 422, "empty_text"),
        ({"text": "x" * 200_001}, 413, "text_too_long"),
        ({"text": "Bonjour.", "colour": "red"}, 422, "unknown_field"),
        ({"text": "Bonjour.", "options": {"max_points": 9}}, 422, "invalid_request"),
    ],
)
def test_invalid_jobs_are_refused_like_summarize(
    idle_client: TestClient, body: dict[str, Any], status: int, code: str
) -> None:
    response = idle_client.post("/jobs", json=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_jobs_are_in_the_openapi_document(jobs_client: TestClient) -> None:
    paths = jobs_client.get("/openapi.json").json()["paths"]
    assert {"post"} <= set(paths["/jobs"])
    assert {"get", "delete"} <= set(paths["/jobs/{job_id}"])


def test_a_job_running_at_shutdown_is_queued_again_and_resumes(
    settings: Settings,
    pipeline: Pipeline,
    memorized_pairs: list[tuple[str, str]],
    tmp_path: Path,
) -> None:
    from tests.test_pipeline import long_article

    text, expected, _ = long_article(memorized_pairs, min_words=1500)
    # No grace: the app stops before the job can finish.
    job_settings = jobs_settings(settings, tmp_path, shutdown_grace_s=0)
    with TestClient(create_app(job_settings, pipeline=pipeline)) as client:
        job_id = client.post("/jobs", json={"text": text}).json()["id"]
        job = wait_until(client, job_id, lambda j: j["progress"]["done"] > 0)
        assert job["status"] == "running"
    # The app stopped mid-run: the job went back in the queue, not lost, not failed.
    with TestClient(create_app(job_settings, pipeline=pipeline)) as client:
        assert client.get(f"/jobs/{job_id}").json()["status"] in ("queued", "running")
        job = wait_until(client, job_id)
    assert job["status"] == "done"
    assert job["runs"] == 2
    assert job["result"]["translation"]["paragraphs"] == expected


def test_an_unusable_jobs_database_only_disables_jobs(
    settings: Settings, pipeline: Pipeline, tmp_path: Path
) -> None:
    (tmp_path / "not-a-folder").write_text("")
    broken = jobs_settings(settings, tmp_path, jobs_db=tmp_path / "not-a-folder" / "jobs.sqlite3")
    with TestClient(create_app(broken, pipeline=pipeline)) as client:
        response = client.post("/jobs", json={"text": "Bonjour."})
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "jobs_unavailable"
        assert client.post("/translate", json={"text": "Bonjour."}).status_code == 200


def test_an_unreachable_redis_only_disables_jobs(
    settings: Settings, pipeline: Pipeline, tmp_path: Path
) -> None:
    nobody = f"redis://127.0.0.1:{free_port()}/0"
    down = jobs_settings(settings, tmp_path, jobs_backend="redis", redis_url=nobody)
    with TestClient(create_app(down, pipeline=pipeline)) as client:
        response = client.post("/jobs", json={"text": "Bonjour."})
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "jobs_unavailable"
        assert "Redis is unreachable" in error["message"]
        assert client.post("/translate", json={"text": "Bonjour."}).status_code == 200
        assert client.get("/usage").json()["storage"] == "memory"
