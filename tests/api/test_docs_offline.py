"""Offline means offline: no page the service serves makes a browser reach another host (the
newsroom server may have no internet), and /docs and /redoc still render with it cut off."""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from service.config import Settings
from tests.conftest import free_port, model_env, start_server

PAGES = ["/", "/docs", "/redoc", "/docs/oauth2-redirect", "/openapi.json"]
"""Pages to check besides every parameterless GET of the OpenAPI document (`/` once it exists)."""

# Attributes through which a page makes the browser load something (a link a reader may follow,
# `<a href>`, loads nothing by itself and is not checked).
LOADING = {"src", "href", "srcset", "poster", "data", "action", "formaction"}
NAVIGATION = {"a", "area"}
ABSOLUTE = re.compile(r"""https?://[^\s"'`)<>]+""", re.IGNORECASE)
NAMESPACES = {"www.w3.org"}
"""Hosts of XML namespace names (`http://www.w3.org/2000/svg`), which are never fetched."""
CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)|@import\s+(['"])(.*?)\3""", re.IGNORECASE)


class _References(HTMLParser):
    """Collects every URL an HTML page may load: element attributes, and the text of inline
    scripts and styles (and style attributes)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []  # (where, url)
        self.inline: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "style":
                self.inline.append(value)
            elif name in LOADING and tag not in NAVIGATION:
                for url in value.split(",") if name == "srcset" else [value]:
                    self.urls.append((f"<{tag} {name}>", url.strip().split(" ")[0]))
            elif tag == "meta" and name == "content" and "url=" in value.lower():
                self.urls.append(("<meta refresh>", value.split("=", 1)[1]))
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self.inline.append(data)


def _foreign(url: str, host: str) -> bool:
    """Whether `url` points at a host other than the service's own."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "javascript", "mailto") or url.startswith("#"):
        return False
    return bool(parts.netloc) and parts.netloc != host and parts.hostname not in NAMESPACES


def _css_urls(css: str) -> list[str]:
    return [match.group(2) or match.group(4) for match in CSS_URL.finditer(css)]


def _pages(client: TestClient) -> list[str]:
    spec = client.get("/openapi.json").json()
    found = [
        path
        for path, operations in spec["paths"].items()
        if "get" in operations and "{" not in path
    ]
    return list(dict.fromkeys(PAGES + found))


def test_no_page_refers_to_another_host(client: TestClient) -> None:
    host = "testserver"
    checked_html = 0
    for page in _pages(client):
        response = client.get(page)
        if response.status_code == 404:
            continue  # `/` does not exist (yet)
        assert response.status_code == 200, (page, response.status_code)
        kind = response.headers["content-type"]
        if not kind.startswith("text/html"):
            # JSON answers: nothing a browser would load by itself, except external references.
            for ref in re.findall(r'"\$ref":\s*"([^"]*)"', response.text):
                assert ref.startswith("#/"), (page, ref)
            if page == "/openapi.json":
                spec = response.json()
                assert all(not urlsplit(s["url"]).netloc for s in spec.get("servers", [])), page
            continue
        checked_html += 1
        parser = _References()
        parser.feed(response.text)
        foreign = [(where, url) for where, url in parser.urls if _foreign(url, host)]
        for text in parser.inline:
            found = ABSOLUTE.findall(text) + _css_urls(text)
            foreign += [("inline", url) for url in found if _foreign(url, host)]
        assert not foreign, (page, foreign)
        # Every asset it loads is served by the service, and its stylesheets load nothing from
        # elsewhere either (fonts, images).
        for _, url in parser.urls:
            if url.startswith(("data:", "#", "javascript:")):
                continue
            asset = client.get(urljoin(f"http://{host}{page}", url))
            assert asset.status_code == 200, (page, url, asset.status_code)
            if url.endswith(".css") or asset.headers["content-type"].startswith("text/css"):
                for inner in _css_urls(asset.text):
                    assert inner.startswith("data:") or not _foreign(inner, host), (url, inner)
    assert checked_html >= 3  # /docs, /redoc and the OAuth2 redirect page at least


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_forbid_other_hosts(client: TestClient, page: str) -> None:
    """ReDoc's bundle renders Redocly's logo from cdn.redoc.ly; the policy makes the browser
    refuse it (the browser test below shows that nothing then leaves)."""
    policy = client.get(page).headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    for name in ("script-src", "style-src", "img-src", "font-src", "connect-src", "worker-src"):
        sources = directives[name].split()
        assert all(s.startswith("'") or s in ("data:", "blob:") for s in sources), (name, sources)


def test_swagger_ui_calls_no_online_validator(client: TestClient) -> None:
    """Swagger UI would otherwise load a badge from validator.swagger.io, sending it the
    address of the OpenAPI document."""
    assert '"validatorUrl": null' in client.get("/docs").text


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def docs_server(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """A real server; the docs need no models, so it is used as soon as it answers /docs."""
    port = free_port()
    log = tmp_path / "server.log"
    server = start_server(model_env(settings, DEPECHE_PORT=str(port)), log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            assert server.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{base}/docs", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.25)
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


@pytest.mark.slow
def test_the_docs_render_in_a_browser_cut_off_from_other_hosts(docs_server: str) -> None:
    """Chromium loads /docs and /redoc with every request to another host blocked and
    recorded: the pages render (operations listed) and nothing tried to leave."""
    sync_api: Any = pytest.importorskip("playwright.sync_api")
    executable = os.environ.get("DEPECHE_TEST_CHROMIUM") or _chromium()
    if executable is None:
        pytest.skip("no chromium to drive (apt-get install chromium, or DEPECHE_TEST_CHROMIUM)")
    own = urlsplit(docs_server).netloc
    attempted: list[str] = []
    console: list[str] = []

    def guard(route: Any) -> None:
        if urlsplit(route.request.url).netloc == own or route.request.url.startswith("data:"):
            route.continue_()
        else:
            attempted.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.route("**/*", guard)
            page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
            page.goto(f"{docs_server}/docs")
            page.wait_for_selector(".opblock-summary-path", timeout=30_000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            assert any("/summarize" in path for path in paths), paths
            page.goto(f"{docs_server}/redoc")
            page.wait_for_selector("h2:has-text('Summarize')", timeout=30_000)
            assert "Dépêche" in page.locator("h1").first.inner_text()
        finally:
            browser.close()
    assert attempted == []
    # The policy refused only decorations (ReDoc's remote logo), never a script, style or fetch
    # the pages need.
    refused = [line for line in console if "Content Security Policy" in line]
    assert all('"img-src' in line for line in refused), refused
