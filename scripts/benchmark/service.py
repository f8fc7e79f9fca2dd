"""The whole service: `python -m service serve` over HTTP at 1, 4 and 16 clients, its stream
(first and last translated paragraph), its memory per run, and the same pipeline in-process.

Service rows run the real sample article and a 2,000-word article through the real pipeline,
with the tiny test tokenizers (the translation model's widened: `models.widen_marian_tokenizer`)
in front of the full-size random models and a generation config
that forces every sentence's translation and every summary to a fixed length. How many
sentences, chunks and tokens there are is decided by the service itself; token counts and
tokens/s come from each response's `meta.tokens`. Caches are off: every request repeats the
same article, and the bench measures the work (it fails if an answer came from a cache).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from benchmark.common import (
    FLORES_FR,
    ROOT,
    SAMPLE_ARTICLE,
    median,
    peak_rss_mb,
    percentile,
    reset_peak_rss,
    say,
    timed_runs,
)
from benchmark.models import service_folder

NDJSON = "application/x-ndjson"


def long_article_text(articles_path: Path, words: int) -> tuple[str, str]:
    """About `words` words of French news: OrangeSum bodies, else FLORES lines."""
    paragraphs: list[str] = []
    source = "FLORES devtest (tests/data)"
    if articles_path.is_file():
        source = f"OrangeSum bodies ({articles_path})"
        for line in articles_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                paragraphs.extend(
                    p.strip() for p in json.loads(line)["text"].split("\n\n") if p.strip()
                )
    else:
        lines = [x.strip() for x in FLORES_FR.read_text(encoding="utf-8").splitlines()]
        lines = [x for x in lines if x]
        paragraphs = [" ".join(lines[i : i + 5]) for i in range(0, len(lines), 5)]
    chosen: list[str] = []
    count = 0
    for paragraph in paragraphs:
        if count >= words:
            break
        take = paragraph.split()[: words - count]
        text = " ".join(take)
        if len(take) < len(paragraph.split()):
            text = text.rstrip(",;:") + "."
        chosen.append(text)
        count += len(take)
    return "\n\n".join(chosen), source


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def service_env(models: Path, extra: dict[str, str], device: str) -> dict[str, str]:
    """The server's environment: only our DEPECHE_ settings, models from `models`, offline,
    and no result or paragraph cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPECHE_")}
    env.update(
        DEPECHE_CACHE_SIZE="0",
        DEPECHE_TRANSLATION_MODEL=str(models / "translation"),
        DEPECHE_SUMMARY_MODEL=str(models / "summary"),
        DEPECHE_OFFLINE="1",
        DEPECHE_DEVICE=device,
        DEPECHE_LOG_LEVEL="warning",
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


# --- clients -----------------------------------------------------------------------------------


def drive(url: str, text: str, clients: int, per_client: int) -> dict[str, Any]:
    """`clients` threads, each POSTing the article `per_client` times; latencies and meta."""
    import httpx

    latencies: list[float] = []
    metas: list[dict[str, Any]] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client() -> None:
        with httpx.Client(timeout=3600, trust_env=False) as http:
            barrier.wait()
            for _ in range(per_client):
                start = time.perf_counter()
                response = http.post(f"{url}/summarize", json={"text": text})
                elapsed = time.perf_counter() - start
                with lock:
                    if response.status_code == 200:
                        meta = response.json()["meta"]
                        reused = (meta.get("cache") or {}).get("paragraphs_reused", 0)
                        if response.headers.get("x-cache") == "hit" or reused:
                            errors.append("answered from a cache: the bench must measure work")
                        latencies.append(elapsed)
                        metas.append(meta)
                    else:
                        errors.append(f"{response.status_code}: {response.text[:200]}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} request(s) failed, first: {errors[0]}")
    return summarize_requests(latencies, metas, wall, clients)


def summarize_requests(
    latencies: list[float], metas: list[dict[str, Any]], wall: float, clients: int
) -> dict[str, Any]:
    tokens = [m["tokens"] for m in metas]
    out_tokens = [
        (t.get("translation_output") or 0) + (t.get("summary_output") or 0) for t in tokens
    ]
    translate_rate = [
        t["translation_output"] / (m["timings_ms"]["translate"] / 1000)
        for t, m in zip(tokens, metas, strict=True)
        if m["timings_ms"].get("translate")
    ]
    return {
        "clients": clients,
        "requests": len(latencies),
        "wall_s": round(wall, 3),
        "latencies_s": [round(x, 3) for x in latencies],
        "p50_s": round(percentile(latencies, 50), 3),
        "p95_s": round(percentile(latencies, 95), 3),
        "articles_per_min": round(len(latencies) * 60 / wall, 2),
        "tokens_per_s": round(
            median([o / s for o, s in zip(out_tokens, latencies, strict=True)]), 1
        ),
        "translation_tokens_per_s": round(median(translate_rate), 1) if translate_rate else None,
        "meta_tokens": tokens[-1],
        "strategy": metas[-1].get("strategy"),
        "chunks": metas[-1].get("chunks"),
        "coverage": metas[-1].get("coverage"),
        "timings_ms": metas[-1].get("timings_ms"),
    }


def stream_timings(
    content_type: str, lines: Iterable[str], started: float, clock: Callable[[], float]
) -> dict[str, Any]:
    """Read one streamed answer (STREAM_CONTRACT: NDJSON, one event per line): seconds from
    `started` to the first and the last `paragraph` event, and to the end. A plain JSON answer
    means the server does not stream: `available` is False."""
    if not content_type.startswith(NDJSON):
        for _ in lines:  # read the answer out
            pass
        return {"available": False, "content_type": content_type}
    first = last = None
    paragraphs = 0
    events: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        event = json.loads(line)
        name = event.get("event")
        events.append(str(name))
        if name == "paragraph":
            last = clock() - started
            first = last if first is None else first
            paragraphs += 1
        elif name == "error":
            raise RuntimeError(f"the stream ended with an error event: {event.get('error')}")
    if events[-1:] != ["done"]:
        raise RuntimeError(f"the stream did not end with a done event: {events[-3:]}")
    return {
        "available": True,
        "first_paragraph_s": first,
        "translation_s": last,
        "total_s": clock() - started,
        "paragraphs": paragraphs,
        "events": sorted(set(events)),
    }


def stream_once(url: str, text: str) -> dict[str, Any]:
    """POST /summarize asking for NDJSON, 1 client; see `stream_timings`."""
    import httpx

    with httpx.Client(timeout=3600, trust_env=False) as http:
        started = time.perf_counter()
        with http.stream(
            "POST", f"{url}/summarize", json={"text": text}, headers={"Accept": NDJSON}
        ) as response:
            if response.status_code != 200:
                response.read()
                raise RuntimeError(f"stream: {response.status_code}: {response.text[:200]}")
            return stream_timings(
                response.headers.get("content-type", ""),
                response.iter_lines(),
                started,
                time.perf_counter,
            )


def measure_stream(url: str, text: str, repeats: int) -> dict[str, Any]:
    """Medians of `repeats` streamed answers (after the warm-up the caller has done)."""
    runs = [stream_once(url, text) for _ in range(max(1, repeats))]
    if not runs[0]["available"]:
        return runs[0]
    keys = ("first_paragraph_s", "translation_s", "total_s")
    return {
        **runs[-1],
        **{k: round(median([r[k] for r in runs if r[k] is not None]), 3) for k in keys},
        "runs": len(runs),
    }


# --- the server --------------------------------------------------------------------------------


def _wait_ready(url: str, server: subprocess.Popen[bytes], log_path: Path, started: float) -> float:
    """Seconds from `started` (the server's spawn) to its first 200 on /ready."""
    import httpx

    while True:
        if server.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the server exited ({server.returncode}):\n{tail}")
        if time.perf_counter() - started > 900:
            raise RuntimeError("the server was not ready after 900 s")
        try:
            if httpx.get(f"{url}/ready", timeout=5, trust_env=False).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)


