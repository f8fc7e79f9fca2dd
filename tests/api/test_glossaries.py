"""Stored glossaries over HTTP on both backends, their entry checks, and `glossary`,
`do_not_translate` and `glossary_id` in /translate, /summarize, /summarize/batch and /jobs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.api.app import create_app
from service.config import Settings
from service.glossary.terms import MAX_ENTRIES
from service.pipeline import Pipeline
from tests.api.test_jobs import wait_until

SWEDEN_FR = "Il a produit plus de 1000 timbres pour la Suède et 28 autres pays."
SWEDEN_EN = "He produced over 1,000 stamps for {} and 28 other countries."
POLITICS = {"Conseil de sécurité nationale": "National Security Council", "Suède": "Sweden"}


def app_settings(settings: Settings, tmp_path: Path, **update: Any) -> Settings:
    return settings.model_copy(update={"jobs_db": tmp_path / "jobs.sqlite3", **update})


@pytest.fixture
def api(
    settings: Settings, pipeline: Pipeline, tmp_path: Path, backend: dict[str, Any]
) -> Iterator[TestClient]:
    app = create_app(app_settings(settings, tmp_path, **backend), pipeline=pipeline)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def local(settings: Settings, pipeline: Pipeline, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings(settings, tmp_path), pipeline=pipeline)) as client:
        yield client


def create(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/glossaries", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def error_of(response: Any, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    error: dict[str, str] = response.json()["error"]
    return error


def test_create_list_read_and_delete(api: TestClient) -> None:
    response = api.post("/glossaries", json={"name": "Politique", "entries": POLITICS})
    assert response.status_code == 201
    created = response.json()
    assert {k: created[k] for k in ("name", "entry_count")} == {
        "name": "Politique",
        "entry_count": 2,
    }
    assert response.headers["location"] == f"/glossaries/{created['id']}"
    tsv = create(
        api,
        {
            "name": "Institutions",
            "entries": "Sénat\tSenate\nAssemblée nationale\tNational Assembly\n",
            "entries_format": "tsv",
        },
    )
    listed = api.get("/glossaries").json()["glossaries"]
    assert [g["id"] for g in listed] == [created["id"], tsv["id"]]
    assert listed[0] == created
    read = api.get(f"/glossaries/{tsv['id']}").json()
    assert read["entries"] == {"Sénat": "Senate", "Assemblée nationale": "National Assembly"}
    assert read["entry_count"] == 2
    deleted = api.delete(f"/glossaries/{tsv['id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert error_of(api.get(f"/glossaries/{tsv['id']}"), 404)["code"] == "glossary_not_found"
    assert error_of(api.delete(f"/glossaries/{tsv['id']}"), 404)["code"] == "glossary_not_found"
    assert [g["id"] for g in api.get("/glossaries").json()["glossaries"]] == [created["id"]]


def test_csv_entries_follow_spreadsheet_quoting(local: TestClient) -> None:
    created = create(
        local,
        {
            "name": "CSV",
            "entries": '"Paris, France",Paris\nSénat,Senate\n',
            "entries_format": "csv",
        },
    )
    entries = local.get(f"/glossaries/{created['id']}").json()["entries"]
    assert entries == {"Paris, France": "Paris", "Sénat": "Senate"}


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        (
            {"name": "x", "entries": {" ONU": "UN"}},
            "invalid_glossary",
            'entry " ONU": the source term starts or ends with whitespace',
        ),
        (
            {"name": "x", "entries": {"ONU": ""}},
            "invalid_glossary",
            'entry "ONU": the target term is empty',
        ),
        ({"name": "x", "entries": {"": "x"}}, "invalid_glossary", "the source term is empty"),
        (
            {"name": "x", "entries": {"Élysée": "Elysee", "ELYSEE": "x"}},
            "invalid_glossary",
            'entry "ELYSEE" duplicates "Élysée"',
        ),
        (
            {"name": "x", "entries": "ONU\tUN\nSénat \tSenate\n", "entries_format": "tsv"},
            "invalid_glossary",
            'entry line 2 "Sénat "',
        ),
        (
            {"name": "x", "entries": "ONU\tUN\tde trop\n", "entries_format": "tsv"},
            "invalid_glossary",
            "Line 1 of the TSV entries has 3 field(s)",
        ),
        ({"name": "x", "entries": "ONU\tUN\n"}, "invalid_glossary", '"entries_format"'),
        (
            {"name": "x", "entries": {"ONU": "UN"}, "entries_format": "csv"},
            "invalid_glossary",
            "leave it out",
        ),
        ({"name": " ", "entries": {"ONU": "UN"}}, "invalid_glossary", "name is empty"),
        ({"name": "x", "entries": {"ONU": "UN"}, "extra": 1}, "unknown_field", "extra"),
    ],
)
def test_bad_glossaries_are_refused_naming_the_entry(
    local: TestClient, body: dict[str, Any], code: str, fragment: str
) -> None:
    error = error_of(local.post("/glossaries", json=body), 422)
    assert error["code"] == code
    assert fragment in error["message"]
    assert local.get("/glossaries").json()["glossaries"] == []


def test_too_many_entries_are_413(local: TestClient) -> None:
    entries = "".join(f"terme {i}\tterm {i}\n" for i in range(MAX_ENTRIES + 1))
    response = local.post(
        "/glossaries", json={"name": "big", "entries": entries, "entries_format": "tsv"}
    )
    assert error_of(response, 413)["code"] == "glossary_too_large"


def test_glossaries_need_the_api_key(
    settings: Settings, pipeline: Pipeline, tmp_path: Path
) -> None:
    keyed = app_settings(settings, tmp_path, api_keys=SecretStr("k1"))
    with TestClient(create_app(keyed, pipeline=pipeline)) as client:
        assert error_of(client.get("/glossaries"), 401)["code"] == "unauthorized"
        assert error_of(client.post("/glossaries", json={}), 401)["code"] == "unauthorized"
        auth = {"Authorization": "Bearer k1"}
        assert client.get("/glossaries", headers=auth).status_code == 200


def test_a_request_glossary_is_applied_and_reported(local: TestClient) -> None:
    body = {"text": SWEDEN_FR, "glossary": {"Suède": "the Kingdom of Sweden"}}
    answer = local.post("/translate", json=body).json()
    assert answer["translation"]["paragraphs"] == [SWEDEN_EN.format("the Kingdom of Sweden")]
    assert answer["meta"]["glossary"] == [
        {
            "source": "Suède",
            "target": "the Kingdom of Sweden",
            "kind": "glossary",
            "sentences": [0],
            "applied": True,
        }
    ]
    summary = local.post("/summarize", json={**body, "do_not_translate": ["Libération"]}).json()
    assert summary["translation"]["paragraphs"] == answer["translation"]["paragraphs"]
    assert summary["meta"]["glossary"] == answer["meta"]["glossary"]


def test_a_stored_glossary_is_used_and_the_request_overrides_it(api: TestClient) -> None:
    stored = create(api, {"name": "Politique", "entries": POLITICS})
    body = {"text": SWEDEN_FR, "glossary_id": stored["id"]}
    answer = api.post("/translate", json=body).json()
    assert answer["translation"]["paragraphs"] == [SWEDEN_EN.format("Sweden")]
    assert [(g["source"], g["target"], g["applied"]) for g in answer["meta"]["glossary"]] == [
        ("Suède", "Sweden", True)
    ]
    own = api.post("/translate", json={**body, "glossary": {"SUEDE": "the Kingdom of Sweden"}})
    assert own.json()["translation"]["paragraphs"] == [SWEDEN_EN.format("the Kingdom of Sweden")]
    kept = api.post("/translate", json={**body, "do_not_translate": ["Suède"]}).json()
    assert kept["translation"]["paragraphs"] == [SWEDEN_EN.format("Suède")]
    assert kept["meta"]["glossary"][0]["kind"] == "do_not_translate"


def test_an_unknown_glossary_id_or_a_bad_term_is_422(local: TestClient) -> None:
    response = local.post("/translate", json={"text": SWEDEN_FR, "glossary_id": "nope"})
    error = error_of(response, 422)
    assert error["code"] == "unknown_glossary"
    assert "'nope'" in error["message"]
    response = local.post("/summarize", json={"text": SWEDEN_FR, "glossary": {"Suède ": "Sweden"}})
    assert error_of(response, 422)["code"] == "invalid_glossary"
    response = local.post(
        "/translate",
        json={"text": SWEDEN_FR, "glossary": {"ONU": "UN"}, "do_not_translate": ["onu"]},
    )
    assert "also the glossary source" in error_of(response, 422)["message"]


def test_batch_items_resolve_their_own_glossaries(local: TestClient) -> None:
    stored = create(local, {"name": "Politique", "entries": POLITICS})
    answer = local.post(
        "/summarize/batch",
        json={
            "articles": [
                {"text": SWEDEN_FR, "glossary_id": stored["id"]},
                {"text": SWEDEN_FR, "glossary_id": "missing"},
                {"text": SWEDEN_FR, "do_not_translate": ["Suède"]},
            ]
        },
    ).json()["results"]
    assert answer[0]["ok"]
    assert answer[0]["result"]["translation"]["paragraphs"] == [SWEDEN_EN.format("Sweden")]
    assert not answer[1]["ok"]
    assert answer[1]["error"]["code"] == "unknown_glossary"
    assert answer[2]["result"]["translation"]["paragraphs"] == [SWEDEN_EN.format("Suède")]


def test_results_are_cached_per_glossary(
    settings: Settings, pipeline: Pipeline, tmp_path: Path
) -> None:
    cached = app_settings(settings, tmp_path, cache_size=8)
    with TestClient(create_app(cached, pipeline=pipeline)) as client:
        answers = []
        for glossary in (
            {"Suède": "the Kingdom of Sweden"},
            {"Suède": "Sweden"},
            {"Suède": "the Kingdom of Sweden"},
        ):
            response = client.post("/translate", json={"text": SWEDEN_FR, "glossary": glossary})
            answers.append(
                (response.headers["x-cache"], response.json()["translation"]["paragraphs"][0])
            )
    assert answers == [
        ("miss", SWEDEN_EN.format("the Kingdom of Sweden")),
        ("miss", SWEDEN_EN.format("Sweden")),
        ("hit", SWEDEN_EN.format("the Kingdom of Sweden")),
    ]


def test_a_job_keeps_the_entries_it_was_submitted_with(
    settings: Settings, pipeline: Pipeline, tmp_path: Path
) -> None:
    """The glossary is resolved at submission: deleting it before the job runs changes nothing."""
    queued_only = app_settings(settings, tmp_path, jobs_workers=0)
    with TestClient(create_app(queued_only, pipeline=pipeline)) as client:
        stored = create(client, {"name": "Suède", "entries": {"Suède": "the Kingdom of Sweden"}})
        unknown = client.post("/jobs", json={"text": SWEDEN_FR, "glossary_id": "missing"})
        assert error_of(unknown, 422)["code"] == "unknown_glossary"
        job = client.post("/jobs", json={"text": SWEDEN_FR, "glossary_id": stored["id"]}).json()
        assert client.delete(f"/glossaries/{stored['id']}").status_code == 204
    with TestClient(create_app(app_settings(settings, tmp_path), pipeline=pipeline)) as client:
        done = wait_until(client, job["id"])
    assert done["status"] == "done", done
    result = done["result"]
    assert result["translation"]["paragraphs"] == [SWEDEN_EN.format("the Kingdom of Sweden")]
    assert result["meta"]["glossary"][0]["applied"] is True
