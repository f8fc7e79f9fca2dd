"""scripts/load.py: its bounds, its loopback rule and its report against a stub server (fast),
and the service holding under load on the tiny models (slow): 32 clients for 30 s against a
small queue get only 200 and 429 with Retry-After, no 5xx, no failed connection, and the
server's memory stays under a bound."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from service.config import Settings
from tests.conftest import ROOT, _load_script, free_port, model_env, start_server, wait_ready

load = _load_script("load")

RSS_GROWTH_BOUND_MB = 400
"""How much the server's RSS may grow over its idle size (models loaded, no request yet)
during the 32-client run. The growth is the working memory of the requests in flight (32
handler threads, at most DEPECHE_MAX_QUEUED_SENTENCES texts per model, one batch's tensors per
scheduler worker) and the pages the allocator keeps; none of it grows with the number of
requests. It measured +144 to +207 MiB on the tiny models, so 400 leaves room for a slower or
busier machine. What it guards: overload costs a 429, not memory (a queue that stopped being
bounded, or batches for every waiting client at once, grow with the offered load)."""


# -- fast: the harness itself -----------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://10.1.2.3:8000", "http://8.8.8.8", "https://[2001:db8::1]:8443"]
)
def test_a_host_that_is_not_loopback_is_refused(url: str) -> None:
    with pytest.raises(load.LoadError, match="not a loopback address"):
        load.check_loopback(url, allow_remote=False)
    load.check_loopback(url, allow_remote=True)  # the explicit flag lets it through


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"]
)
def test_loopback_hosts_are_accepted(url: str) -> None:
    load.check_loopback(url, allow_remote=False)


def test_the_cli_refuses_a_remote_host_before_sending_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert load.main(["--url", "http://192.0.2.10:8000", "--requests", "1"]) == 2
    assert "--allow-remote" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"clients": 0}, "--clients"),
        ({"clients": load.MAX_CLIENTS + 1}, "--clients"),
        ({"duration_s": None, "requests": None}, "must end"),
        ({"duration_s": load.MAX_DURATION_S + 1}, "--duration"),
        ({"requests": load.MAX_REQUESTS + 1}, "--requests"),
        ({"article": "  "}, "empty"),
        ({"pid": 2**22 + 12345}, "/proc/"),
    ],
)
def test_runs_are_bounded(change: dict[str, Any], message: str) -> None:
    config = load.LoadConfig(**{"article": "Bonjour.", "duration_s": 1, **change})
    with pytest.raises(load.LoadError, match=message):
        load.validate(config)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert load.percentile(values, 0.5) == 50.0
    assert load.percentile(values, 0.95) == 95.0
    assert load.percentile(values, 0.99) == 99.0
    assert load.percentile([3.0], 0.99) == 3.0
    assert load.percentile([], 0.5) is None


def test_rss_is_read_from_proc() -> None:
    status = Path(f"/proc/{os.getpid()}/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    assert load.read_rss_mb(os.getpid()) == pytest.approx(kib / 1024, rel=0.2)


class _Stub(BaseHTTPRequestHandler):
    """Answers like the service would: 200, 429 with Retry-After, or 500 with the envelope,
    in turn; counts what it received."""

    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # one write per answer (headers and body apart wait on delayed ACKs)
    lock = threading.Lock()
    seen: ClassVar[list[tuple[str, dict[str, Any], str]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        with self.lock:
            self.seen.append((self.path, body, self.headers.get("authorization", "")))
            turn = len(self.seen) % 4
        status, headers = {0: (500, {}), 1: (200, {}), 2: (429, {"Retry-After": "0"})}.get(
            turn,
            (429, {}),  # the last one forgets Retry-After, which the report must say
        )
        payload = json.dumps({"error": {"code": f"code_{status}"}} if status >= 400 else {})
        self.send_response(status)
        for name, value in {**headers, "content-type": "application/json"}.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[str]:
    _Stub.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_run_of_r_requests_reports_every_answer(
    stub: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    article = tmp_path / "article.txt"
    article.write_text("Un article court.\n\nDeux paragraphes.", encoding="utf-8")
    args = ["--url", stub, "--requests", "40", "--clients", "4", "--file", str(article)]
    assert (
        load.main([*args, "--translate", "--api-key", "k1", "--pid", str(os.getpid()), "--json"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["requests"] == 40
    assert report["statuses"] == {"200": 10, "429": 20, "500": 10}
    assert report["error_codes"] == {"429 code_429": 20, "500 code_500": 10}
    assert report["missing_retry_after"] == 10
    assert report["failed_connections"] == 0
    assert report["latency_s"]["count"] == 10
    assert report["latency_all_s"]["count"] == 40
    assert (
        0 < report["latency_s"]["p50"] <= report["latency_s"]["p95"] <= report["latency_s"]["p99"]
    )
    assert report["articles_per_minute"] > 0
    assert report["rss_mb"]["pid"] == os.getpid()
    assert 0 < report["rss_mb"]["before"] <= report["rss_mb"]["peak"]
    assert len(_Stub.seen) == 40
    assert {path for path, _, _ in _Stub.seen} == {"/translate"}
    assert {key for _, _, key in _Stub.seen} == {"Bearer k1"}
    assert _Stub.seen[0][1] == {"text": article.read_text(encoding="utf-8")}

    assert load.main(args) == 0  # the text report, /summarize by default
    text = capsys.readouterr().out
    assert "statuses        200: 10, 429: 20, 500: 10" in text
    assert "p99" in text
    assert _Stub.seen[-1][0] == "/summarize"


def test_a_timed_run_stops_by_itself(stub: str) -> None:
    report = load.run_load(load.LoadConfig(url=stub, clients=3, duration_s=1.0, article="Salut."))
    assert 0.9 <= report["elapsed_s"] < 5
    assert report["requests"] >= 3, "every client kept sending until the deadline"


def test_refused_connections_are_counted_not_fatal() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    report = load.run_load(load.LoadConfig(url=url, clients=2, requests=4, article="Salut."))
    assert report["failed_connections"] == 4
    assert report["failures"] == {"ConnectError": 4}
    assert report["statuses"] == {}
    assert report["articles_per_minute"] == 0


# -- slow: the service under load -------------------------------------------------------


@pytest.mark.slow
def test_32_clients_for_30_s_get_only_200_and_429_and_memory_stays_bounded(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = model_env(
        settings,
        DEPECHE_PORT=str(port),
        # Room for about one sample article (17 sentences) waiting per model besides the one
        # running: 32 clients overflow it at once, so 429s must come back.
        DEPECHE_MAX_QUEUED_SENTENCES="24",
        DEPECHE_CACHE_SIZE="0",  # every request reaches the models
        DEPECHE_JOBS_WORKERS="0",
    )
    log = tmp_path / "server.log"
    server = start_server(env, log)
    try:
        wait_ready(base, server, log)
        idle_mb = load.read_rss_mb(server.pid)
        command = [
            sys.executable,
            str(ROOT / "scripts" / "load.py"),
            *("--url", base, "--clients", "32", "--duration", "30"),
            *("--pid", str(server.pid), "--timeout", "120", "--json"),
        ]
        run = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout)
        (tmp_path / "load.json").write_text(run.stdout)
        print(load.format_text(report))  # the figures, with pytest -s
        print(f"idle RSS {idle_mb:.0f} MiB, bound {idle_mb + RSS_GROWTH_BOUND_MB:.0f} MiB")

        assert set(report["statuses"]) <= {"200", "429"}, report["statuses"]
        assert report["statuses"].get("200", 0) > 0
        assert report["statuses"].get("429", 0) > 0, "the small queue must overflow"
        assert report["error_codes"] == {"429 overloaded": report["statuses"]["429"]}
        assert report["missing_retry_after"] == 0
        assert report["failed_connections"] == 0, report["failures"]
        assert report["cache_hits"] == 0
        assert not report["rss_mb"]["process_lost"]
        assert report["rss_mb"]["peak"] < idle_mb + RSS_GROWTH_BOUND_MB, report["rss_mb"]
        # Still serving after the storm.
        assert httpx.get(f"{base}/ready", timeout=10).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=60)