def run_service(
    sizes: Any, workdir: Path, env: dict[str, str], sample: str, long_text: str
) -> dict[str, Any]:
    """Start the server, warm it up, stream once per repeat, then each client count and the
    long article; the server's peak RSS while loading (VmHWM at ready), over each run (VmHWM
    reset before it) and overall."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / f"server-{env.get('DEPECHE_ENGINE', 'default')}.log"
    command = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1"]
    say(f"service: starting python -m service serve on 127.0.0.1:{port}")
    started = time.perf_counter()
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [*command, "--port", str(port)], env=env, cwd=ROOT, stdout=log, stderr=log
        )
    overall: float | None = None
    load_peak: float | None = None
    try:
        ready_s = _wait_ready(url, server, log_path, started)
        load_peak = peak_rss_mb(server.pid)  # the load's own peak: nothing served yet
        say(f"service: ready after {ready_s:.2f} s; warm-up request")
        drive(url, sample, 1, 1)
        say("service: sample article streamed (Accept: application/x-ndjson), 1 client")
        stream = measure_stream(url, sample, sizes.repeats)
        runs: list[dict[str, Any]] = []
        jobs = [("sample", sample, c, sizes.requests_per_client[c]) for c in sizes.clients]
        jobs.append(("long", long_text, 1, sizes.long_repeats))
        for article, text, clients, per_client in jobs:
            say(f"service: {article} article, {clients} client(s) x {per_client} request(s)")
            overall = max(overall or 0.0, peak_rss_mb(server.pid) or 0.0)
            reset = reset_peak_rss(server.pid)
            result = drive(url, text, clients, per_client)
            rss = peak_rss_mb(server.pid)
            runs.append({"article": article, **result, "rss_mb": rss if reset else None})
        overall = max(overall or 0.0, peak_rss_mb(server.pid) or 0.0)
    finally:
        server.send_signal(signal.SIGTERM)  # SIGINT makes uvicorn re-raise it
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return {
        "ready_s": round(ready_s, 3),
        "rss_mb": overall,
        "rss_mb_load": load_peak,
        "runs": runs,
        "stream": stream,
    }


# --- the pipeline in-process -------------------------------------------------------------------


def worker_pipeline(spec: dict[str, Any]) -> dict[str, Any]:
    """The service's Pipeline in-process, on the same models and settings as the server."""
    os.environ.update(spec["env"])
    from service.config import Settings
    from service.pipeline import Pipeline

    pipeline = Pipeline.load(Settings())
    pipeline.check()
    ready_s = time.time() - spec["spawned_at"]
    text = Path(spec["article"]).read_text(encoding="utf-8")
    metas: list[dict[str, Any]] = []

    def run() -> None:
        metas.append(pipeline.summarize(text).meta.model_dump())

    say("  in-process pipeline: sample article")
    times = timed_runs(run, spec["repeats"])
    if any((meta.get("cache") or {}).get("paragraphs_reused") for meta in metas):
        raise RuntimeError("the paragraph cache answered: the bench must measure work")
    pipeline.close()
    keys = ("engine", "precision", "intra_threads", "inter_threads", "batch_wait_ms")
    keys += ("translation_num_beams", "summary_num_beams", "translation_batch_tokens")
    settings = pipeline.settings.model_dump(mode="json")
    return {
        "settings": {key: settings[key] for key in keys if key in settings},
        "ready_s": round(ready_s, 3),
        "rss_mb": peak_rss_mb(),
        "times_s": [round(t, 4) for t in times],
        "median_s": round(median(times), 4),
        "meta": metas[-1],
    }


