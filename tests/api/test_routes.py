"""The API contract through TestClient: shapes, limits, and the one error envelope."""

from __future__ import annotations

import html
import json
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
    assert set(body) == {
        "translation",
        "key_points",
        "summary",
        "meta",
        "grounding",
        "translation_checks",
    }
    assert set(body["translation"]) == {
        "title",
        "standfirst",
        "captions",
        "paragraphs",
        "text",
        "blocks",
        "html",
        "sentences",
    }
    assert body["translation"]["standfirst"] is None
    assert body["translation"]["captions"] == []
    assert body["translation"]["blocks"] is None  # text input
    assert body["translation"]["html"] is None  # format "text"
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
    assert meta["source_lang"] == "fr"


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
        ({"text": "Bonjour.", "html": "<p>Bonjour.</p>"}, "conflicting_fields"),
        ({"title": "Un titre"}, "missing_field"),
        ({"html": "<script>alert(1)</script><p> </p>"}, "empty_text"),
        ({"html": 42}, "invalid_request"),
        ({"text": "Bonjour.", "captions": "pas une liste"}, "invalid_request"),
        ({"text": "Bonjour.", "source_lang": "de"}, "invalid_request"),
        ({"text": "Bonjour.", "format": "pdf"}, "invalid_request"),
        ({"text": "Bonjour.", "options": {"format": "html"}}, "unknown_field"),
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


