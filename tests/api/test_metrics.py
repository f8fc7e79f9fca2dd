"""GET /metrics: the families after real work, labels that stay bounded, requests counted by route
template and status class, values read at scrape time, and the key it needs with keys on."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from pydantic import SecretStr

from service.api.app import create_app
from service.config import Settings
from service.engines.base import Encoded, Generated, GenerationSettings
from service.metrics import FAILURE_REASONS, OTHER, Metrics, failure_reason
from service.pipeline import Pipeline
from tests.api.test_jobs import jobs_settings, memorized_article, wait_until
from tests.api.test_routes import assert_envelope
from tests.fakes import RecordingEngine, scheduler_for
from tests.jobs.receiver import webhook_receiver

FAMILIES = {
    "depeche_requests": "counter",
    "depeche_request_seconds": "histogram",
    "depeche_stage_seconds": "histogram",
    "depeche_queue_depth": "gauge",
    "depeche_batch_size": "histogram",
    "depeche_tokens": "counter",
    "depeche_failures": "counter",
    "depeche_jobs": "gauge",
    "depeche_webhook_deliveries": "counter",
    "depeche_model_info": "gauge",
    "depeche_models_loaded": "gauge",
}


def scrape(client: TestClient, **headers: str) -> dict[str, Any]:
    """The exposition parsed by prometheus_client's own parser: family name -> family."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def samples(families: dict[str, Any], name: str, suffix: str = "") -> list[Sample]:
    return [s for s in families[name].samples if s.name == name + suffix]


def value(families: dict[str, Any], name: str, suffix: str = "", **labels: str) -> float:
    found = [s.value for s in samples(families, name, suffix) if s.labels == labels]
    assert len(found) == 1, (name, labels, families[name].samples)
    return float(found[0])


@pytest.fixture
def app_client(settings: Settings, pipeline: Pipeline, tmp_path: Path) -> Iterator[TestClient]:
    """An app of its own (its own registry), so counts start at zero."""
    own = settings.model_copy(update={"jobs_db": tmp_path / "jobs.sqlite3"})
    with TestClient(create_app(own, pipeline=pipeline)) as client:
        yield client


def test_every_family_is_there_after_a_summarize(
    app_client: TestClient, pipeline: Pipeline, memorized_pairs: list[tuple[str, str]]
) -> None:
    body, _ = memorized_article(memorized_pairs)
    response = app_client.post("/summarize", json=body)
    assert response.status_code == 200, response.text
    meta = response.json()["meta"]
    families = scrape(app_client)

    for name, kind in FAMILIES.items():
        assert families[name].type == kind, name
    assert value(families, "depeche_requests", "_total", route="/summarize", status="2xx") == 1
    for stage in ("segment", "translate", "summarize", "total"):
        assert value(families, "depeche_stage_seconds", "_count", stage=stage) == 1
        seconds = value(families, "depeche_stage_seconds", "_sum", stage=stage)
        assert seconds == pytest.approx(meta["timings_ms"][stage] / 1000)
    # The token counts are the response's own, model by model.
    tokens = meta["tokens"]
    for model in ("translation", "summary"):
        for direction in ("input", "output"):
            counted = value(families, "depeche_tokens", "_total", model=model, direction=direction)
            assert counted == tokens[f"{model}_{direction}"] > 0
    # Batches: at least one per model, and every sentence of the article in one of them.
    assert value(families, "depeche_batch_size", "_count", model="translation") >= 1
    assert value(families, "depeche_batch_size", "_sum", model="translation") == len(
        memorized_pairs
    )
    assert value(families, "depeche_batch_size", "_count", model="summary") >= 1
    # Read at scrape time: nothing waits now; the models are the pipeline's.
    assert value(families, "depeche_queue_depth", model="translation") == 0
    assert value(families, "depeche_queue_depth", model="summary") == 0
    assert value(families, "depeche_models_loaded") == 1
    info = {
        (s.labels["task"], s.labels["id"], s.labels["revision"], s.labels["engine"])
        for s in samples(families, "depeche_model_info")
    }
    assert info == {(m.task, m.id, m.revision, m.engine) for m in pipeline.models()}
    assert all(s.value == 1 for s in samples(families, "depeche_model_info"))
    statuses = {s.labels["status"] for s in samples(families, "depeche_jobs")}
    assert statuses == {"queued", "running", "done", "failed", "cancelled"}, families[
        "depeche_jobs"
    ]
    for reason in ("overloaded", "models_not_ready", "inference_failed"):
        assert value(families, "depeche_failures", "_total", reason=reason) == 0
    assert "process_resident_memory_bytes" in families


