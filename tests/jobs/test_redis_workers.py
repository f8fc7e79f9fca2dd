"""Several machines on one Redis: an API process that only accepts jobs, and separate
`python -m service worker` processes that run them. A worker killed with `kill -9` mid-job
loses nothing: another worker takes the job over and finishes it with the exact translation."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from service.config import Settings
from tests.conftest import ROOT, free_port, model_env, start_server, wait_ready
from tests.jobs.test_restart import poll, submit_until_running
from tests.test_pipeline import long_article


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "service", "worker", "--workers", "1"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def wait_worker(worker: subprocess.Popen[str], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while "job workers started" not in log.read_text():
        assert worker.poll() is None, f"worker exited: {log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"worker not started: {log.read_text()[-3000:]}"
        time.sleep(0.2)


@pytest.mark.slow
def test_workers_on_redis_take_over_a_job_whose_worker_was_killed(
    settings: Settings,
    memorized_pairs: list[tuple[str, str]],
    tmp_path: Path,
    redis_url: str,
    redis_prefix: str,
) -> None:
    text, expected, sentences = long_article(memorized_pairs, min_words=3000)
    shared = {
        "DEPECHE_JOBS_BACKEND": "redis",
        "DEPECHE_REDIS_URL": redis_url,
        "DEPECHE_REDIS_PREFIX": redis_prefix,
        "DEPECHE_JOBS_STALE_S": "3",
        "DEPECHE_INTRA_THREADS": "1",
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes: list[subprocess.Popen[str]] = []
    try:
        api_log = tmp_path / "api.log"
        # No job table file anywhere: DEPECHE_JOBS_DB points into a folder that cannot exist.
        api_env = model_env(
            settings,
            DEPECHE_PORT=str(port),
            DEPECHE_JOBS_WORKERS="0",
            DEPECHE_JOBS_DB="/dev/null/jobs.sqlite3",
            **shared,
        )
        processes.append(start_server(api_env, api_log))
        wait_ready(base, processes[-1], api_log)

        worker_env = model_env(settings, DEPECHE_JOBS_DB="/dev/null/jobs.sqlite3", **shared)
        workers: dict[Path, subprocess.Popen[str]] = {}
        for number in (1, 2):
            log = tmp_path / f"worker-{number}.log"
            workers[log] = start_worker(worker_env, log)
            processes.append(workers[log])
        for log, worker in workers.items():
            wait_worker(worker, log)

        job_id = submit_until_running(base, text)["id"]
        (owner_log,) = [log for log in workers if f"job {job_id} started" in log.read_text()]
        (other_log,) = [log for log in workers if log != owner_log]
        workers[owner_log].send_signal(signal.SIGKILL)
        workers[owner_log].wait(timeout=10)
        job = httpx.get(f"{base}/jobs/{job_id}", timeout=5).json()
        assert job["status"] in ("running", "queued"), job["status"]
        assert job["runs"] == 1
        assert job["progress"]["done"] < sentences, "killed mid-run"

        job = poll(base, job_id, lambda j: j["status"] in ("done", "failed"), timeout=180)
        assert job["status"] == "done", job
        assert job["runs"] == 2, "the second worker ran it again from the start"
        assert job["result"]["translation"]["paragraphs"] == expected
        coverage = job["result"]["meta"]["coverage"]
        assert coverage["sentences"] == coverage["translated"] == sentences
        assert f"job {job_id}: its worker" in other_log.read_text()

        # The API process answers from Redis alone: no SQLite file was ever needed.
        usage = httpx.get(f"{base}/usage", timeout=5).json()
        assert usage["storage"] == "redis"
        assert usage["total"]["articles"] == 1
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
