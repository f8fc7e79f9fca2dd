"""API keys: off by default; when on, Bearer keys guard the work endpoints; /usage counts."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.api.app import create_app
from service.api.auth import ApiKeys, ApiKeysConfigError, key_id_of, read_keys_file
from service.config import Settings
from service.pipeline import Pipeline
from tests.api.test_routes import assert_envelope

ALPHA = "alpha-0123456789abcdef"
BETA = "beta-fedcba9876543210"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keyed_client(settings: Settings, pipeline: Pipeline, tmp_path: Path) -> Iterator[TestClient]:
    keyed = settings.model_copy(
        update={"api_keys": SecretStr(f"{ALPHA}, {BETA}"), "jobs_db": tmp_path / "jobs.sqlite3"}
    )
    with TestClient(create_app(keyed, pipeline=pipeline)) as client:
        yield client


GUARDED: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/summarize", {"text": "Bonjour."}),
    ("POST", "/translate", {"text": "Bonjour."}),
    ("POST", "/summarize/batch", {"articles": [{"text": "Bonjour."}]}),
    ("POST", "/jobs", {"text": "Bonjour."}),
    ("GET", "/jobs/0123", None),
    ("DELETE", "/jobs/0123", None),
    ("GET", "/usage", None),
]


@pytest.mark.parametrize(("method", "path", "body"), GUARDED)
def test_a_missing_key_is_401(
    keyed_client: TestClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = keyed_client.request(method, path, json=body)
    assert_envelope(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "body"), GUARDED)
def test_a_bad_key_is_401(
    keyed_client: TestClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = keyed_client.request(method, path, json=body, headers=bearer("not-a-key"))
    assert_envelope(response, 401, "invalid_api_key")
    assert response.headers["www-authenticate"] == "Bearer"


def test_other_schemes_are_not_keys(keyed_client: TestClient) -> None:
    response = keyed_client.post(
        "/translate", json={"text": "Bonjour."}, headers={"Authorization": f"Basic {ALPHA}"}
    )
    assert_envelope(response, 401, "unauthorized")


def test_a_good_key_passes(
    keyed_client: TestClient, memorized_pairs: list[tuple[str, str]]
) -> None:
    fr, en = memorized_pairs[0]
    for key in (ALPHA, BETA):
        response = keyed_client.post("/translate", json={"text": fr}, headers=bearer(key))
        assert response.status_code == 200, response.text
        assert response.json()["translation"]["paragraphs"] == [en]
    assert keyed_client.get("/usage", headers=bearer(ALPHA)).status_code == 200


@pytest.mark.parametrize("path", ["/health", "/ready", "/openapi.json", "/docs"])
def test_operations_and_docs_stay_open(keyed_client: TestClient, path: str) -> None:
    assert keyed_client.get(path).status_code == 200


def test_keys_are_off_by_default(client: TestClient) -> None:
    assert client.get("/usage").status_code == 200
    assert ApiKeys.from_settings(Settings()).enabled is False


def test_keys_from_a_file(
    settings: Settings, pipeline: Pipeline, tmp_path: Path, memorized_pairs: list[tuple[str, str]]
) -> None:
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text(f"# newsroom CMS\n{ALPHA}\n\n  # {BETA} (revoked)\n", encoding="utf-8")
    assert read_keys_file(keys_file) == [ALPHA]
    keyed = settings.model_copy(
        update={"api_keys_file": keys_file, "jobs_db": tmp_path / "jobs.sqlite3"}
    )
    with TestClient(create_app(keyed, pipeline=pipeline)) as client:
        fr, _ = memorized_pairs[1]
        assert client.post("/translate", json={"text": fr}, headers=bearer(ALPHA)).is_success
        assert_envelope(
            client.post("/translate", json={"text": fr}, headers=bearer(BETA)),
            401,
            "invalid_api_key",
        )
        assert_envelope(client.post("/translate", json={"text": fr}), 401, "unauthorized")


def test_an_unreadable_keys_file_stops_the_start(settings: Settings, tmp_path: Path) -> None:
    missing = settings.model_copy(update={"api_keys_file": tmp_path / "absent.txt"})
    with pytest.raises(ApiKeysConfigError, match=r"absent\.txt"):
        ApiKeys.from_settings(missing)


def test_keys_are_kept_hashed() -> None:
    keys = ApiKeys([ALPHA])
    assert ALPHA not in repr(vars(keys))
    assert keys.identify(ALPHA) == key_id_of(ALPHA)
    assert keys.identify(ALPHA + "x") is None
    assert len(key_id_of(ALPHA)) == 8


def test_keys_never_reach_the_log(
    keyed_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        keyed_client.post("/translate", json={"text": "Bonjour."}, headers=bearer("wrong-key"))
        keyed_client.get("/usage", headers=bearer(ALPHA))
    assert ALPHA not in caplog.text
    assert "wrong-key" not in caplog.text


def test_usage_counts_articles_and_characters_per_key(
    keyed_client: TestClient, memorized_pairs: list[tuple[str, str]]
) -> None:
    (fr0, _), (fr1, _), (fr2, _) = memorized_pairs[:3]
    assert keyed_client.post("/translate", json={"text": fr0}, headers=bearer(ALPHA)).is_success
    assert keyed_client.post(
        "/summarize", json={"text": fr1, "title": "Titre"}, headers=bearer(ALPHA)
    ).is_success
    batch = {"articles": [{"text": fr2}, {"text": ""}]}  # the empty one is not counted
    assert keyed_client.post("/summarize/batch", json=batch, headers=bearer(BETA)).is_success
    assert keyed_client.post("/jobs", json={"text": fr0}, headers=bearer(BETA)).status_code == 202
    # Refused requests count for nothing.
    keyed_client.post("/translate", json={"text": ""}, headers=bearer(ALPHA))
    keyed_client.post("/translate", json={"text": fr0}, headers=bearer("wrong"))

    usage = keyed_client.get("/usage", headers=bearer(ALPHA)).json()
    alpha, beta = key_id_of(ALPHA), key_id_of(BETA)
    assert usage["keys"] == {
        alpha: {"articles": 2, "characters": len(fr0) + len(fr1) + len("Titre")},
        beta: {"articles": 2, "characters": len(fr2) + len(fr0)},
    }
    assert usage["total"] == {
        "articles": 4,
        "characters": 2 * len(fr0) + len(fr1) + len(fr2) + len("Titre"),
    }
    assert usage["since"]


def test_openapi_declares_the_bearer_scheme(keyed_client: TestClient) -> None:
    spec = keyed_client.get("/openapi.json").json()
    assert any(s.get("scheme") == "bearer" for s in spec["components"]["securitySchemes"].values())
    assert spec["paths"]["/summarize"]["post"].get("security")
    assert not spec["paths"]["/health"]["get"].get("security")
    assert "example" in str(spec["paths"]["/usage"]["get"]["responses"]["200"])


def test_usage_survives_a_restart_on_the_same_jobs_database(
    settings: Settings, pipeline: Pipeline, tmp_path: Path, memorized_pairs: list[tuple[str, str]]
) -> None:
    keyed = settings.model_copy(
        update={"api_keys": SecretStr(ALPHA), "jobs_db": tmp_path / "jobs.sqlite3"}
    )
    fr, _ = memorized_pairs[0]
    since = None
    for restart in (1, 2):
        with TestClient(create_app(keyed, pipeline=pipeline)) as client:
            assert client.post("/translate", json={"text": fr}, headers=bearer(ALPHA)).is_success
            usage = client.get("/usage", headers=bearer(ALPHA)).json()
        assert usage["storage"] == "sqlite"
        assert usage["keys"][key_id_of(ALPHA)] == {
            "articles": restart,
            "characters": restart * len(fr),
        }
        since = since or usage["since"]
        assert usage["since"] == since, "counting started with the first service, not this one"


def test_replicas_on_one_redis_add_up_their_usage(
    settings: Settings,
    pipeline: Pipeline,
    memorized_pairs: list[tuple[str, str]],
    redis_url: str,
    redis_prefix: str,
) -> None:
    shared = settings.model_copy(
        update={
            "api_keys": SecretStr(f"{ALPHA},{BETA}"),
            "jobs_backend": "redis",
            "redis_url": redis_url,
            "redis_prefix": redis_prefix,
            "jobs_workers": 0,
        }
    )
    fr, _ = memorized_pairs[0]
    with (
        TestClient(create_app(shared, pipeline=pipeline)) as one,
        TestClient(create_app(shared, pipeline=pipeline)) as two,
    ):
        assert one.post("/translate", json={"text": fr}, headers=bearer(ALPHA)).is_success
        assert two.post("/translate", json={"text": fr}, headers=bearer(ALPHA)).is_success
        assert two.post("/translate", json={"text": fr}, headers=bearer(BETA)).is_success
        for client in (one, two):
            usage = client.get("/usage", headers=bearer(ALPHA)).json()
            assert usage["storage"] == "redis"
            assert usage["keys"] == {
                key_id_of(ALPHA): {"articles": 2, "characters": 2 * len(fr)},
                key_id_of(BETA): {"articles": 1, "characters": len(fr)},
            }


def test_usage_falls_back_to_memory_and_says_so(
    settings: Settings, pipeline: Pipeline, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    broken = settings.model_copy(update={"jobs_db": blocker / "jobs.sqlite3"})
    with (
        caplog.at_level(logging.WARNING),
        TestClient(create_app(broken, pipeline=pipeline)) as client,
    ):
        assert client.post("/translate", json={"text": "Bonjour."}).is_success
        usage = client.get("/usage").json()
    assert usage["storage"] == "memory"
    assert usage["total"]["articles"] == 1
    assert "usage counts are kept in memory only" in caplog.text