def worker_auto_copies(spec: dict[str, Any]) -> dict[str, Any]:
    """What DEPECHE_ENGINE=auto does at its first start: convert both models to CTranslate2
    beside their folders (the service's own `prepare_models`), timed. The copies then exist,
    as the ready target assumes."""
    os.environ.update(spec["env"])
    from service.config import Settings
    from service.engines.registry import prepare_models

    started = time.perf_counter()
    prepared = prepare_models(Settings())
    seconds = time.perf_counter() - started
    if prepared.warnings:
        raise RuntimeError("; ".join(prepared.warnings))
    folders = {task: source.location for task, source in prepared.sources.items()}
    for folder in folders.values():
        _same_steps_as_transformers(Path(folder))
    return {"convert_s": round(seconds, 2), "folders": folders}


def _same_steps_as_transformers(folder: Path) -> None:
    """The CTranslate2 engine spends no decoder step on the </s> that transformers forces at
    max_length; one more position gives both engines the same number of decoder steps (and
    the same output token count in meta.tokens). The copy's fingerprint is of its source, so
    the service keeps using it."""
    path = folder / "generation_config.json"
    generation = json.loads(path.read_text(encoding="utf-8"))
    if generation.get("forced_eos_token_id") is not None:
        generation["max_length"] += 1
        generation["min_length"] += 1
        path.write_text(json.dumps(generation, indent=2) + "\n", encoding="utf-8")


