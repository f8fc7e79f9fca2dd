#!/usr/bin/env python3
"""Load test of a running Dépêche service: N concurrent clients for T seconds (or R requests in
all), each posting an article again and again, then the status counts, failed connections,
latency percentiles, articles per minute and the server's peak RSS.

    python scripts/load.py --clients 32 --duration 30 --pid "$(pgrep -f 'service serve')"
    python scripts/load.py --requests 200 --translate --json > load.json

It is bounded by construction: at most MAX_CLIENTS clients, MAX_DURATION_S seconds and
MAX_REQUESTS requests, and it stops by itself. It talks only to a loopback address unless
--allow-remote is given, so it cannot be pointed at someone else's server by mistake.
Each client is a thread with its own httpx.Client (keep-alive). By default a client that gets
429 waits what Retry-After says, as a well-behaved CMS does; --ignore-retry-after hammers.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import math
import os
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_ARTICLE = ROOT / "scripts" / "examples" / "seed_article.fr.txt"
DEFAULT_URL = "http://127.0.0.1:8000"

MAX_CLIENTS = 256
MAX_DURATION_S = 3600.0
MAX_REQUESTS = 100_000
MAX_RETRY_AFTER_S = 30.0
"""A client never sleeps longer than this on one Retry-After, so the run ends on time."""


class LoadError(Exception):
    """A bad argument or an unusable target: the message says which."""


@dataclass(frozen=True)
class LoadConfig:
    url: str = DEFAULT_URL
    clients: int = 32
    duration_s: float | None = 30.0
    requests: int | None = None
    article: str = ""
    translate: bool = False
    api_key: str | None = None
    pid: int | None = None
    timeout_s: float = 300.0
    honor_retry_after: bool = True
    allow_remote: bool = False
    sample_every_s: float = 0.1


@dataclass
class _Tally:
    """What every client reports, under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)  # "429 overloaded", "500 ..."
    failures: Counter[str] = field(default_factory=Counter)  # transport errors by class
    latencies: dict[int, list[float]] = field(default_factory=dict)
    missing_retry_after: int = 0
    cache_hits: int = 0
    last_done: float = 0.0


