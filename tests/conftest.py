"""Shared fixtures: tiny models built once per session, settings, pipeline and API client."""

from __future__ import annotations

import atexit
import functools
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.config import Settings
from service.pipeline import Pipeline

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SAMPLE_ARTICLE = ROOT / "scripts" / "examples" / "seed_article.fr.txt"


def _load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    """Each test leaves os.environ as it found it: `service.cli.main` sets HF_HUB_OFFLINE for
    offline settings, and a test that calls it in process must not hand that to the next one
    (scripts/fetch_models.py refuses to run under it)."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def test_models() -> Path:
    """Tiny MarianMT and BART checkpoints, built by scripts/make_test_models.py once per session.

    They live in `.test-models/` (git-ignored) and are reused while their build info matches;
    DEPECHE_TEST_MODELS_DIR puts them elsewhere.
    """
    out = Path(os.environ.get("DEPECHE_TEST_MODELS_DIR", ROOT / ".test-models"))
    builder = _load_script("make_test_models")
    return Path(builder.build_test_models(out))


@pytest.fixture(scope="session")
def memorized_pairs() -> list[tuple[str, str]]:
    """French/English FLORES pairs the tiny Marian was trained to reproduce exactly."""
    rows = (DATA / "memorized_pairs.tsv").read_text(encoding="utf-8").splitlines()
    return [(fr, en) for fr, en in (row.split("\t") for row in rows if row.strip())]


@pytest.fixture(scope="session")
def settings(test_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        translation_model=str(test_models / "translation"),
        summary_model=str(test_models / "summary"),
        offline=True,
        device="cpu",
        # Pinned: with auto the service would convert the tiny models to CTranslate2 beside
        # them, into the shared .test-models/. tests/engines/test_auto_convert.py runs auto on
        # copies; tests/engines/test_ct2.py runs the CTranslate2 engine.
        engine="transformers",
        intra_threads=2,
        jobs_db=tmp_path_factory.mktemp("jobs") / "jobs.sqlite3",
        cache_size=0,  # shared by every test: no result of one may answer another (test_cache)
    )


@pytest.fixture(scope="session")
def pipeline(settings: Settings) -> Pipeline:
    return Pipeline.load(settings)


@pytest.fixture(scope="session")
def client(settings: Settings, pipeline: Pipeline) -> Iterator[TestClient]:
    with TestClient(create_app(settings, pipeline=pipeline)) as test_client:
        yield test_client


@pytest.fixture
def sample_article() -> str:
    return SAMPLE_ARTICLE.read_text(encoding="utf-8")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@functools.lru_cache(maxsize=1)
def _jobs_dir() -> Path:
    """One folder per test session for the job tables of subprocess servers, removed at exit."""
    path = Path(tempfile.mkdtemp(prefix="depeche-test-jobs-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def model_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for a subprocess (CLI, server) that runs on the tiny models, offline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPECHE_")}
    env.update(
        DEPECHE_TRANSLATION_MODEL=str(settings.translation_model),
        DEPECHE_SUMMARY_MODEL=str(settings.summary_model),
        DEPECHE_OFFLINE="1",
        DEPECHE_DEVICE="cpu",
        DEPECHE_ENGINE=settings.engine,
        PYTHONPATH=str(ROOT),
        # A job table of its own, never one in the checkout (extra may name one to share).
        DEPECHE_JOBS_DB=str(_jobs_dir() / f"jobs-{uuid.uuid4().hex}.sqlite3"),
    )
    env.update(extra)
    return env


def start_server(env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    """`python -m service serve` in a subprocess; its output goes to `log`, so it never blocks
    on a full pipe however much it logs."""
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "service", "serve"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def wait_ready(base: str, server: subprocess.Popen[str], log: Path, timeout: float = 120) -> None:
    """Wait until the server at `base` answers /ready with 200; fail with its log otherwise."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, f"server exited: {log.read_text()[-3000:]}"
        try:
            if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"server not ready in {timeout} s: {log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway `redis-server` on a free port for the session (no persistence).

    Skipped when redis-server is not installed, unless DEPECHE_TEST_REQUIRE_REDIS=1 (CI sets
    it after installing Debian's redis-server), which turns the skip into a failure.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("DEPECHE_TEST_REQUIRE_REDIS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    import redis

    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert server.poll() is None, "redis-server exited at startup"
            assert time.monotonic() < deadline, "redis-server did not answer in 10 s"
            time.sleep(0.05)
    client.close()
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of the test's own, so tests sharing the server never see each other."""
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The jobs backend's settings: the SQLite file, or the test Redis under a fresh prefix."""
    if request.param == "sqlite":
        return {}
    return {
        "jobs_backend": "redis",
        "redis_url": request.getfixturevalue("redis_url"),
        "redis_prefix": request.getfixturevalue("redis_prefix"),
    }