def test_requests_count_by_route_template_and_status_class(app_client: TestClient) -> None:
    ids = [uuid.uuid4().hex for _ in range(3)]
    for job_id in ids:
        assert_envelope(app_client.get(f"/jobs/{job_id}"), 404, "job_not_found")
    stray = f"/nothing-here-{uuid.uuid4().hex}"
    assert_envelope(app_client.get(stray), 404, "not_found")
    assert_envelope(app_client.post("/translate", json={"text": " "}), 422, "empty_text")
    assert app_client.get("/health").status_code == 200
    response = app_client.get("/metrics")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}

    assert value(families, "depeche_requests", "_total", route="/jobs/{job_id}", status="4xx") == 3
    assert value(families, "depeche_requests", "_total", route="unmatched", status="4xx") == 1
    assert value(families, "depeche_requests", "_total", route="/translate", status="4xx") == 1
    assert value(families, "depeche_requests", "_total", route="/health", status="2xx") == 1
    assert value(families, "depeche_request_seconds", "_count", route="/jobs/{job_id}") == 3
    assert value(families, "depeche_failures", "_total", reason="job_not_found") == 3
    assert value(families, "depeche_failures", "_total", reason="not_found") == 1
    assert value(families, "depeche_failures", "_total", reason="empty_text") == 1
    for raw in [*ids, stray]:
        assert raw not in response.text


def test_a_body_refused_before_routing_counts_under_its_route(app_client: TestClient) -> None:
    """The size check answers 413 before routing runs; the route is still the template."""
    huge = b"x" * (Settings().max_chars * 7)
    response = app_client.post(
        "/summarize", content=huge, headers={"content-type": "application/json"}
    )
    assert_envelope(response, 413, "payload_too_large")
    families = scrape(app_client)
    assert value(families, "depeche_requests", "_total", route="/summarize", status="4xx") == 1
    assert value(families, "depeche_failures", "_total", reason="payload_too_large") == 1


def test_labels_hold_no_key_address_or_request_id(
    settings: Settings, pipeline: Pipeline, tmp_path: Path
) -> None:
    key = f"key-{uuid.uuid4().hex}"
    request_id = f"cms-{uuid.uuid4().hex[:12]}"
    keyed = settings.model_copy(
        update={"api_keys": SecretStr(key), "jobs_db": tmp_path / "jobs.sqlite3"}
    )
    app = create_app(keyed, pipeline=pipeline)
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {key}", "X-Request-ID": request_id}
        assert client.post("/translate", json={"text": "Bonjour."}, headers=headers).is_success
        client.post("/translate", json={"text": "Bonjour."}, headers={"X-Request-ID": "x-1"})
        client.get(f"/{request_id}", headers=headers)
        text = client.get("/metrics", headers=headers).text
    for secret in (key, request_id, "testclient"):
        assert secret not in text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    templates = set(app.openapi()["paths"]) | {"/metrics", "unmatched"}
    for sample in families["depeche_requests"].samples:
        assert sample.labels["route"] in templates, sample
        assert sample.labels["status"] in {"2xx", "4xx", "5xx"}, sample
    for sample in families["depeche_failures"].samples:
        assert sample.labels["reason"] in FAILURE_REASONS, sample
    # Only fixed labels: every family's label names come from a short, known list.
    allowed = {"route", "status", "stage", "model", "direction", "reason", "outcome", "le"}
    allowed |= {"task", "id", "revision", "engine"}
    for family in families.values():
        if family.name.startswith("depeche_"):
            for sample in family.samples:
                assert set(sample.labels) <= allowed, sample


def test_a_code_outside_the_fixed_set_counts_as_other() -> None:
    assert failure_reason("overloaded") == "overloaded"
    assert failure_reason("inference_failed") == "inference_failed"
    assert failure_reason("text_too_long") == "text_too_long"
    assert failure_reason(f"made-up-{uuid.uuid4().hex}") == OTHER


class _GatedEngine(RecordingEngine):
    """Holds its first batch until released, so that later work waits in the queue."""

    def __init__(self) -> None:
        super().__init__(window=64)
        self.started = threading.Event()
        self.release = threading.Event()

    def generate(self, inputs: Sequence[Encoded], settings: GenerationSettings) -> Generated:
        self.started.set()
        assert self.release.wait(10)
        return super().generate(inputs, settings)


def test_queue_depth_is_read_at_scrape_time() -> None:
    engine = _GatedEngine()
    translation = scheduler_for(engine, batch_tokens=64)
    summary = scheduler_for(RecordingEngine(window=64, task="summary"))
    holder = SimpleNamespace(
        translation_scheduler=translation, summary_scheduler=summary, models=lambda: []
    )
    metrics = Metrics(pipeline=lambda: holder)  # type: ignore[arg-type, return-value]
    translation.on_batch = metrics.observe_batch
    callers = [
        threading.Thread(target=translation.run, args=(engine.encode(texts), GenerationSettings()))
        for texts in (["un deux"], ["trois", "quatre", "cinq"])
    ]
    try:
        callers[0].start()
        assert engine.started.wait(10)
        callers[1].start()  # its three texts wait behind the held batch
        deadline = time.monotonic() + 10
        while translation.queued < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        families = {
            f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())
        }
        assert value(families, "depeche_queue_depth", model="translation") == 3
        assert value(families, "depeche_queue_depth", model="summary") == 0
    finally:
        engine.release.set()
        for caller in callers:
            caller.join(10)
        translation.close()
        summary.close()
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    assert value(families, "depeche_queue_depth", model="translation") == 0
    assert value(families, "depeche_batch_size", "_sum", model="translation") == 4