def check_loopback(url: str, allow_remote: bool) -> None:
    """Refuse a URL whose host is not a loopback address (unless allow_remote)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LoadError(f"--url must be an http(s) URL with a host, not {url!r}")
    if allow_remote:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 80, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise LoadError(f"cannot resolve {parts.hostname!r}: {exc}") from exc
    addresses = {str(info[4][0]) for info in infos}
    remote = sorted(a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_loopback)
    if remote:
        raise LoadError(
            f"{parts.hostname} resolves to {', '.join(remote)}, not a loopback address; "
            "pass --allow-remote to load a server that is not on this machine"
        )


def read_rss_mb(pid: int) -> float:
    """Resident set size of `pid` now, in MiB, from /proc/<pid>/status (VmRSS)."""
    return _status_kib(pid, "VmRSS") / 1024


def _status_kib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return float(line.split()[1])  # always in kB
    raise LoadError(f"/proc/{pid}/status has no {key} line")


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (no interpolation: a value that was really measured)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _summary(values: Sequence[float]) -> dict[str, float | int | None]:
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 6)

    return {
        "count": len(values),
        "p50": rounded(percentile(values, 0.50)),
        "p95": rounded(percentile(values, 0.95)),
        "p99": rounded(percentile(values, 0.99)),
        "max": rounded(max(values) if values else None),
        "mean": rounded(sum(values) / len(values) if values else None),
    }


class _RssSampler(threading.Thread):
    """Reads the server's VmRSS every `every_s` seconds until stopped; keeps the peak."""

    def __init__(self, pid: int, every_s: float) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.pid = pid
        self.every_s = every_s
        self.before = read_rss_mb(pid)
        self.peak = self.before
        self.samples = 1
        self.lost = False  # the process went away during the run
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.every_s):
            self.sample()

    def sample(self) -> float | None:
        try:
            rss = read_rss_mb(self.pid)
        except (OSError, LoadError):
            self.lost = True
            return None
        self.samples += 1
        self.peak = max(self.peak, rss)
        return rss


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def run_load(config: LoadConfig) -> dict[str, Any]:
    """Run the load and return the report (see `format_text` for what it holds)."""
    validate(config)
    endpoint = "/translate" if config.translate else "/summarize"
    target = config.url.rstrip("/") + endpoint
    body = json.dumps({"text": config.article}, ensure_ascii=False).encode()
    headers = {"content-type": "application/json"}
    if config.api_key:
        headers["authorization"] = f"Bearer {config.api_key}"
    sampler = _RssSampler(config.pid, config.sample_every_s) if config.pid else None
    tally = _Tally()
    tickets = iter(range(config.requests)) if config.requests is not None else None
    ticket_lock = threading.Lock()
    stop = threading.Event()
    started = time.monotonic()
    deadline = started + config.duration_s if config.duration_s is not None else math.inf

    def take_ticket() -> bool:
        if stop.is_set() or time.monotonic() >= deadline:
            return False
        if tickets is None:
            return True
        with ticket_lock:
            return next(tickets, None) is not None

    def client(number: int) -> None:
        with httpx.Client(timeout=config.timeout_s, headers=headers) as http:
            while take_ticket():
                sent = time.monotonic()
                try:
                    response = http.post(
                        target, content=body, headers={"x-request-id": f"load-{number}-{sent}"}
                    )
                except httpx.TransportError as exc:
                    with tally.lock:
                        tally.failures[type(exc).__name__] += 1
                        tally.last_done = time.monotonic()
                    time.sleep(0.2)  # a refused connection must not turn into a busy loop
                    continue
                elapsed = time.monotonic() - sent
                wait = _retry_after(response) if response.status_code == 429 else None
                with tally.lock:
                    status = response.status_code
                    tally.statuses[status] += 1
                    tally.latencies.setdefault(status, []).append(elapsed)
                    tally.last_done = time.monotonic()
                    if status >= 400:
                        tally.codes[f"{status} {_error_code(response)}"] += 1
                    if status == 429 and wait is None:
                        tally.missing_retry_after += 1
                    if response.headers.get("x-cache") == "hit":
                        tally.cache_hits += 1
                if wait is not None and config.honor_retry_after:
                    # Sleep no later than the deadline: the run ends on time.
                    pause = min(wait, MAX_RETRY_AFTER_S, max(0.0, deadline - time.monotonic()))
                    stop.wait(pause)

    threads = [
        threading.Thread(target=client, args=(i,), name=f"load-client-{i}", daemon=True)
        for i in range(config.clients)
    ]
    if sampler is not None:
        sampler.start()
    for thread in threads:
        thread.start()
    # Every request ends within timeout_s, so the run ends by deadline + timeout_s; the join
    # timeout is a belt over those braces.
    hard_stop = (config.duration_s or MAX_DURATION_S) + config.timeout_s + 10
    for thread in threads:
        thread.join(max(0.0, started + hard_stop - time.monotonic()))
    stop.set()
    ended = max(tally.last_done, started + 1e-9)
    rss_after = None
    if sampler is not None:
        sampler.halt.set()
        sampler.join(5)
        rss_after = sampler.sample()
    return _report(config, target, tally, ended - started, sampler, rss_after)


def _error_code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "no_envelope"


def _report(
    config: LoadConfig,
    target: str,
    tally: _Tally,
    elapsed_s: float,
    sampler: _RssSampler | None,
    rss_after: float | None,
) -> dict[str, Any]:
    ok = sum(count for status, count in tally.statuses.items() if 200 <= status < 300)
    ok_latencies = [v for s, values in tally.latencies.items() if 200 <= s < 300 for v in values]
    every_latency = [v for values in tally.latencies.values() for v in values]
    answered = sum(tally.statuses.values())
    rss: dict[str, Any] | None = None
    if sampler is not None:
        rss = {
            "pid": sampler.pid,
            "before": round(sampler.before, 1),
            "peak": round(sampler.peak, 1),
            "after": None if rss_after is None else round(rss_after, 1),
            "growth": round(sampler.peak - sampler.before, 1),
            "samples": sampler.samples,
            "every_s": config.sample_every_s,
            "process_lost": sampler.lost,
        }
    return {
        "target": target,
        "clients": config.clients,
        "duration_s": config.duration_s,
        "requests_limit": config.requests,
        "article_chars": len(config.article),
        "elapsed_s": round(elapsed_s, 2),
        "requests": answered + sum(tally.failures.values()),
        "statuses": {str(status): count for status, count in sorted(tally.statuses.items())},
        "error_codes": dict(sorted(tally.codes.items())),
        "failed_connections": sum(tally.failures.values()),
        "failures": dict(sorted(tally.failures.items())),
        "missing_retry_after": tally.missing_retry_after,
        "cache_hits": tally.cache_hits,
        "latency_s": _summary(ok_latencies),
        "latency_all_s": _summary(every_latency),
        "articles_per_minute": round(ok / elapsed_s * 60, 2),
        "rss_mb": rss,
    }


