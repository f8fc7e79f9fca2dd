"""The log formats: text (the default) and JSON lines, for the service's own records and the
access log alike, with the request's id, route, status, duration and article characters."""

from __future__ import annotations

import io
import json
import logging
import re
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.config import Settings
from service.logs import FORMAT, configure_logging
from service.pipeline import Pipeline
from tests.conftest import free_port, model_env, start_server, wait_ready

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) \S+: ")


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Where configure_logging writes in a test; the root logger is put back afterwards."""
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # undone after the test
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield io.StringIO()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line must be one JSON object."""
    lines = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(line, dict) for line in lines)
    return lines


def test_text_is_the_default() -> None:
    assert Settings().log_format == "text"


def test_json_lines_carry_level_logger_message_and_traceback(stream: io.StringIO) -> None:
    configure_logging("info", "json", stream)
    log = logging.getLogger("tests.logs")
    log.info("bonjour %s", "le monde")
    log.debug("not shown at info")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it failed")
    # A lone surrogate and a newline in a message stay one valid, encodable line.
    log.warning("odd \ud800 text\nsecond line")
    first, failed, odd = json_lines(stream.getvalue())
    assert first["message"] == "bonjour le monde"
    assert (first["level"], first["logger"]) == ("INFO", "tests.logs")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", first["time"])
    assert "request_id" not in first  # no request: no request fields
    assert failed["level"] == "ERROR"
    assert "ValueError: boom" in failed["exception"]
    assert odd["message"] == "odd \ud800 text\nsecond line"
    stream.getvalue().encode("ascii")


def test_text_lines_keep_the_classic_format(stream: io.StringIO) -> None:
    configure_logging("warning", "text", stream)
    logging.getLogger("tests.logs").info("hidden")
    logging.getLogger("tests.logs").warning("shown")
    (line,) = stream.getvalue().splitlines()
    assert TEXT_LINE.match(line), line
    assert line.endswith("WARNING tests.logs: shown")
    assert FORMAT == "%(asctime)s %(levelname)s %(name)s: %(message)s"


@pytest.fixture
def app_client(settings: Settings, pipeline: Pipeline, tmp_path: Path) -> Iterator[TestClient]:
    own = settings.model_copy(update={"jobs_db": tmp_path / "jobs.sqlite3"})
    with TestClient(create_app(own, pipeline=pipeline)) as client:
        yield client


def access_lines(lines: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
    return [
        line
        for line in lines
        if line["logger"] == "depeche.access" and line.get("request_id") == request_id
    ]


def test_json_access_line_per_request(stream: io.StringIO, app_client: TestClient) -> None:
    configure_logging("info", "json", stream)
    body = {"text": "Le gouvernement a annoncé un plan.", "title": "Un plan"}
    assert app_client.post("/translate", json=body, headers={"X-Request-ID": "cms-7"}).is_success
    assert app_client.get(f"/jobs/{uuid.uuid4().hex}", headers={"X-Request-ID": "cms-8"})
    lines = json_lines(stream.getvalue())

    (access,) = access_lines(lines, "cms-7")
    assert access["message"].startswith("POST /translate 200 ")
    assert (access["method"], access["path"], access["route"]) == (
        "POST",
        "/translate",
        "/translate",
    )
    assert access["status"] == 200
    assert access["duration_ms"] > 0
    assert access["article_chars"] == len(body["text"]) + len(body["title"])
    (missing,) = access_lines(lines, "cms-8")
    assert (missing["route"], missing["status"]) == ("/jobs/{job_id}", 404)
    assert "article_chars" not in missing


def test_records_inside_a_request_carry_its_id_and_route(
    stream: io.StringIO, settings: Settings, pipeline: Pipeline
) -> None:
    """A record logged in the route's worker thread, and the traceback of a crash logged by the
    error handler, both name the request."""

    class Broken(Pipeline):
        def translate(self, *args: Any, **kwargs: Any) -> Any:
            logging.getLogger("tests.broken").warning("about to fail")
            raise RuntimeError("boom")

    broken = Broken(pipeline.translator, pipeline.summarizer, pipeline.device, settings)
    configure_logging("info", "json", stream)
    try:
        with TestClient(create_app(settings, pipeline=broken), raise_server_exceptions=False) as c:
            response = c.post("/translate", json={"text": "Un."}, headers={"X-Request-ID": "r-9"})
    finally:
        broken.close()
    assert response.status_code == 500
    lines = json_lines(stream.getvalue())
    (inside,) = [line for line in lines if line["logger"] == "tests.broken"]
    assert (inside["request_id"], inside["route"]) == ("r-9", "/translate")
    (crash,) = [line for line in lines if "exception" in line and "boom" in line["exception"]]
    assert crash["request_id"] == "r-9"
    (access,) = access_lines(lines, "r-9")
    assert access["status"] == 500


def test_text_access_line_per_request(stream: io.StringIO, app_client: TestClient) -> None:
    configure_logging("info", "text", stream)
    body = {"text": "Le gouvernement a annoncé un plan."}
    assert app_client.post("/translate", json=body, headers={"X-Request-ID": "cms-t1"}).is_success
    app_client.get("/x%0Ay%1b", headers={"X-Request-ID": "cms-t2"})
    lines = [line for line in stream.getvalue().splitlines() if "depeche.access" in line]
    assert all(TEXT_LINE.match(line) for line in lines)
    (translate,) = [line for line in lines if "request_id=cms-t1" in line]
    assert re.search(
        r"INFO depeche\.access: POST /translate 200 [\d.]+ ms request_id=cms-t1 chars=34$",
        translate,
    ), translate
    # A newline or escape decoded from the path cannot start a forged line.
    (stray,) = [line for line in lines if "request_id=cms-t2" in line]
    assert "GET /x\\ny\\x1b 404" in stray


@pytest.mark.slow
def test_a_real_server_writes_only_json_lines(settings: Settings, tmp_path: Path) -> None:
    """uvicorn's own records go through the same formatter, and each request has exactly one
    access line (uvicorn's access log is off)."""
    port = free_port()
    log = tmp_path / "server.log"
    env = model_env(settings, DEPECHE_PORT=str(port), DEPECHE_LOG_FORMAT="json")
    server = start_server(env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, server, log)
        ids = [f"real-{n}" for n in range(3)]
        for request_id in ids:
            response = httpx.post(
                f"{base}/translate",
                json={"text": "Bonjour le monde."},
                headers={"X-Request-ID": request_id},
                timeout=60,
            )
            assert response.status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    lines = json_lines(log.read_text())
    loggers = {line["logger"] for line in lines}
    assert {"uvicorn.error", "depeche.access"} <= loggers, loggers
    assert any("Application startup complete" in line["message"] for line in lines)
    for request_id in ids:
        (access,) = access_lines(lines, request_id)
        assert (access["route"], access["status"]) == ("/translate", 200)
        assert access["client"] == "127.0.0.1"
    assert "uvicorn.access" not in loggers