def convert_for_service(workdir: Path, env: dict[str, str]) -> Path:
    """DEPECHE_ENGINE=ctranslate2: the folders converted to int8 by scripts/convert_models.py."""
    script = ROOT / "scripts" / "convert_models.py"
    out = workdir / "service-ct2-int8"
    for task in ("translation", "summary"):
        say(f"service: converting the {task} model with scripts/convert_models.py (int8)")
        command = [sys.executable, str(script), "--source", str(service_folder(workdir, task))]
        command += ["--out", str(out / task), "--quantization", "int8", "--force"]
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"convert_models.py failed: {(done.stderr or done.stdout)[-1500:]}")
        _same_steps_as_transformers(out / task)
    return out


def run_service_variant(
    engine: str,
    sizes: Any,
    workdir: Path,
    options: dict[str, Any],
    texts: tuple[str, str],
    spawn: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    """DEPECHE_ENGINE=`engine`: its models ready, the in-process pipeline, then the server."""
    settings = {"DEPECHE_ENGINE": engine, **options["extra_env"]}
    result: dict[str, Any] = {"engine": engine, "env": settings}
    try:
        models = workdir / "service"
        if engine == "ctranslate2":
            models = convert_for_service(workdir, service_env(models, settings, "cpu"))
        env = service_env(models, settings, options["device"])
        worker_env = {k: v for k, v in env.items() if k.startswith(("DEPECHE_", "HF_"))}
        if engine == "auto":
            say("service (auto): first start's conversion to CTranslate2 (prepare_models)")
            copies = spawn({"kind": "auto_copies", "label": "auto copies", "env": worker_env}, env)
            result["auto_copies"] = copies
        say(f"service ({engine}): in-process pipeline, same models and settings as the server")
        pipeline_spec = {
            "kind": "pipeline",
            "label": f"pipeline {engine}",
            "env": worker_env,
            "article": str(SAMPLE_ARTICLE),
            "repeats": sizes.repeats,
        }
        result["in_process"] = spawn(pipeline_spec, env)
        result.update(run_service(sizes, workdir, env, *texts))
    except Exception as exc:  # a broken variant is reported; the other rows still count
        options["failures"].append(f"service ({engine}): {exc}")
        say(f"  FAILED: service ({engine}): {exc}")
        result["error"] = str(exc)
        return result
    one = next(r for r in result["runs"] if r["article"] == "sample" and r["clients"] == 1)
    result["overhead_ratio"] = round(one["p50_s"] / result["in_process"]["median_s"], 4)
    return result