def test_jobs_and_webhook_deliveries(
    settings: Settings, pipeline: Pipeline, tmp_path: Path, memorized_pairs: list[tuple[str, str]]
) -> None:
    body, _ = memorized_article(memorized_pairs)
    with webhook_receiver([500, 200]) as receiver:
        app = create_app(jobs_settings(settings, tmp_path), pipeline=pipeline)
        with TestClient(app) as client:
            job_id = client.post("/jobs", json={**body, "callback_url": receiver.url}).json()["id"]
            job = wait_until(
                client, job_id, lambda j: j["webhook"]["state"] in ("delivered", "failed")
            )
            assert job["webhook"]["state"] == "delivered"
            deadline = time.monotonic() + 10
            while True:  # the outcome is counted right after the delivery is recorded
                families = scrape(client)
                delivered = value(
                    families, "depeche_webhook_deliveries", "_total", outcome="delivered"
                )
                if delivered or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
    assert delivered == 1
    assert value(families, "depeche_webhook_deliveries", "_total", outcome="failed") == 0
    assert value(families, "depeche_jobs", status="done") == 1
    assert value(families, "depeche_jobs", status="queued") == 0
    assert value(families, "depeche_stage_seconds", "_count", stage="summarize") == 1


def test_a_failed_job_counts_its_error_code(
    settings: Settings, pipeline: Pipeline, tmp_path: Path
) -> None:
    class Broken:
        def __getattr__(self, name: str) -> Any:
            return getattr(pipeline, name)

        def summarize(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom")

    app = create_app(jobs_settings(settings, tmp_path), pipeline=Broken())  # type: ignore[arg-type]
    with TestClient(app) as client:
        job = wait_until(client, client.post("/jobs", json={"text": "Bonjour."}).json()["id"])
        assert job["status"] == "failed"
        families = scrape(client)
    assert value(families, "depeche_jobs", status="failed") == 1
    assert value(families, "depeche_failures", "_total", reason="internal_error") == 1


def test_a_crash_counts_as_5xx_and_internal_error(settings: Settings, pipeline: Pipeline) -> None:
    class Broken(Pipeline):
        def translate(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom")

    broken = Broken(pipeline.translator, pipeline.summarizer, pipeline.device, settings)
    try:
        app = create_app(settings, pipeline=broken)
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.post("/translate", json={"text": "Bonjour."}).status_code == 500
            families = scrape(client)
    finally:
        broken.close()
    assert value(families, "depeche_requests", "_total", route="/translate", status="5xx") == 1
    assert value(families, "depeche_failures", "_total", reason="internal_error") == 1


def test_while_models_load_the_probe_is_not_a_failure(settings: Settings) -> None:
    release = threading.Event()

    def slow_factory(_: Settings) -> Pipeline:
        release.wait(10)
        raise RuntimeError("never loads")

    app = create_app(settings, pipeline_factory=slow_factory)
    with TestClient(app) as client:
        assert_envelope(client.get("/ready"), 503, "models_not_ready")
        assert_envelope(
            client.post("/translate", json={"text": "Bonjour."}), 503, "models_not_ready"
        )
        families = scrape(client)
        release.set()
    assert value(families, "depeche_models_loaded") == 0
    assert samples(families, "depeche_queue_depth") == []
    assert value(families, "depeche_requests", "_total", route="/ready", status="5xx") == 1
    assert value(families, "depeche_failures", "_total", reason="models_not_ready") == 1


@pytest.fixture
def keyed(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={"api_keys": SecretStr("metrics-key"), "jobs_db": tmp_path / "jobs.sqlite3"}
    )


def test_with_keys_on_metrics_need_a_key(keyed: Settings, pipeline: Pipeline) -> None:
    with TestClient(create_app(keyed, pipeline=pipeline)) as client:
        assert_envelope(client.get("/metrics"), 401, "unauthorized")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert_envelope(wrong, 401, "invalid_api_key")
        scrape(client, Authorization="Bearer metrics-key")


def test_metrics_public_opens_them_with_keys_on(keyed: Settings, pipeline: Pipeline) -> None:
    public = keyed.model_copy(update={"metrics_public": True})
    with TestClient(create_app(public, pipeline=pipeline)) as client:
        families = scrape(client)
        # Only /metrics opens: the work endpoints still need the key.
        assert_envelope(client.post("/translate", json={"text": "Bonjour."}), 401, "unauthorized")
    assert "depeche_requests" in families


def test_metrics_are_left_out_of_the_openapi_document(app_client: TestClient) -> None:
    assert "/metrics" not in app_client.get("/openapi.json").json()["paths"]
