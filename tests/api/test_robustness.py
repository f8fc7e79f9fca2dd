"""No input makes the service fail: broken Unicode, odd bodies and hostile header values get a
2xx or a documented 4xx with the one envelope, never a 5xx, and are never echoed raw into a
header or a log line. Each schemathesis finding is kept here as a plain test, and every shared
OrangeSum article runs through /summarize."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.api.app import create_app
from service.config import Settings
from service.pipeline import Pipeline
from tests.api.test_routes import assert_envelope
from tests.conftest import ROOT

JSON = {"content-type": "application/json"}
BODY_ENDPOINTS = ["/summarize", "/translate", "/summarize/batch", "/jobs"]
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")
KEY = "robustness-test-key"

# Where the shared data lives: beside the checkout (`../shared`), or DEPECHE_SHARED_DIR.
SHARED = Path(os.environ.get("DEPECHE_SHARED_DIR", ROOT.parent / "shared"))
ARTICLES = SHARED / "data" / "articles" / "fr_news.jsonl"


@pytest.fixture(scope="module")
def api(
    settings: Settings, pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The app on the tiny models; jobs are accepted but not run (no worker)."""
    folder = tmp_path_factory.mktemp("robustness")
    app = create_app(
        settings.model_copy(update={"jobs_db": folder / "jobs.sqlite3", "jobs_workers": 0}),
        pipeline=pipeline,
    )
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def keyed(
    settings: Settings, pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The same with API keys on."""
    folder = tmp_path_factory.mktemp("robustness-keyed")
    update = {"jobs_db": folder / "jobs.sqlite3", "jobs_workers": 0, "api_keys": SecretStr(KEY)}
    with TestClient(create_app(settings.model_copy(update=update), pipeline=pipeline)) as client:
        yield client


def body_for(path: str, article: dict[str, Any]) -> dict[str, Any]:
    return {"articles": [article]} if path == "/summarize/batch" else article


def assert_not_echoed(response: Any, caplog: pytest.LogCaptureFixture, raw: str) -> None:
    """`raw` is in no response header, not in the body, and in no log record."""
    for name, value in response.headers.items():
        assert raw not in value, name
    assert raw not in response.text
    assert all(raw not in record.getMessage() for record in caplog.records)


# --- Unicode: one rule, every endpoint and field (README "Errors and limits") ----------------


@pytest.mark.parametrize(
    ("path", "raw", "field"),
    [
        ("/summarize", rb'{"text": "Bonjour \ud800 le monde."}', "`text`"),
        ("/translate", rb'{"text": "Bonjour le monde.", "title": "Un \udc00 titre"}', "`title`"),
        ("/summarize", rb'{"text": "Bonjour.", "standfirst": "\udfff"}', "`standfirst`"),
        (
            "/translate",
            rb'{"text": "Bonjour.", "captions": ["ok", "Photo \ud83d"]}',
            "`captions.1`",
        ),
        ("/summarize", rb'{"html": "<p>Bonjour \ud800</p>"}', "`html`"),
        (
            "/summarize/batch",
            rb'{"articles": [{"text": "ok"}, {"text": "\ud800"}]}',
            "`articles.1.text`",
        ),
        ("/jobs", rb'{"text": "Bonjour \ud800 le monde."}', "`text`"),
        (
            "/jobs",
            rb'{"text": "Bonjour.", "callback_url": "http://a\ud800.example/"}',
            "`callback_url`",
        ),
        ("/translate", rb'{"text": "Bonjour.", "\ud800": 1}', "A field name in the body"),
    ],
)
def test_a_lone_surrogate_is_422_invalid_unicode_naming_the_field(
    api: TestClient, path: str, raw: bytes, field: str
) -> None:
    """Finding: 500 (UnicodeEncodeError in the tokenizer) in text, title and captions alike."""
    error = assert_envelope(api.post(path, content=raw, headers=JSON), 422, "invalid_unicode")
    assert error["message"].startswith(f"{field} holds an unpaired UTF-16 surrogate")


def test_a_surrogate_pair_escape_is_one_character(api: TestClient) -> None:
    raw = rb'{"text": "Bonjour \ud83d\ude00 le monde.", "title": "\u00c9t\u00e9"}'
    response = api.post("/translate", content=raw, headers=JSON)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", BODY_ENDPOINTS)
@pytest.mark.parametrize(
    ("raw", "offset"),
    [
        ('{"text": "Le café est fermé."}'.encode("latin-1"), 16),  # a latin-1 CMS
        (b"\xff\xfe{\x00}\x00", 0),  # UTF-16 with its byte order mark
        (b'{"text": "\xed\xa0\x80"}', 10),  # a surrogate encoded as if it were a character
        (b"\xf0\x9f\x98", 0),  # a UTF-8 sequence cut short
    ],
)
def test_a_body_that_is_not_utf8_is_422_invalid_unicode(
    api: TestClient, path: str, raw: bytes, offset: int
) -> None:
    """Finding (schemathesis): 400 `bad_request`, a status the OpenAPI document did not list."""
    error = assert_envelope(api.post(path, content=raw, headers=JSON), 422, "invalid_unicode")
    assert f"at offset {offset})" in error["message"]


@pytest.mark.parametrize("path", BODY_ENDPOINTS)
def test_json_nested_too_deeply_is_malformed_json(api: TestClient, path: str) -> None:
    """Python's JSON parser gives up with RecursionError; FastAPI answered that with 400."""
    raw = b'{"text": "Bonjour.", "captions": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert_envelope(api.post(path, content=raw, headers=JSON), 422, "malformed_json")


def test_a_chunked_body_is_bounded_too(
    settings: Settings, pipeline: Pipeline, tmp_path: Path
) -> None:
    """With no Content-Length (chunked), the body limit still holds: it is counted as it comes."""
    small = settings.model_copy(update={"max_chars": 50, "jobs_db": tmp_path / "jobs.sqlite3"})
    limit = 50 * 6 + 64 * 1024
    with TestClient(create_app(small, pipeline=pipeline)) as client:
        huge = json.dumps({"text": "x" * (limit + 10)}).encode()
        chunks = (huge[i : i + 8192] for i in range(0, len(huge), 8192))
        response = client.post("/translate", content=chunks, headers=JSON)
        assert "content-length" not in response.request.headers
        assert_envelope(response, 413, "payload_too_large")
        fits = iter([b'{"text": "Bonjour', b' le monde."}'])
        assert client.post("/translate", content=fits, headers=JSON).status_code == 200


# --- headers the service reads ------------------------------------------------------------

HOSTILE = {
    "crlf": b"cms-1\r\nSet-Cookie: stolen=1",
    "lf": b"cms-1\nX-Injected: 1",
    "trailing_lf": b"cms-1\n",  # slipped through `^...$` into the response header
    "utf8": "café-ünïcode".encode(),
    "latin1": "café".encode("latin-1"),
    "nul": b"cms\x00-1",
    "oversized": b"a" * 20_000,
    "spaces": b"cms 1",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_request_id_is_replaced_never_echoed(
    api: TestClient, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    raw = HOSTILE[name]
    caplog.set_level(logging.DEBUG)
    # A job logs its request id ("job … queued (request …)"): the log line must hold ours.
    response = api.post("/jobs", json={"text": "Bonjour."}, headers=[(b"x-request-id", raw)])
    assert response.status_code == 202, response.text
    request_id = response.headers["x-request-id"]
    assert GENERATED_ID.match(request_id)
    assert response.json()["request_id"] == request_id
    assert any(request_id in record.getMessage() for record in caplog.records)
    assert_not_echoed(response, caplog, raw.decode("latin-1"))
    error = assert_envelope(
        api.post("/summarize", json={"text": " "}, headers=[(b"x-request-id", raw)]),
        422,
        "empty_text",
    )
    assert GENERATED_ID.match(error["request_id"])


def test_a_well_formed_request_id_is_kept(api: TestClient) -> None:
    response = api.post("/summarize", json={"text": " "}, headers={"X-Request-ID": "cms-42.a_b"})
    assert assert_envelope(response, 422, "empty_text")["request_id"] == "cms-42.a_b"


@pytest.mark.parametrize("name", [*sorted(HOSTILE), "empty", "tab", "256"])
def test_a_malformed_idempotency_key_is_422_never_echoed(
    api: TestClient, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    raw = {**HOSTILE, "empty": b"", "tab": b"story\t1", "256": b"k" * 256}[name]
    if name == "spaces":  # inner spaces are printable ASCII: a valid key
        assert (
            api.post(
                "/jobs", json={"text": "Bonjour."}, headers=[(b"idempotency-key", raw)]
            ).status_code
            == 202
        )
        return
    caplog.set_level(logging.DEBUG)
    response = api.post("/jobs", json={"text": "Bonjour."}, headers=[(b"idempotency-key", raw)])
    error = assert_envelope(response, 422, "invalid_header")
    assert error["message"].startswith("The `Idempotency-Key` header is not valid")
    if raw:
        assert_not_echoed(response, caplog, raw.decode("latin-1"))


def test_a_255_character_idempotency_key_is_fine(api: TestClient) -> None:
    key = "story-" + "9" * 249
    first = api.post("/jobs", json={"text": "Bonjour."}, headers={"Idempotency-Key": key})
    again = api.post("/jobs", json={"text": "Bonjour."}, headers={"Idempotency-Key": key})
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["id"] == again.json()["id"]


@pytest.mark.parametrize("name", [*sorted(HOSTILE), "basic", "bare"])
def test_a_malformed_authorization_is_401_never_echoed(
    keyed: TestClient, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    raw = {"basic": b"Basic " + KEY.encode(), "bare": KEY.encode()}.get(name)
    raw = raw or b"Bearer " + HOSTILE[name] + KEY.encode()
    caplog.set_level(logging.DEBUG)
    for path in ("/usage", "/jobs/some-job"):
        response = keyed.get(path, headers=[(b"authorization", raw)])
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] in ("unauthorized", "invalid_api_key")
        assert response.headers["www-authenticate"] == "Bearer"
        assert_not_echoed(response, caplog, raw.decode("latin-1"))
        assert_not_echoed(response, caplog, KEY)
    assert keyed.get("/usage", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_authorization_is_not_read_while_keys_are_off(api: TestClient) -> None:
    headers = [(b"authorization", HOSTILE["crlf"])]
    assert api.get("/usage", headers=headers).status_code == 200


# --- the OpenAPI document names every status the service answers --------------------------


def test_every_operation_documents_what_the_middleware_answers(api: TestClient) -> None:
    document = api.get("/openapi.json").json()
    # Every error is the envelope, FastAPI's default 422 body included.
    assert "HTTPValidationError" not in json.dumps(document)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            responses = operation["responses"]
            names = [p["name"].lower() for p in operation.get("parameters", [])]
            assert "x-request-id" in names, label
            if "requestBody" in operation:
                assert {"413", "422"} <= set(responses), label
                assert "invalid_unicode" in responses["422"]["description"], label
            if operation.get("security"):
                assert "401" in responses, label
    for path in ("/summarize", "/translate"):
        assert "429" in document["paths"][path]["post"]["responses"]
    header = next(
        p
        for p in document["paths"]["/jobs"]["post"]["parameters"]
        if p["name"] == "idempotency-key"
    )
    assert header["schema"]["anyOf"][0]["maxLength"] == 255


# --- real articles ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not ARTICLES.is_file(), reason=f"no shared OrangeSum articles at {ARTICLES}")
def test_every_orangesum_article_summarizes(client: TestClient) -> None:
    """Finding: one of the 50 gave the summarizer a chunk one token over its window (500)."""
    records = [json.loads(line) for line in ARTICLES.read_text(encoding="utf-8").splitlines()]
    assert len(records) >= 50

    def run(record: dict[str, Any]) -> tuple[str, int, str]:
        body = {"text": record["text"], "title": record["title"]}
        response = client.post("/summarize", json=body)
        return record["id"], response.status_code, response.text[:300]

    # Four at a time, as a newsroom's CMS would send them: the schedulers batch across them.
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(run, records))
    assert [a for a in answers if a[1] != 200] == []
