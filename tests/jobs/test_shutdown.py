"""SIGTERM stops the server cleanly: it stops accepting work at once, lets the requests and jobs
in flight finish within DEPECHE_SHUTDOWN_GRACE_S, and a job still running after the grace goes
back to the queue: a new server on the same jobs database finishes it, once, exactly."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from service.config import Settings
from tests.conftest import free_port, model_env, start_server, wait_ready
from tests.jobs.test_restart import poll, submit_until_running
from tests.test_pipeline import long_article

pytestmark = pytest.mark.slow

STOPPED = (0, -signal.SIGTERM)
"""uvicorn re-raises the SIGTERM it handled once shutdown is complete, so a clean stop ends
with the signal's default action."""


class Servers:
    """Servers of one test on one jobs database, all killed at the end whatever happens."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.settings = settings
        self.tmp_path = tmp_path
        self.db = tmp_path / "jobs.sqlite3"
        self.running: list[subprocess.Popen[str]] = []

    def start(self, name: str, **extra: str) -> tuple[str, subprocess.Popen[str], Path]:
        port = free_port()
        env = model_env(
            self.settings,
            DEPECHE_PORT=str(port),
            DEPECHE_JOBS_DB=str(self.db),
            DEPECHE_INTRA_THREADS="1",
            DEPECHE_CACHE_SIZE="0",
            **extra,
        )
        log = self.tmp_path / f"{name}.log"
        server = start_server(env, log)
        self.running.append(server)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, server, log)
        return base, server, log

    def job_row(self, job_id: str) -> tuple[str, int]:
        with sqlite3.connect(self.db) as conn:
            status, runs = conn.execute(
                "select status, runs from jobs where id = ?", (job_id,)
            ).fetchone()
        return str(status), int(runs)

    def kill_all(self) -> None:
        for server in self.running:
            if server.poll() is None:
                server.kill()
                server.wait(timeout=10)


def refuses_connections(base: str, timeout: float = 10) -> bool:
    """True once nothing accepts connections at `base` any more."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/health", timeout=2)
        except httpx.ConnectError:
            return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return False


def test_sigterm_puts_the_running_job_back_and_a_restart_finishes_it_once(
    settings: Settings, memorized_pairs: list[tuple[str, str]], tmp_path: Path
) -> None:
    text, expected, sentences = long_article(memorized_pairs, min_words=3000)
    short = memorized_pairs[:2]
    servers = Servers(settings, tmp_path)
    try:
        # A grace far shorter than the job: it cannot finish in time and must be put back.
        base, first, first_log = servers.start("first", DEPECHE_SHUTDOWN_GRACE_S="1")
        job_id = submit_until_running(base, text)["id"]
        waiting = httpx.post(
            f"{base}/jobs", json={"text": " ".join(fr for fr, _ in short)}, timeout=10
        ).json()["id"]
        assert httpx.get(f"{base}/jobs/{waiting}", timeout=5).json()["status"] == "queued"

        signalled = time.monotonic()
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) in STOPPED, first_log.read_text()[-3000:]
        stopped_in = time.monotonic() - signalled
        assert stopped_in < 20, f"stopping took {stopped_in:.1f} s with a 1 s grace"

        # Back in the queue, not failed, not lost; the queued job was not started.
        assert servers.job_row(job_id) == ("queued", 1)
        assert servers.job_row(waiting) == ("queued", 0)
        first_text = first_log.read_text()
        assert f"job {job_id} put back in the queue at shutdown" in first_text
        assert f"job {waiting} started" not in first_text
        assert f"job {job_id} done" not in first_text

        base, _, second_log = servers.start("second")
        job = poll(base, job_id, lambda j: j["status"] in ("done", "failed"), timeout=180)
        assert job["status"] == "done", job
        assert job["runs"] == 2, "started once before SIGTERM, once after the restart"
        assert job["result"]["translation"]["paragraphs"] == expected
        coverage = job["result"]["meta"]["coverage"]
        assert coverage["sentences"] == coverage["translated"] == sentences
        assert second_log.read_text().count(f"job {job_id} done") == 1, "finished once"

        other = poll(base, waiting, lambda j: j["status"] in ("done", "failed"), timeout=60)
        assert other["status"] == "done", other
        assert other["runs"] == 1
        assert other["result"]["translation"]["paragraphs"] == [" ".join(en for _, en in short)]
    finally:
        servers.kill_all()


def test_sigterm_lets_a_summarize_request_and_a_job_in_flight_finish(
    settings: Settings, memorized_pairs: list[tuple[str, str]], tmp_path: Path
) -> None:
    # Long enough that neither can finish before the signal on a fast, idle machine (1,500
    # words each took 4 s there, and the job was done before the SIGTERM was sent).
    job_text, job_expected, _ = long_article(memorized_pairs, min_words=6000, seed=11)
    text, expected, sentences = long_article(memorized_pairs, min_words=5000, seed=3)
    servers = Servers(settings, tmp_path)
    try:
        # A grace long enough for both on a slow machine; the server leaves as soon as they end.
        base, server, log = servers.start("server", DEPECHE_SHUTDOWN_GRACE_S="300")
        job_id = submit_until_running(base, job_text)["id"]
        with httpx.Client(base_url=base, timeout=300) as client, ThreadPoolExecutor(1) as pool:
            assert client.get("/health").status_code == 200  # the connection is open already
            in_flight = pool.submit(client.post, "/summarize", json={"text": text})
            time.sleep(1.5)  # the request has reached the server and runs
            assert not in_flight.done()
            assert httpx.get(f"{base}/jobs/{job_id}", timeout=5).json()["status"] == "running"
            server.send_signal(signal.SIGTERM)

            assert refuses_connections(base), "new connections are refused during the drain"
            assert not in_flight.done(), "the drain began while the request was still running"
            response = in_flight.result(timeout=300)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["translation"]["paragraphs"] == expected
        assert body["meta"]["coverage"]["translated"] == sentences
        assert len(body["key_points"]) >= 1

        assert server.wait(timeout=300) in STOPPED, log.read_text()[-3000:]
        # The job finished inside the grace: done, by its first run, never put back.
        assert servers.job_row(job_id) == ("done", 1)
        output = log.read_text()
        assert f"job {job_id} done" in output
        assert "put back in the queue" not in output
        with sqlite3.connect(servers.db) as conn:
            (result,) = conn.execute(
                "select result_json from jobs where id = ?", (job_id,)
            ).fetchone()
        assert json.loads(result)["translation"]["paragraphs"] == job_expected
    finally:
        servers.kill_all()
