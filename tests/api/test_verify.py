"""POST /verify through the client: its answer, its errors, the API key, no model needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.api.app import create_app
from service.api.examples import VERIFY_REQUEST
from service.config import Settings
from service.grounding.verify import MAX_POINTS
from service.pipeline import Pipeline
from tests.api.test_routes import assert_envelope

FRENCH = [
    "La Maison Blanche a indiqué, ce lundi 4 septembre, que Vladimir Poutine souhaitait un échange. "
    "Dmitri Peskov n’a pas confirmé la tenue d’une rencontre.",
    "Vladivostok accueillera le 8e Forum économique oriental du 10 au 13 septembre.",
    "Le bureau a déclaré que dix-neuf des blessés étaient des policiers.",
]
ENGLISH = [
    "The White House said on Monday, September 4, that Vladimir Putin wanted an exchange. "
    "Dmitry Peskov did not confirm that a meeting would take place.",
    "Vladivostok will host the 8th Eastern Economic Forum from September 10 to 13.",
    "The office said 18 of the injured were police officers.",  # the translation's mistake
]
POINTS = [
    "Vladivostok will host the 8th Eastern Economic Forum from September 10 to 13.",
    "Vladivostok will host the 9th Eastern Economic Forum.",
    "Dmitry Peskov confirmed that a meeting would take place.",
]


def test_verify_grounds_the_points_and_checks_the_translation(client: TestClient) -> None:
    response = client.post(
        "/verify", json={"translation": ENGLISH, "source": FRENCH, "key_points": POINTS}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"grounding", "translation_checks", "sentences"}
    assert [(s["id"], s["paragraph"]) for s in body["sentences"]] == [
        (0, 0),
        (1, 0),
        (2, 1),
        (3, 2),
    ]
    assert (
        body["sentences"][1]["source"] == "Dmitri Peskov n’a pas confirmé la tenue d’une rencontre."
    )
    assert body["sentences"][1]["text"] == ENGLISH[0].split(". ", 1)[1]
    first, second, third = body["grounding"]
    assert [g["text"] for g in body["grounding"]] == POINTS
    assert first["supported"] is True
    assert first["sources"][0] == {"sentence": 2, "paragraph": 1, "score": 1.0}
    assert second["supported"] is False
    assert {
        "kind": "number",
        "value": "9th",
        "supported": False,
        "found_in": [],
        "note": 'unsupported number "9th" (not in the article)',
    } in second["checks"]
    assert third["supported"] is False
    assert [c["kind"] for c in third["checks"] if not c["supported"]] == ["negation"]
    assert all(g["replaced"] is False and g["original"] is None for g in body["grounding"])
    assert body["translation_checks"] == [
        {"sentence": 3, "kind": "number", "value": "19", "problem": "missing"},
        {"sentence": 3, "kind": "number", "value": "18", "problem": "added"},
    ]


def test_verify_without_source_or_key_points(client: TestClient) -> None:
    body = client.post("/verify", json={"translation": ENGLISH}).json()
    assert body["grounding"] == []
    assert body["translation_checks"] == []
    assert all(s["source"] == s["text"] for s in body["sentences"])
    # Without the French, a point with the French's number is not supported.
    body = client.post(
        "/verify", json={"translation": ENGLISH, "key_points": ["Nineteen were injured."]}
    ).json()
    assert body["grounding"][0]["supported"] is False


def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def test_the_documented_example_is_what_the_service_answers(client: TestClient) -> None:
    spec: dict[str, Any] = client.app.openapi()  # type: ignore[attr-defined]
    operation = spec["paths"]["/verify"]["post"]
    example = operation["responses"]["200"]["content"]["application/json"]["example"]
    answer = client.post("/verify", json=VERIFY_REQUEST).json()
    assert without_nulls(answer) == without_nulls(example)  # the document leaves nulls out
    assert [g["supported"] for g in answer["grounding"]] == [True, False, False]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"translation": ["One.", "Two."], "source": ["Un."]}, 422, "source_count_mismatch"),
        ({"translation": ["One."], "source": ["Un.", "Deux."]}, 422, "source_count_mismatch"),
        ({"translation": []}, 422, "invalid_request"),
        ({"translation": ["  ", ""]}, 422, "empty_text"),
        ({"translation": "One."}, 422, "invalid_request"),
        ({"translation": ["One."], "key_points": ["Fine.", "  "]}, 422, "invalid_request"),
        (
            {"translation": ["One."], "key_points": ["A."] * (MAX_POINTS + 1)},
            422,
            "invalid_request",
        ),
        ({"translation": ["One."], "summary": "x"}, 422, "unknown_field"),
        ({"key_points": ["A."]}, 422, "missing_field"),
    ],
)
def test_bad_bodies_get_the_envelope(
    client: TestClient, body: dict[str, Any], status: int, code: str
) -> None:
    error = assert_envelope(client.post("/verify", json=body), status, code)
    if code == "source_count_mismatch":
        assert "paragraph" in error["message"]


def test_malformed_json(client: TestClient) -> None:
    response = client.post("/verify", content=b"{", headers={"content-type": "application/json"})
    assert_envelope(response, 422, "malformed_json")


def test_text_over_the_limit_is_413(settings: Settings, pipeline: Pipeline) -> None:
    small = settings.model_copy(update={"max_chars": 50})
    with TestClient(create_app(small, pipeline=pipeline)) as client:
        response = client.post(
            "/verify", json={"translation": ["x" * 40], "key_points": ["y" * 20]}
        )
    assert_envelope(response, 413, "text_too_long")


def test_the_api_key_guards_verify(settings: Settings, pipeline: Pipeline, tmp_path: Path) -> None:
    keyed = settings.model_copy(
        update={"api_keys": SecretStr("k-0123456789abcdef"), "jobs_db": tmp_path / "j.sqlite3"}
    )
    with TestClient(create_app(keyed, pipeline=pipeline)) as client:
        assert_envelope(client.post("/verify", json={"translation": ["One."]}), 401, "unauthorized")
        ok = client.post(
            "/verify",
            json={"translation": ["One."]},
            headers={"Authorization": "Bearer k-0123456789abcdef"},
        )
        assert ok.status_code == 200


def test_verify_needs_no_model(settings: Settings) -> None:
    # No lifespan, so nothing loads: /summarize would answer 503, /verify works.
    app = create_app(settings, pipeline_factory=lambda _: pytest.fail("no model may load"))
    client = TestClient(app)
    assert client.post("/summarize", json={"text": "Bonjour."}).status_code == 503
    response = client.post("/verify", json={"translation": ENGLISH, "key_points": POINTS[:1]})
    assert response.status_code == 200
    assert response.json()["grounding"][0]["supported"] is True