def test_the_language_detector_loads_once_the_models_are_ready(
    settings: Settings, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.api import state

    ready_when_called: list[bool] = []
    app = create_app(settings, pipeline_factory=lambda _: pipeline)
    service_state = app.state.depeche
    monkeypatch.setattr(
        state, "load_detector", lambda: ready_when_called.append(service_state.pipeline is not None)
    )
    with TestClient(app) as client:
        service_state.wait_loaded(10)
        assert client.get("/ready").status_code == 200
    assert ready_when_called == [True]


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


ENGLISH_ARTICLE = (
    "The government announced on Monday a plan worth 2.5 billion euros to renovate schools.\n\n"
    "The minister said the work would start in the spring and last three years."
)
GERMAN_ARTICLE = (
    "Die Bundesregierung hat am Montag ein neues Klimaschutzprogramm beschlossen, das bis 2030 "
    "gelten soll. Kritiker halten es für unzureichend."
)


def test_html_article_translated_block_by_block(
    client: TestClient, memorized_pairs: list[tuple[str, str]]
) -> None:
    fr = [f for f, _ in memorized_pairs]
    en = [e for _, e in memorized_pairs]
    source = (
        f"<article><h2>{fr[0]}</h2><p>{fr[1]}</p><script>alert(1)</script>"
        f"<ul><li>{fr[2]}</li><li>{fr[3]}</li></ul><blockquote>{fr[4]}</blockquote></article>"
    )
    response = client.post("/translate", json={"html": source, "format": "html"})
    assert response.status_code == 200, response.text
    translation = response.json()["translation"]
    assert translation["paragraphs"] == en[:5]
    assert translation["blocks"] == [
        {"kind": kind, "text": text}
        for kind, text in zip(["h2", "p", "li", "li", "blockquote"], en[:5], strict=True)
    ]
    e = [html.escape(text, quote=True) for text in en]
    assert translation["html"] == (
        f"<h2>{e[0]}</h2>\n<p>{e[1]}</p>\n<ul><li>{e[2]}</li><li>{e[3]}</li></ul>\n"
        f"<blockquote>{e[4]}</blockquote>"
    )
    assert translation["text"] == "\n\n".join(en[:5])


def test_a_whole_page_is_narrowed_to_its_article_and_says_so(
    client: TestClient, memorized_pairs: list[tuple[str, str]]
) -> None:
    fr = [f for f, _ in memorized_pairs]
    en = [e for _, e in memorized_pairs]
    page = (
        f"<html><body><nav><ul><li>{fr[5]}</li></ul></nav><main><h1>{fr[0]}</h1>"
        f"<p>{fr[1]}</p><p>{fr[2]}</p></main><footer><p>{fr[3]}</p></footer></body></html>"
    )
    body = client.post("/translate", json={"html": page}).json()
    assert body["translation"]["paragraphs"] == en[:3]
    (warning,) = [w for w in body["meta"]["warnings"] if "whole page" in w]
    assert "left out 2 block(s)" in warning
    whole = client.post("/translate", json={"html": page, "extract_article": False}).json()
    assert whole["translation"]["paragraphs"] == [en[5], en[0], en[1], en[2], en[3]]
    assert not any("whole page" in w for w in whole["meta"]["warnings"])


def test_title_standfirst_and_captions_are_translated(
    client: TestClient, memorized_pairs: list[tuple[str, str]]
) -> None:
    fr = [f for f, _ in memorized_pairs]
    en = [e for _, e in memorized_pairs]
    body = client.post(
        "/translate",
        json={
            "html": f"<p>{fr[0]}</p><figure><figcaption>{fr[1]}</figcaption></figure>",
            "title": fr[2],
            "standfirst": fr[3],
            "captions": [fr[4], fr[5]],
        },
    ).json()
    translation = body["translation"]
    assert translation["title"] == en[2]
    assert translation["standfirst"] == en[3]
    assert translation["captions"] == [en[4], en[5]]
    assert translation["paragraphs"] == [en[0], en[1]]
    assert translation["text"] == "\n\n".join([en[2], en[3], en[0], en[1]])
    assert translation["html"] is None  # format defaults to "text"
    # Every sentence counts: title, standfirst, two blocks, two captions.
    assert body["meta"]["coverage"] == {"sentences": 6, "translated": 6, "split": 0}


def test_text_input_as_html_output(
    client: TestClient, memorized_pairs: list[tuple[str, str]]
) -> None:
    text = f"{memorized_pairs[1][0]}\n\n{memorized_pairs[2][0]}"
    translation = client.post("/translate", json={"text": text, "format": "html"}).json()[
        "translation"
    ]
    assert translation["blocks"] is None
    assert translation["html"] == "\n".join(
        f"<p>{html.escape(en, quote=True)}</p>" for _, en in memorized_pairs[1:3]
    )


def test_planted_markup_never_reaches_the_response(client: TestClient) -> None:
    source = (
        "<p>Le maire a présenté son budget lundi soir.</p><script>alert(1)</script>"
        "<p><img src=x onerror=alert(1)>Le conseil municipal a voté le texte.</p>"
        '<p>Voir le <a href="javascript:alert(1)">lien</a> vers le document.</p>'
    )
    # source_lang "en" passes the text through untranslated, so the output is exact.
    body = client.post(
        "/summarize", json={"html": source, "format": "html", "source_lang": "en"}
    ).json()
    texts = [
        "Le maire a présenté son budget lundi soir.",
        "Le conseil municipal a voté le texte.",
        "Voir le lien vers le document.",
    ]
    assert body["translation"]["blocks"] == [{"kind": "p", "text": t} for t in texts]
    assert body["translation"]["html"] == "\n".join(f"<p>{t}</p>" for t in texts)
    dumped = json.dumps(body["translation"])
    for planted in ("alert", "onerror", "javascript", "<script", "<img", "href"):
        assert planted not in dumped


def test_english_input_skips_translation(
    client: TestClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the translator was called for English input")

    monkeypatch.setattr(pipeline.translation_scheduler, "run", never)
    response = client.post("/summarize", json={"text": ENGLISH_ARTICLE, "title": "School plan"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["translation"]["paragraphs"] == ENGLISH_ARTICLE.split("\n\n")
    assert body["translation"]["title"] == "School plan"
    meta = body["meta"]
    assert meta["source_lang"] == "en"
    assert meta["warnings"][0] == "input is English: translation skipped"
    assert meta["coverage"] == {"sentences": 3, "translated": 0, "split": 0}
    assert meta["tokens"]["translation_input"] == 0
    assert [m["task"] for m in meta["models"]] == ["summary"]
    assert body["key_points"]


def test_german_is_refused(client: TestClient) -> None:
    for path in ("/summarize", "/translate"):
        error = assert_envelope(
            client.post(path, json={"text": GERMAN_ARTICLE}), 422, "unsupported_language"
        )
        assert '"de"' in error["message"]
        assert "source_lang" in error["message"]


def test_source_lang_overrides_detection(
    client: TestClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    forced = client.post("/translate", json={"text": GERMAN_ARTICLE, "source_lang": "fr"})
    assert forced.status_code == 200, forced.text
    assert forced.json()["meta"]["source_lang"] == "fr"
    assert forced.json()["meta"]["coverage"]["sentences"] == 2
    translated = client.post("/translate", json={"text": ENGLISH_ARTICLE, "source_lang": "fr"})
    assert translated.json()["meta"]["source_lang"] == "fr"
    assert translated.json()["translation"]["paragraphs"] != ENGLISH_ARTICLE.split("\n\n")

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the translator was called for English input")

    monkeypatch.setattr(pipeline.translation_scheduler, "run", never)
    kept = client.post("/translate", json={"text": "Bonjour.", "source_lang": "en"}).json()
    assert kept["translation"]["paragraphs"] == ["Bonjour."]
    assert kept["meta"]["source_lang"] == "en"
    assert kept["meta"]["models"] == []


def test_html_text_counts_against_the_limit(settings: Settings, pipeline: Pipeline) -> None:
    small = settings.model_copy(update={"max_chars": 50})
    with TestClient(create_app(small, pipeline=pipeline)) as client:
        # Markup does not count, the text of the blocks does.
        padded = "<div class='x' data-y='" + "z" * 500 + "'><p>Bonjour.</p></div>"
        assert client.post("/translate", json={"html": padded}).status_code == 200
        too_long = "<p>" + "é" * 30 + "</p><p>" + "é" * 21 + "</p>"
        assert_envelope(client.post("/translate", json={"html": too_long}), 413, "text_too_long")
        captions = {"text": "Bonjour.", "captions": ["é" * 45]}
        assert_envelope(client.post("/translate", json=captions), 413, "text_too_long")


def test_openapi_has_the_html_example(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    content = spec["paths"]["/translate"]["post"]["requestBody"]["content"]["application/json"]
    example = content["examples"]["html_article"]["value"]
    assert example["html"].startswith("<h2>")
    assert example["format"] == "html"
    assert example["captions"]
    schema = spec["components"]["schemas"]["TranslateRequest"]["properties"]
    assert {"text", "html", "title", "standfirst", "captions", "source_lang", "format"} <= set(
        schema
    )


def test_every_documented_example_is_accepted(client: TestClient) -> None:
    """The docs' worked examples must pass validation on the endpoint they document."""
    spec = client.get("/openapi.json").json()
    for path in ("/summarize", "/translate"):
        content = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        for name, example in content["examples"].items():
            response = client.post(path, json=example["value"])
            assert response.status_code == 200, (path, name, response.text)
