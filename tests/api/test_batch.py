"""POST /summarize/batch: results in order, one envelope per failed article, and the limit."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from service.api.app import create_app
from service.config import Settings
from service.pipeline import Pipeline
from tests.api.test_routes import assert_envelope


def test_results_come_back_in_order_with_their_own_errors(
    client: TestClient, memorized_pairs: list[tuple[str, str]]
) -> None:
    articles = [
        {"text": memorized_pairs[0][0]},
        {"text": "   "},
        {"text": memorized_pairs[1][0], "title": memorized_pairs[2][0]},
        {"text": "Bonjour.", "titel": "typo"},
        {"text": memorized_pairs[3][0], "options": {"max_points": 3}},
        {"text": 42},
    ]
    response = client.post(
        "/summarize/batch", json={"articles": articles}, headers={"X-Request-ID": "cms-batch-7"}
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [item["ok"] for item in results] == [True, False, True, False, True, False]

    ok = [results[0], results[2], results[4]]
    assert [set(item) for item in ok] == [{"ok", "result"}] * 3
    assert [item["result"]["translation"]["paragraphs"] for item in ok] == [
        [memorized_pairs[0][1]],
        [memorized_pairs[1][1]],
        [memorized_pairs[3][1]],
    ]
    assert ok[1]["result"]["translation"]["title"] == memorized_pairs[2][1]
    assert all(isinstance(item["result"]["key_points"], list) for item in ok)
    assert len(ok[2]["result"]["key_points"]) <= 3

    failed = {index: results[index] for index in (1, 3, 5)}
    assert all(set(item) == {"ok", "error"} for item in failed.values())
    codes = {index: item["error"]["code"] for index, item in failed.items()}
    assert codes == {1: "empty_text", 3: "unknown_field", 5: "invalid_request"}
    for index, item in failed.items():
        assert item["error"]["message"]
        assert item["error"]["request_id"] == f"cms-batch-7.{index}"


def test_more_articles_than_the_limit_is_413(
    settings: Settings, pipeline: Pipeline, tmp_path: Path
) -> None:
    limited = settings.model_copy(
        update={"batch_max_articles": 2, "jobs_db": tmp_path / "jobs.sqlite3"}
    )
    with TestClient(create_app(limited, pipeline=pipeline)) as client:
        response = client.post("/summarize/batch", json={"articles": [{"text": "Bonjour."}] * 3})
        error = assert_envelope(response, 413, "too_many_articles")
        assert "DEPECHE_BATCH_MAX_ARTICLES" in error["message"]


def test_an_empty_or_missing_list_is_422(client: TestClient) -> None:
    assert_envelope(client.post("/summarize/batch", json={"articles": []}), 422, "invalid_request")
    assert_envelope(client.post("/summarize/batch", json={}), 422, "missing_field")
    assert_envelope(
        client.post("/summarize/batch", json={"articles": [{"text": "x"}], "extra": 1}),
        422,
        "unknown_field",
    )


def test_batch_is_default_max_of_twenty() -> None:
    assert Settings().batch_max_articles == 20


def test_openapi_documents_the_batch(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/summarize/batch"]["post"]
    examples = post["requestBody"]["content"]["application/json"]["examples"]
    assert examples["two_articles"]["value"]["articles"]
    items = spec["components"]["schemas"]["BatchRequest"]["properties"]["articles"]["items"]
    assert items == {"$ref": "#/components/schemas/SummarizeRequest"}
