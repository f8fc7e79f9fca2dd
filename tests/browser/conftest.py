"""Browser fixtures: Debian's chromium under Playwright, real servers on the tiny models, pages.

Playwright's own browser download is not available here, so the tests drive the system's
`chromium` (`executable_path`). Without it they skip, unless CI is set (or
DEPECHE_TEST_REQUIRE_BROWSER=1, which `.ci/run` sets after installing it): then they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr

from service.api.app import create_app
from service.api.schemas import SummarizeRequest
from service.config import Settings
from service.pipeline import Pipeline
from service.results import Meta, SummarizeResult, Translation
from tests.conftest import free_port

API_KEY = "editor-page-key-0123456789"

# What the service answers today. The page is built to CONTRACT.md; the tests of parts the
# service does not have yet skip until they land (then these probes turn them on).
HAS_SENTENCES = "sentences" in Translation.model_fields
HAS_GROUNDING = "grounding" in SummarizeResult.model_fields
HAS_TRANSLATION_CHECKS = "translation_checks" in SummarizeResult.model_fields
HAS_GLOSSARY = "glossary" in Meta.model_fields and "glossary" in SummarizeRequest.model_fields

needs_sentences = pytest.mark.skipif(
    not HAS_SENTENCES, reason="no translation.sentences in the service yet (issue 9, part 1)"
)
needs_grounding = pytest.mark.skipif(
    not (HAS_SENTENCES and HAS_GROUNDING),
    reason="no grounding in /summarize yet (issue 9, part 2)",
)
needs_translation_checks = pytest.mark.skipif(
    not (HAS_SENTENCES and HAS_TRANSLATION_CHECKS),
    reason="no translation_checks in the service yet (issue 9, part 2)",
)
needs_glossary = pytest.mark.skipif(
    not (HAS_SENTENCES and HAS_GLOSSARY),
    reason="no glossary / meta.glossary in the service yet (issue 9, part 3)",
)


def _required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("DEPECHE_TEST_REQUIRE_BROWSER") == "1"


def _unavailable(message: str) -> None:
    if _required():
        pytest.fail(f"{message}; the browser tests must run in CI")
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        _unavailable("Debian's chromium is not installed (apt-get install chromium)")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as playwright:
        # A container's small /dev/shm crashes chromium; its temp folder does not.
        chromium = playwright.chromium.launch(
            executable_path=chromium_path, args=["--disable-dev-shm-usage"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Server:
    """A real uvicorn serving the app on the tiny models, in a thread of the test process."""

    base: str
    api_key: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def job(self, job_id: str) -> dict[str, Any]:
        response = httpx.get(f"{self.base}/jobs/{job_id}", headers=self.headers(), timeout=10)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def has_route(self, path: str) -> bool:
        paths = httpx.get(f"{self.base}/openapi.json", timeout=10).json()["paths"]
        return path in paths


def _serve(settings: Settings, pipeline: Pipeline) -> Iterator[str]:
    """uvicorn on a free port of 127.0.0.1, sharing the session's loaded pipeline (a server
    process of its own would load the models again: a minute on a busy two-core machine)."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, pipeline=pipeline), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert thread.is_alive(), "uvicorn stopped at startup"
        try:
            if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "uvicorn not ready in 60 s"
        time.sleep(0.1)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def server(
    settings: Settings, pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    own = settings.model_copy(update={"jobs_db": tmp_path_factory.mktemp("page") / "jobs.db"})
    for base in _serve(own, pipeline):
        yield Server(base)


@pytest.fixture(scope="session")
def keyed_server(
    settings: Settings, pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    keyed = settings.model_copy(
        update={
            "api_keys": SecretStr(API_KEY),
            "jobs_db": tmp_path_factory.mktemp("page-keyed") / "jobs.db",
        }
    )
    for base in _serve(keyed, pipeline):
        yield Server(base, api_key=API_KEY)


DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

# Every text the progress line shows, in order, for the tests to read afterwards.
_RECORD_PROGRESS = """
window.__progress = [];
document.addEventListener("DOMContentLoaded", () => {
  const label = document.getElementById("progress-label");
  new MutationObserver(() => window.__progress.push(label.textContent))
    .observe(label, {childList: true, characterData: true, subtree: true});
});
"""


@dataclass
class Editor:
    """One browser page on the editor, with what it requested and any script error."""

    page: Any
    base: str
    shots: Path
    requests: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def wait(self, expression: str, timeout: float = 30) -> None:
        """Poll a JS expression until it is truthy. (Playwright's wait_for_function evaluates
        strings with eval, which the page's Content-Security-Policy refuses, rightly.)"""
        deadline = time.monotonic() + timeout
        while not self.page.evaluate(expression):
            assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
            self.page.wait_for_timeout(100)

    def open(self) -> None:
        self.page.goto(f"{self.base}/")
        self.wait("document.body.dataset.state === 'idle'")

    def paste(self, article: str, headline: str = "") -> None:
        self.page.fill("#source", article)
        self.page.fill("#headline", headline)

    def run(self, outcome: str = "done", timeout: float = 120) -> None:
        """Click #run and wait until the page shows the result (or the error)."""
        self.page.click("#run")
        self.wait(f"document.body.dataset.state === {json.dumps(outcome)}", timeout)

    def job_id(self) -> str:
        job_id: str = self.page.get_attribute("#results", "data-job-id")
        assert job_id
        return job_id

    def texts(self, selector: str) -> list[str]:
        texts: list[str] = self.page.locator(selector).all_inner_texts()
        return texts

    def progress(self) -> list[str]:
        seen: list[str] = self.page.evaluate("window.__progress")
        return seen

    def posted(self, path: str) -> list[dict[str, Any]]:
        """JSON bodies the page POSTed to `path`."""
        return [
            json.loads(r.post_data or "null")
            for r in self.requests
            if r.method == "POST" and r.url == f"{self.base}{path}"
        ]

    def screenshot(self, name: str) -> Path:
        """A full-page PNG in the test's output folder (and DEPECHE_TEST_SCREENSHOTS, if set)."""
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        extra = os.environ.get("DEPECHE_TEST_SCREENSHOTS")
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(extra) / path.name)
        return path


def _console(editor: Editor, message: Any) -> None:
    # Chromium logs every 4xx answer as "Failed to load resource"; the page shows those itself.
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        editor.errors.append(message.text)


def open_editor(browser: Any, base: str, shots: Path, viewport: dict[str, int]) -> Iterator[Editor]:
    context = browser.new_context(viewport=viewport, base_url=base)
    context.add_init_script(_RECORD_PROGRESS)
    page = context.new_page()
    page.set_default_timeout(30_000)
    editor = Editor(page, base, shots)
    page.on("request", lambda request: editor.requests.append(request))
    page.on("pageerror", lambda error: editor.errors.append(str(error)))
    page.on("console", lambda message: _console(editor, message))
    try:
        yield editor
    finally:
        context.close()


@pytest.fixture
def editor(browser: Any, server: Server, tmp_path: Path) -> Iterator[Editor]:
    """The editor's page at desktop width on the plain server."""
    yield from open_editor(browser, server.base, tmp_path, DESKTOP)


@pytest.fixture
def phone(browser: Any, server: Server, tmp_path: Path) -> Iterator[Editor]:
    """The editor's page at a phone's width on the plain server."""
    yield from open_editor(browser, server.base, tmp_path, PHONE)
