"""A job survives `kill -9` of the server mid-run: a new server on the same jobs database
takes it over and finishes it, with the exact known translation."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.config import Settings
from tests.conftest import free_port, model_env, start_server, wait_ready
from tests.test_pipeline import long_article


def submit_until_running(base: str, text: str) -> dict[str, Any]:
    """POST /jobs with `text`; the job once a worker has translated some of it."""
    response = httpx.post(f"{base}/jobs", json={"text": text}, timeout=10)
    assert response.status_code == 202, response.text
    job = poll(
        base,
        response.json()["id"],
        lambda j: j["status"] != "queued" and j["progress"]["done"] > 0,
        timeout=60,
    )
    assert job["status"] == "running", job
    return job


def poll(base: str, job_id: str, until: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = httpx.get(f"{base}/jobs/{job_id}", timeout=5).json()
        if until(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


@pytest.mark.slow
def test_a_job_survives_kill_9_and_completes_after_a_restart(
    settings: Settings, memorized_pairs: list[tuple[str, str]], tmp_path: Path
) -> None:
    text, expected, sentences = long_article(memorized_pairs, min_words=3000)
    db = tmp_path / "jobs.sqlite3"
    servers: list[subprocess.Popen[str]] = []

    def start(name: str) -> str:
        port = free_port()
        env = model_env(
            settings, DEPECHE_PORT=str(port), DEPECHE_JOBS_DB=str(db), DEPECHE_INTRA_THREADS="1"
        )
        log = tmp_path / f"{name}.log"
        servers.append(start_server(env, log))
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, servers[-1], log)
        return base

    try:
        base = start("first")
        job_id = submit_until_running(base, text)["id"]

        servers[0].send_signal(signal.SIGKILL)
        servers[0].wait(timeout=10)  # reaped: its pid is gone, as after a real crash
        with sqlite3.connect(db) as conn:
            status, runs, done = conn.execute(
                "select status, runs, progress_done from jobs where id = ?", (job_id,)
            ).fetchone()
        assert (status, runs) == ("running", 1)
        assert 0 < done < sentences, "killed mid-run"

        base = start("second")
        job = poll(base, job_id, lambda j: j["status"] in ("done", "failed"), timeout=120)
        assert job["status"] == "done", job
        assert job["runs"] == 2
        assert job["result"]["translation"]["paragraphs"] == expected
        coverage = job["result"]["meta"]["coverage"]
        assert coverage["sentences"] == coverage["translated"] == sentences
        assert job["progress"]["fraction"] == 1.0
    finally:
        for server in servers:
            if server.poll() is None:
                server.kill()
                server.wait(timeout=10)
