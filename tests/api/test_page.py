"""The editor's page over HTTP: served at /, everything it loads comes from the service, keys."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.api.app import create_app
from service.api.page import STATIC
from service.config import Settings
from service.pipeline import Pipeline
from tests.api.test_routes import assert_envelope

CONTRACT_IDS = ("source", "headline", "run", "translation", "french", "key-points", "verify")


class _Page(HTMLParser):
    """Ids, and every URL the page's markup points at (src, href)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, str] = {}
        self.urls: list[str] = []
        self.module_scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if "id" in values:
            self.ids[values["id"]] = tag
        for name in ("src", "href"):
            if name in values and not values[name].startswith("#"):  # a place on the page
                self.urls.append(values[name])
        if tag == "script" and values.get("type") == "module":
            self.module_scripts.append(values["src"])


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _imports(script: str) -> list[str]:
    """Module specifiers of a script's static and dynamic imports."""
    static = re.findall(r"""^\s*import\s[^;]*?from\s+["']([^"']+)["']""", script, re.M | re.S)
    dynamic = re.findall(r"""import\(\s*["']([^"']+)["']""", script)
    return static + dynamic


def test_page_is_served_at_the_root_with_the_contract_ids(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = parse(response.text)
    assert page.ids["source"] == "textarea"
    assert page.ids["headline"] == "input"
    assert page.ids["run"] == "button"
    for element_id in CONTRACT_IDS:
        assert element_id in page.ids, element_id
    assert 'name="depeche-api-keys" content="off"' in response.text
    assert client.head("/").status_code == 200


def test_page_and_its_files_forbid_other_hosts(client: TestClient) -> None:
    """The page loads only same-origin URLs, and its CSP tells the browser to refuse others."""
    response = client.get("/")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    for directive in ("script-src", "style-src", "connect-src"):
        assert f"{directive} 'self'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    page = parse(response.text)
    assert page.urls, "the page links its style sheet and script"
    for url in page.urls:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url  # another host, scheme-relative


def test_every_file_the_page_loads_is_served(client: TestClient) -> None:
    """Follow the page's links and its modules' imports: each answers 200 with its type."""
    page = parse(client.get("/").text)
    queue = list(page.urls)
    seen: set[str] = set()
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        assert response.status_code == 200, url
        kind = response.headers["content-type"]
        if url.endswith(".js"):
            assert kind.startswith("text/javascript"), (url, kind)
            for spec in _imports(response.text):
                assert spec.startswith("./"), (url, spec)  # same folder, same origin
                queue.append("/static/" + spec.removeprefix("./"))
        elif url.endswith(".css"):
            assert kind.startswith("text/css")
            assert "url(" not in response.text
            assert "@import" not in response.text
    served = {path.name for path in STATIC.iterdir() if path.suffix in {".js", ".css", ".svg"}}
    assert {url.removeprefix("/static/") for url in seen} == served, "a file is never loaded"


def test_static_files_name_no_foreign_host() -> None:
    """No file of the page names another host (the SVG namespace is a name, not a load)."""
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8").replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text), path.name


@pytest.mark.parametrize(
    "path", ["/static/nope.js", "/static/..%2Fpage.py", "/static/.hidden.js", "/static/"]
)
def test_unknown_static_paths_are_404_envelopes(client: TestClient, path: str) -> None:
    assert_envelope(client.get(path), 404, "not_found")


def test_page_is_not_in_the_api_docs(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not any(path.startswith("/static") for path in paths)


def test_dockerfile_copies_the_page() -> None:
    """The image gets the page with the service's code (COPY service/)."""
    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    assert "COPY service/ ./service/" in dockerfile
    assert STATIC.is_relative_to(Path(__file__).resolve().parents[2] / "service")


@pytest.fixture
def keyed_client(settings: Settings, pipeline: Pipeline, tmp_path: Path) -> Iterator[TestClient]:
    keyed = settings.model_copy(
        update={"api_keys": SecretStr("page-key-0123"), "jobs_db": tmp_path / "jobs.sqlite3"}
    )
    with TestClient(create_app(keyed, pipeline=pipeline)) as client:
        yield client


def test_with_keys_on_the_page_is_open_and_says_keys_are_needed(keyed_client: TestClient) -> None:
    response = keyed_client.get("/")
    assert response.status_code == 200
    assert 'name="depeche-api-keys" content="on"' in response.text
    assert keyed_client.get("/static/app.js").status_code == 200
    assert keyed_client.post("/jobs", json={"text": "Bonjour."}).status_code == 401
