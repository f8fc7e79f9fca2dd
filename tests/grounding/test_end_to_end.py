"""Grounding through the pipeline and the API on the tiny models: sentences, checks, options.

The tiny Marian reproduces the memorized pairs, so sentences and translation checks are known
exactly. The summary model says nonsense, so its points are checked for structure. The planted
summarizer (`summary-planted`, scripts/make_test_models.py) turns one English article into a
fixed summary whose second point carries a wrong number: that point, and only that one, must be
flagged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.cli import main
from service.config import Settings
from service.jobs.runner import summarize_request
from service.pipeline import Pipeline
from service.text.segment import normalize_text, split_sentences
from tests.api.test_routes import assert_envelope
from tests.conftest import DATA, model_env

PLANTED = json.loads((DATA / "planted_summary.json").read_text(encoding="utf-8"))
KINDS = {"number", "date", "name", "negation"}


def assert_grounding_structure(body: dict[str, Any]) -> None:
    """One entry per key point, same text and order; sources and found_in name real sentences
    of the right paragraph; `supported` is the conjunction of the checks."""
    sentences = {s["id"]: s for s in body["translation"]["sentences"]}
    assert len(body["grounding"]) == len(body["key_points"])
    for point, entry in zip(body["key_points"], body["grounding"], strict=True):
        assert entry["text"] == point
        scores = [source["score"] for source in entry["sources"]]
        assert scores == sorted(scores, reverse=True)
        assert len(scores) <= 3
        for source in entry["sources"]:
            assert sentences[source["sentence"]]["paragraph"] == source["paragraph"]
            assert 0 < source["score"] <= 1
        for check in entry["checks"]:
            assert check["kind"] in KINDS
            assert all(i in sentences for i in check["found_in"])
            assert check["supported"] == bool(check["found_in"])
            assert (check["note"] is None) == check["supported"]
        assert entry["supported"] == all(c["supported"] for c in entry["checks"])


def test_summarize_numbers_every_sentence_and_grounds_every_point(
    client: TestClient, memorized_pairs: list[tuple[str, str]]
) -> None:
    sent = [f for f, _ in memorized_pairs]
    en = [e for _, e in memorized_pairs]
    response = client.post(
        "/summarize",
        json={
            "title": sent[0],
            "text": f"{sent[1]} {sent[2]}\n\n{sent[3]}\n\n{sent[4]}",
            "captions": [sent[5]],
        },
    )
    fr = [normalize_text(f) for f in sent]  # `source`: as segmented, thin spaces made plain
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["translation"]["sentences"] == [
        {"id": 0, "paragraph": "title", "caption": None, "source": fr[0], "text": en[0]},
        {"id": 1, "paragraph": 0, "caption": None, "source": fr[1], "text": en[1]},
        {"id": 2, "paragraph": 0, "caption": None, "source": fr[2], "text": en[2]},
        {"id": 3, "paragraph": 1, "caption": None, "source": fr[3], "text": en[3]},
        {"id": 4, "paragraph": 2, "caption": None, "source": fr[4], "text": en[4]},
        {"id": 5, "paragraph": "caption", "caption": 0, "source": fr[5], "text": en[5]},
    ]
    # dix-neuf / nineteen, 1000 / 1,000, 28 / 28: the memorized translations keep every number.
    assert body["translation_checks"] == []
    assert not any("number(s) differ" in w for w in body["meta"]["warnings"])
    assert_grounding_structure(body)
    assert body["meta"]["timings_ms"]["ground"] >= 0


def test_translate_has_sentences_and_checks_too(
    client: TestClient, memorized_pairs: list[tuple[str, str]]
) -> None:
    body = client.post("/translate", json={"text": memorized_pairs[3][0]}).json()
    assert [s["text"] for s in body["translation"]["sentences"]] == [memorized_pairs[3][1]]
    assert body["translation_checks"] == []
    assert "grounding" not in body


def test_english_input_sentences_are_the_original(client: TestClient) -> None:
    body = client.post(
        "/summarize", json={"text": "\n\n".join(PLANTED["article"]), "source_lang": "en"}
    ).json()
    assert [s["source"] for s in body["translation"]["sentences"]] == PLANTED["article"]
    assert [s["text"] for s in body["translation"]["sentences"]] == PLANTED["article"]
    assert body["translation_checks"] == []
    assert_grounding_structure(body)


def test_a_bad_unsupported_option_is_422(client: TestClient) -> None:
    response = client.post(
        "/summarize", json={"text": "Bonjour.", "options": {"unsupported": "hide"}}
    )
    assert_envelope(response, 422, "invalid_request")
    response = client.post(
        "/translate", json={"text": "Bonjour.", "options": {"unsupported": "drop"}}
    )
    assert_envelope(response, 422, "unknown_field")


@pytest.fixture(scope="module")
def planted_settings(settings: Settings, test_models: Path) -> Settings:
    return settings.model_copy(update={"summary_model": str(test_models / "summary-planted")})


@pytest.fixture(scope="module")
def planted_pipeline(planted_settings: Settings) -> Iterator[Pipeline]:
    pipeline = Pipeline.load(planted_settings)
    yield pipeline
    pipeline.close()


@pytest.fixture(scope="module")
def planted_client(planted_settings: Settings, planted_pipeline: Pipeline) -> Iterator[TestClient]:
    with TestClient(create_app(planted_settings, pipeline=planted_pipeline)) as client:
        yield client


def planted_body(**options: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"text": "\n\n".join(PLANTED["article"]), "source_lang": "en"}
    if options:
        body["options"] = options
    return body


PLANTED_POINTS = split_sentences(PLANTED["summary"], "en")
BAD = PLANTED["planted_point"]


def test_the_planted_point_and_only_it_is_flagged(planted_client: TestClient) -> None:
    body = planted_client.post("/summarize", json=planted_body()).json()
    assert body["summary"] == PLANTED["summary"]  # the planted model did learn its summary
    assert body["key_points"] == PLANTED_POINTS
    assert_grounding_structure(body)
    assert [g["supported"] for g in body["grounding"]] == [i != BAD for i in range(3)]
    failed = [c for c in body["grounding"][BAD]["checks"] if not c["supported"]]
    assert failed == [
        {
            "kind": "number",
            "value": PLANTED["planted_value"],
            "supported": False,
            "found_in": [],
            "note": f'unsupported number "{PLANTED["planted_value"]}" (not in the article)',
        }
    ]
    # Its other facts are there, and it says where it comes from.
    assert {
        (c["kind"], c["value"]) for c in body["grounding"][BAD]["checks"] if c["supported"]
    } == {
        ("number", "1,000"),
        ("name", "Sweden"),
    }
    assert body["grounding"][BAD]["sources"][0]["sentence"] == PLANTED["source_sentence"]
    assert any("1 of 3 key point(s)" in w for w in body["meta"]["warnings"])


def test_drop_leaves_the_planted_point_out(planted_client: TestClient) -> None:
    body = planted_client.post("/summarize", json=planted_body(unsupported="drop")).json()
    assert body["key_points"] == [p for i, p in enumerate(PLANTED_POINTS) if i != BAD]
    assert [g["text"] for g in body["grounding"]] == body["key_points"]
    assert all(g["supported"] for g in body["grounding"])
    warnings = body["meta"]["warnings"]
    assert f"key point {BAD + 1} left out as unsupported" in " ".join(warnings)
    assert "only 2 key point(s) remain after leaving out unsupported ones, fewer than 3" in warnings


def test_replace_puts_the_source_sentence_in_its_place(planted_client: TestClient) -> None:
    body = planted_client.post("/summarize", json=planted_body(unsupported="replace")).json()
    source = PLANTED["article"][PLANTED["source_sentence"]]
    assert body["key_points"][BAD] == source
    entry = body["grounding"][BAD]
    assert (entry["replaced"], entry["original"], entry["supported"]) == (
        True,
        PLANTED_POINTS[BAD],
        True,
    )
    assert entry["sources"][0]["sentence"] == PLANTED["source_sentence"]
    assert [g["replaced"] for g in body["grounding"]] == [i == BAD for i in range(3)]


def test_jobs_and_batch_take_the_option(
    planted_client: TestClient, planted_pipeline: Pipeline
) -> None:
    result = summarize_request(planted_pipeline, planted_body(unsupported="drop"), None)
    assert len(result.key_points) == 2
    batch = planted_client.post(
        "/summarize/batch", json={"articles": [planted_body(unsupported="replace"), planted_body()]}
    ).json()
    first, second = (item["result"] for item in batch["results"])
    assert first["grounding"][BAD]["replaced"] is True
    assert second["grounding"][BAD]["supported"] is False


def test_the_cli_prints_the_flags(
    planted_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in model_env(planted_settings).items():
        if name.startswith("DEPECHE_"):
            monkeypatch.setenv(name, value)
    article = tmp_path / "story.txt"
    article.write_text("\n\n".join(PLANTED["article"]), encoding="utf-8")
    assert main(["summarize", "--source-lang", "en", str(article)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    start = lines.index(f"- {PLANTED_POINTS[BAD]}")
    assert (
        lines[start + 1]
        == f'  ! unsupported number "{PLANTED["planted_value"]}" (not in the article)'
    )
    assert lines[start + 2].startswith(f"  from sentence {PLANTED['source_sentence']} (")
    assert sum(line.startswith("  ! ") for line in lines) == 1
    assert main(["summarize", "--source-lang", "en", "--unsupported", "replace", str(article)]) == 0
    captured = capsys.readouterr()
    assert (
        f'  ! replaced by sentence {PLANTED["source_sentence"]}; the point was: "{PLANTED_POINTS[BAD]}"'
        in captured.out
    )
    assert "warning: key point 2 replaced by sentence 1" in captured.err
