"""Streamed /summarize and /translate (README "Streaming") end to end on the tiny models, through
a real HTTP client: event order, paragraphs as soon as they are translated, the events
rebuilding the JSON answer exactly, SSE framing, errors before and after the stream starts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.api.app import create_app
from service.config import Settings
from service.engines.base import Encoded, Generated, GenerationSettings, Seq2SeqEngine
from service.errors import OverloadedError
from service.pipeline import Pipeline
from service.stream import rebuild
from tests.api.test_auth import ALPHA, bearer
from tests.api.test_routes import assert_envelope
from tests.fakes import RaisingEngine

NDJSON = {"Accept": "application/x-ndjson"}
SSE = {"Accept": "text/event-stream"}


def ndjson(client: TestClient, path: str, body: dict[str, Any], **headers: str) -> Any:
    """(response, events) of one NDJSON stream, read line by line as it comes."""
    with client.stream("POST", path, json=body, headers={**NDJSON, **headers}) as response:
        lines = list(response.iter_lines())
    return response, [json.loads(line) for line in lines if line]


def without_timings(result: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in result["meta"].items() if k != "timings_ms"}
    return {**result, "meta": meta}


def article(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, Any], list[str]]:
    return {"text": "\n\n".join(fr for fr, _ in pairs), "title": pairs[0][0]}, [
        en for _, en in pairs
    ]


def assert_stream_shape(events: list[dict[str, Any]], result: dict[str, Any]) -> None:
    """head (when there is one), every paragraph in order, key points (summaries), done last;
    each paragraph as `translation` has it, with its sentences and their article-wide ids."""
    names = [event["event"] for event in events]
    translation = result["translation"]
    paragraphs = translation["paragraphs"]
    has_head = translation["title"] is not None or translation["standfirst"] is not None
    summary = ["key_points"] if "key_points" in result else []
    assert names == [
        *(["head"] if has_head else []),
        *["paragraph"] * len(paragraphs),
        *summary,
        "done",
    ]
    sent = [event for event in events if event["event"] == "paragraph"]
    assert [event["index"] for event in sent] == list(range(len(paragraphs)))
    for event in sent:
        assert event["text"] == paragraphs[event["index"]]
        own = [s for s in translation["sentences"] if s["paragraph"] == event["index"]]
        assert event["sentences"] == own
    if has_head:
        head = events[0]
        assert (head["title"], head["standfirst"]) == (
            translation["title"],
            translation["standfirst"],
        )
        assert head["sentences"] == [
            s for s in translation["sentences"] if s["paragraph"] in ("title", "standfirst")
        ]


def test_a_summary_stream_holds_exactly_the_json_answer(
    client: TestClient, memorized_pairs: list[tuple[str, str]]
) -> None:
    body, english = article(memorized_pairs[:4])
    response, events = ndjson(client, "/summarize", body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.headers["x-request-id"]
    answer = client.post("/summarize", json=body)
    assert answer.status_code == 200, answer.text
    rebuilt = rebuild(events)
    assert without_timings(rebuilt) == without_timings(answer.json())
    assert_stream_shape(events, rebuilt)
    # The memorized pairs: the tiny model knows these answers, so the stream sends real text.
    assert [e["text"] for e in events if e["event"] == "paragraph"] == english
    assert rebuilt["meta"]["timings_ms"]["total"] > 0


def test_a_translation_stream_has_no_key_points(
    client: TestClient, memorized_pairs: list[tuple[str, str]]
) -> None:
    body = {"text": "\n\n".join(fr for fr, _ in memorized_pairs[:3]), "standfirst": "Un chapeau."}
    response, events = ndjson(client, "/translate", body)
    assert response.status_code == 200
    rebuilt = rebuild(events)
    assert set(rebuilt) == {"translation", "translation_checks", "meta"}
    assert without_timings(rebuilt) == without_timings(client.post("/translate", json=body).json())
    assert_stream_shape(events, rebuilt)
    assert events[0]["title"] is None
    assert events[0]["standfirst"]


def test_html_blocks_stream_with_their_kind(client: TestClient) -> None:
    body = {
        "html": "<h2>Le bilan</h2><p>Le ministre a parlé.</p><ul><li>Un point.</li></ul>",
        "format": "html",
    }
    _response, events = ndjson(client, "/translate", body)
    rebuilt = rebuild(events)
    assert_stream_shape(events, rebuilt)
    kinds = [e["kind"] for e in events if e["event"] == "paragraph"]
    assert (
        kinds == [block["kind"] for block in rebuilt["translation"]["blocks"]] == ["h2", "p", "li"]
    )
    assert without_timings(rebuilt) == without_timings(client.post("/translate", json=body).json())


def test_paragraphs_stream_with_their_glossary_terms_restored(
    client: TestClient, memorized_pairs: list[tuple[str, str]]
) -> None:
    sweden = next(fr for fr, _ in memorized_pairs if "Suède" in fr)
    body = {"text": f"{sweden}\n\n{memorized_pairs[0][0]}", "glossary": {"Suède": "Sverige"}}
    _, events = ndjson(client, "/translate", body)
    rebuilt = rebuild(events)
    assert_stream_shape(events, rebuilt)  # the paragraphs as the answer has them
    assert rebuilt["meta"]["glossary"], "the term was found"
    first = events[0]
    assert "⟦" not in first["text"]
    assert "\ue000" not in first["text"]
    if rebuilt["meta"]["glossary"][0]["applied"]:
        assert "Sverige" in first["text"]


def test_english_input_streams_as_it_is(client: TestClient) -> None:
    body = {
        "text": "The minister spoke on Monday.\n\nThe plan starts in spring.",
        "source_lang": "en",
    }
    _, events = ndjson(client, "/summarize", body)
    rebuilt = rebuild(events)
    assert_stream_shape(events, rebuilt)
    assert [e["text"] for e in events if e["event"] == "paragraph"] == [
        "The minister spoke on Monday.",
        "The plan starts in spring.",
    ]


def test_sse_carries_the_same_events(
    client: TestClient, memorized_pairs: list[tuple[str, str]]
) -> None:
    body, _ = article(memorized_pairs[:2])
    with client.stream("POST", "/summarize", json=body, headers=SSE) as response:
        text = response.read().decode("utf-8")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert text.endswith("\n\n")
    events = []
    for message in text.split("\n\n")[:-1]:
        name_line, data_line = message.split("\n")
        assert name_line.startswith("event: ")
        assert data_line.startswith("data: ")
        event = json.loads(data_line.removeprefix("data: "))
        assert event["event"] == name_line.removeprefix("event: ")
        events.append(event)
    _, lines = ndjson(client, "/summarize", body)
    assert [without_timings(e) if e["event"] == "done" else e for e in events] == [
        without_timings(e) if e["event"] == "done" else e for e in lines
    ]


def test_other_accept_headers_get_json(client: TestClient) -> None:
    for accept in ("application/json", "*/*", "application/x-ndjson;q=0"):
        response = client.post("/translate", json={"text": "Bonjour."}, headers={"Accept": accept})
        assert response.headers["content-type"] == "application/json"
        assert "translation" in response.json()


def test_a_cached_result_streams_at_once(
    settings: Settings, pipeline: Pipeline, tmp_path: Path, memorized_pairs: list[tuple[str, str]]
) -> None:
    cached = settings.model_copy(update={"cache_size": 8, "jobs_db": tmp_path / "jobs.sqlite3"})
    body, _ = article(memorized_pairs[:3])
    with TestClient(create_app(cached, pipeline=pipeline)) as client:
        answered = client.post("/summarize", json=body)
        assert answered.headers["x-cache"] == "miss"
        _, events = ndjson(client, "/summarize", body)
        _, translated = ndjson(client, "/translate", body)
        _, again = ndjson(client, "/translate", body)
    assert rebuild(events) == answered.json()  # timings too: the very result, not run again
    assert_stream_shape(events, answered.json())
    assert again == translated


# --- errors -------------------------------------------------------------------------------------


def test_errors_before_the_stream_keep_their_status(
    settings: Settings, pipeline: Pipeline, tmp_path: Path, client: TestClient
) -> None:
    assert_envelope(
        client.post("/summarize", json={"text": "  "}, headers=NDJSON), 422, "empty_text"
    )
    assert_envelope(client.post("/translate", json={"txt": "a"}, headers=SSE), 422, "unknown_field")
    small = settings.model_copy(update={"max_chars": 20, "jobs_db": tmp_path / "small.sqlite3"})
    with TestClient(create_app(small, pipeline=pipeline)) as limited:
        response = limited.post("/summarize", json={"text": "Bonjour. " * 10}, headers=NDJSON)
        assert_envelope(response, 413, "text_too_long")


def test_a_full_queue_is_429_before_the_stream(
    client: TestClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: Any, **kwargs: Any) -> Any:
        raise OverloadedError("The translation queue is full: retry shortly.")

    monkeypatch.setattr(pipeline.translation_scheduler, "run", full)
    response = client.post("/translate", json={"text": "Bonjour."}, headers=NDJSON)
    assert_envelope(response, 429, "overloaded")
    assert response.headers["retry-after"] == "2"


def test_models_not_ready_is_503(settings: Settings, tmp_path: Path) -> None:
    release = threading.Event()

    def slow_factory(_: Settings) -> Pipeline:
        release.wait(10)
        raise RuntimeError("never loads")

    app = create_app(
        settings.model_copy(update={"jobs_db": tmp_path / "jobs.sqlite3"}),
        pipeline_factory=slow_factory,
        on_load_failure=lambda _: None,
    )
    with TestClient(app) as client:
        response = client.post("/summarize", json={"text": "Bonjour."}, headers=NDJSON)
        assert_envelope(response, 503, "models_not_ready")
        release.set()


def test_keys_guard_the_stream_and_it_is_counted(
    settings: Settings, pipeline: Pipeline, tmp_path: Path
) -> None:
    keyed = settings.model_copy(
        update={"api_keys": SecretStr(ALPHA), "jobs_db": tmp_path / "jobs.sqlite3"}
    )
    with TestClient(create_app(keyed, pipeline=pipeline)) as client:
        response = client.post("/summarize", json={"text": "Bonjour."}, headers=NDJSON)
        assert_envelope(response, 401, "unauthorized")
        streamed, events = ndjson(client, "/summarize", {"text": "Bonjour."}, **bearer(ALPHA))
        assert streamed.status_code == 200
        assert events[-1]["event"] == "done"
        usage = client.get("/usage", headers=bearer(ALPHA)).json()
    assert usage["total"]["articles"] == 1


@pytest.fixture
def failing_summary(settings: Settings, pipeline: Pipeline, tmp_path: Path) -> Iterator[TestClient]:
    """An app whose summarizer raises on every batch: the translation streams, then fails."""
    engine = RaisingEngine(pipeline.summarizer, [""])
    own = Pipeline(pipeline.translator, engine, pipeline.device, settings)
    app_settings = settings.model_copy(update={"jobs_db": tmp_path / "jobs.sqlite3"})
    try:
        with TestClient(create_app(app_settings, pipeline=own)) as client:
            yield client
    finally:
        own.close()


def test_a_failure_mid_stream_is_an_error_event(
    failing_summary: TestClient, memorized_pairs: list[tuple[str, str]]
) -> None:
    body, english = article(memorized_pairs[:2])
    response, events = ndjson(failing_summary, "/summarize", body, **{"X-Request-ID": "cms-7"})
    assert response.status_code == 200
    assert [e["event"] for e in events] == ["head", "paragraph", "paragraph", "error"]
    assert [e["text"] for e in events[1:3]] == english
    error = events[-1]["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert error["code"] == "inference_failed"
    assert error["request_id"] == "cms-7"
    assert "illegal memory access" not in error["message"]
    # The same failure answered as JSON, for comparison: the same envelope, status 500.
    assert_envelope(failing_summary.post("/summarize", json=body), 500, "inference_failed")


# --- as soon as translated ----------------------------------------------------------------------


class HeldEngine:
    """The real tiny engine, except that a batch holding `word` waits for `release`."""

    def __init__(self, engine: Seq2SeqEngine, word: str) -> None:
        self.engine, self.info, self.word = engine, engine.info, word
        self.release = threading.Event()
        self.holding = threading.Event()

    @property
    def max_input_tokens(self) -> int:
        return self.engine.max_input_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.engine.count_tokens(texts)

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        return self.engine.encode(texts)

    def generate(self, inputs: Sequence[Encoded], settings: GenerationSettings) -> Generated:
        if any(self.word in item.text for item in inputs):
            self.holding.set()
            self.release.wait(30)
        return self.engine.generate(inputs, settings)

    def check(self) -> None:
        self.engine.check()


def test_a_paragraph_is_sent_before_later_ones_are_translated(
    settings: Settings, pipeline: Pipeline, tmp_path: Path, memorized_pairs: list[tuple[str, str]]
) -> None:
    # One sentence per batch: the first paragraph's batch runs while the second one's is held.
    engine = HeldEngine(pipeline.translator, "Retenue")
    own_settings = settings.model_copy(
        update={"translation_batch_tokens": 1, "jobs_db": tmp_path / "jobs.sqlite3"}
    )
    own = Pipeline(engine, pipeline.summarizer, pipeline.device, own_settings)  # type: ignore[arg-type]
    (fr, en) = max(memorized_pairs, key=lambda pair: len(pair[0]))  # the longest runs first
    body = {"text": f"{fr}\n\nRetenue."}
    try:
        with (
            TestClient(create_app(own_settings, pipeline=own)) as client,
            client.stream("POST", "/translate", json=body, headers=NDJSON) as response,
        ):
            lines = response.iter_lines()
            first = json.loads(next(lines))
            assert first["event"] == "paragraph"
            assert first["text"] == en
            assert engine.holding.wait(10), "the second paragraph's batch is held"
            assert not engine.release.is_set()
            engine.release.set()
            rest = [json.loads(line) for line in lines if line]
    finally:
        engine.release.set()
        own.close()
    assert [e["event"] for e in rest] == ["paragraph", "done"]