def validate(config: LoadConfig) -> None:
    if not 1 <= config.clients <= MAX_CLIENTS:
        raise LoadError(f"--clients must be 1 to {MAX_CLIENTS}")
    if config.duration_s is None and config.requests is None:
        raise LoadError("give --duration or --requests (or both): the run must end")
    if config.duration_s is not None and not 0 < config.duration_s <= MAX_DURATION_S:
        raise LoadError(f"--duration must be over 0 and at most {MAX_DURATION_S:.0f} s")
    if config.requests is not None and not 1 <= config.requests <= MAX_REQUESTS:
        raise LoadError(f"--requests must be 1 to {MAX_REQUESTS}")
    if not 0 < config.timeout_s <= MAX_DURATION_S:
        raise LoadError(f"--timeout must be over 0 and at most {MAX_DURATION_S:.0f} s")
    if not config.article.strip():
        raise LoadError("the article is empty")
    if config.pid is not None:
        try:
            read_rss_mb(config.pid)
        except OSError as exc:
            raise LoadError(f"cannot read /proc/{config.pid}/status: {exc}") from exc
    check_loopback(config.url, config.allow_remote)


def format_text(report: dict[str, Any]) -> str:
    latency = report["latency_s"]

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} s"

    lines = [
        f"target          {report['target']}",
        f"load            {report['clients']} clients, "
        + (f"{report['duration_s']:g} s" if report["duration_s"] else "no time limit")
        + (f", {report['requests_limit']} requests at most" if report["requests_limit"] else ""),
        f"elapsed         {report['elapsed_s']:.1f} s, {report['requests']} requests",
        "statuses        "
        + (", ".join(f"{s}: {n}" for s, n in report["statuses"].items()) or "none"),
    ]
    if report["error_codes"]:
        lines.append(
            "error codes     " + ", ".join(f"{c}: {n}" for c, n in report["error_codes"].items())
        )
    failures = ", ".join(f"{k}: {n}" for k, n in report["failures"].items())
    lines += [
        f"failed conns    {report['failed_connections']}" + (f" ({failures})" if failures else ""),
        f"429 w/o Retry-After {report['missing_retry_after']}",
        f"latency (2xx)   p50 {seconds(latency['p50'])}, p95 {seconds(latency['p95'])}, "
        f"p99 {seconds(latency['p99'])}, max {seconds(latency['max'])} ({latency['count']})",
        f"articles/min    {report['articles_per_minute']:.1f}",
    ]
    rss = report["rss_mb"]
    if rss is not None:
        lines.append(
            f"server RSS      {rss['before']:.0f} MiB before, {rss['peak']:.0f} MiB peak "
            f"(+{rss['growth']:.0f}), {rss['samples']} samples, pid {rss['pid']}"
            + (" — the process went away during the run" if rss["process_lost"] else "")
        )
    if report["cache_hits"]:
        lines.append(
            f"warning: {report['cache_hits']} answers came from the server's result cache; "
            "run it with DEPECHE_CACHE_SIZE=0 to load the models"
        )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Load a running Dépêche service with concurrent clients and report.",
    )
    parser.add_argument("--url", default=DEFAULT_URL, help=f"base URL (default {DEFAULT_URL})")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument(
        "--duration", type=float, help="seconds to run (default 30 unless --requests is given)"
    )
    parser.add_argument("--requests", type=int, help="requests in all, across clients")
    parser.add_argument(
        "--file", type=Path, help="article to send (default: scripts/examples/seed_article.fr.txt)"
    )
    parser.add_argument("--translate", action="store_true", help="POST /translate, not /summarize")
    parser.add_argument(
        "--api-key", default=os.environ.get("DEPECHE_API_KEY"), help="bearer key (DEPECHE_API_KEY)"
    )
    parser.add_argument("--pid", type=int, help="server process to sample VmRSS of")
    parser.add_argument("--timeout", type=float, default=300.0, help="per request, s (300)")
    parser.add_argument(
        "--ignore-retry-after",
        action="store_true",
        help="retry at once after 429 instead of waiting Retry-After",
    )
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a host that is not a loopback address"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    duration = args.duration if args.duration is not None or args.requests else 30.0
    try:
        article = (args.file or SAMPLE_ARTICLE).read_text(encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot read the article: {exc}", file=sys.stderr)
        return 2
    config = LoadConfig(
        url=args.url,
        clients=args.clients,
        duration_s=duration,
        requests=args.requests,
        article=article,
        translate=args.translate,
        api_key=args.api_key,
        pid=args.pid,
        timeout_s=args.timeout,
        honor_retry_after=not args.ignore_retry_after,
        allow_remote=args.allow_remote,
    )
    try:
        report = run_load(config)
    except LoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else format_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
