"""The API contract through TestClient: shapes, limits, and the one error envelope."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.config import Settings
from service.engines.loader import ModelLoadError
from service.errors import OverloadedError
from service.pipeline import Pipeline


def assert_envelope(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    assert set(error) == {"code", "message", "request_id"}
    return error


def test_health(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["ready"] is True
    assert body["device"] == "cpu (float32)"


def test_ready(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert [m["task"] for m in response.json()["models"]] == ["translation", "summary"]


def test_summarize_sample_article(client: TestClient, sample_article: str) -> None:
    response = client.post("/summarize", json={"text": sample_article, "title": "Un titre"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"translation", "key_points", "summary", "meta"}
    assert set(body["translation"]) == {"title", "paragraphs", "text"}
    assert len(body["translation"]["paragraphs"]) == 10
    assert all(p.strip() for p in body["translation"]["paragraphs"])
    assert body["key_points"]
    meta = body["meta"]
    assert meta["coverage"]["translated"] == meta["coverage"]["sentences"] == 15
    assert set(meta["timings_ms"]) >= {"segment", "translate", "summarize", "total"}
    assert meta["strategy"] in ("single", "map_reduce")
    assert meta["device"] == "cpu (float32)"
    assert [m["task"] for m in meta["models"]] == ["translation", "summary"]
    assert isinstance(meta["warnings"], list)


def test_translate_known_pairs(client: TestClient, memorized_pairs: list[tuple[str, str]]) -> None:
    text = "\n\n".join(fr for fr, _ in memorized_pairs[:3])
    body = client.post("/translate", json={"text": text}).json()
    assert body["translation"]["paragraphs"] == [en for _, en in memorized_pairs[:3]]
    assert body["translation"]["title"] is None
    assert "key_points" not in body


def test_max_points_option(client: TestClient, sample_article: str) -> None:
    body = client.post(
        "/summarize", json={"text": sample_article, "options": {"max_points": 3}}
    ).json()
    assert len(body["key_points"]) <= 3


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"text": ""}, "empty_text"),
        ({"text": "  \n\t  "}, "empty_text"),
        ({}, "missing_field"),
        ({"text": 42}, "invalid_request"),
        ({"text": ["une", "liste"]}, "invalid_request"),
        ({"text": "Bonjour.", "options": {"max_points": 2}}, "invalid_request"),
        ({"text": "Bonjour.", "options": {"beams": 3}}, "unknown_field"),
        ({"text": "Bonjour.", "titel": "typo"}, "unknown_field"),
    ],
)
def test_bad_input_is_422(client: TestClient, payload: dict[str, Any], code: str) -> None:
    assert_envelope(client.post("/summarize", json=payload), 422, code)


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/summarize", content=b'{"text": "oops', headers={"content-type": "application/json"}
    )
    assert_envelope(response, 422, "malformed_json")


def test_text_over_limit_is_413(settings: Settings, pipeline: Pipeline) -> None:
    small = settings.model_copy(update={"max_chars": 50})
    with TestClient(create_app(small, pipeline=pipeline)) as client:
        error = assert_envelope(
            client.post("/summarize", json={"text": "é" * 51}), 413, "text_too_long"
        )
        assert "50" in error["message"]
        assert client.post("/translate", json={"text": "é" * 50}).status_code == 200
        huge = {"text": "x" * (50 * 6 + 70_000)}
        assert_envelope(client.post("/translate", json=huge), 413, "payload_too_large")


def test_unknown_route_and_method(client: TestClient) -> None:
    assert_envelope(client.get("/nope"), 404, "not_found")
    assert_envelope(client.get("/summarize"), 405, "method_not_allowed")


def test_request_id_is_echoed(client: TestClient) -> None:
    response = client.post("/summarize", json={"text": ""}, headers={"X-Request-ID": "cms-123"})
    assert assert_envelope(response, 422, "empty_text")["request_id"] == "cms-123"


def test_unexpected_failure_is_a_clean_500(settings: Settings, pipeline: Pipeline) -> None:
    class Broken(Pipeline):
        def translate(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("secret internal detail")

    broken = Broken(pipeline.translator, pipeline.summarizer, pipeline.device, settings)
    with TestClient(create_app(settings, pipeline=broken), raise_server_exceptions=False) as client:
        error = assert_envelope(
            client.post("/translate", json={"text": "Bonjour."}), 500, "internal_error"
        )
        assert "secret" not in error["message"]


@pytest.fixture
def loading_client(settings: Settings) -> Iterator[tuple[TestClient, threading.Event]]:
    release = threading.Event()

    def slow_factory(_: Settings) -> Pipeline:
        release.wait(10)
        raise ModelLoadError("The summary model folder /x does not exist: run fetch_models.py.")

    failures: list[str] = []
    app = create_app(settings, pipeline_factory=slow_factory, on_load_failure=failures.append)
    with TestClient(app) as client:
        yield client, release
    assert failures == ["The summary model folder /x does not exist: run fetch_models.py."]


def test_not_ready_is_503_then_failure_is_reported(
    loading_client: tuple[TestClient, threading.Event],
) -> None:
    client, release = loading_client
    assert client.get("/health").json()["ready"] is False
    assert_envelope(client.get("/ready"), 503, "models_not_ready")
    response = client.post("/summarize", json={"text": "Bonjour."})
    assert_envelope(response, 503, "models_not_ready")
    assert response.headers["retry-after"]
    release.set()
    client.app.state.depeche.wait_loaded(10)  # type: ignore[attr-defined]
    error = assert_envelope(client.get("/ready"), 503, "models_not_ready")
    assert "does not exist" in error["message"]
    assert client.get("/health").json()["load_error"].startswith("The summary model")


def test_concurrent_requests_get_their_own_results(
    client: TestClient, memorized_pairs: list[tuple[str, str]]
) -> None:
    def call(i: int) -> tuple[int, list[str]]:
        order = [memorized_pairs[(i + k) % len(memorized_pairs)] for k in range(3)]
        body = client.post("/translate", json={"text": "\n".join(fr for fr, _ in order)}).json()
        assert body["translation"]["paragraphs"] == [en for _, en in order]
        return i, body["translation"]["paragraphs"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(call, range(16)))
    assert [i for i, _ in results] == list(range(16))


def test_openapi_has_the_worked_example(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    content = spec["paths"]["/summarize"]["post"]["requestBody"]["content"]["application/json"]
    example = content["examples"]["sample_article"]["value"]
    assert "Vladimir Poutine" in example["text"]


def test_overload_is_429_with_retry_after(
    client: TestClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: Any, **kwargs: Any) -> Any:
        raise OverloadedError("The translation queue is full: retry shortly.")

    monkeypatch.setattr(pipeline.translation_scheduler, "run", full)
    response = client.post("/translate", json={"text": "Bonjour."})
    assert_envelope(response, 429, "overloaded")
    assert response.headers["retry-after"] == "2"
