#!/usr/bin/env python3
"""Where the service's memory goes: RSS of `python -m service serve` at each stage, broken down.

Three subcommands:

``prepare``
    Build full-size random-weight models (opus-mt-fr-en and distilbart-cnn-12-6 architectures)
    converted to CTranslate2 int8, the way scripts/bench.py builds its service rows (the
    ``scripts/benchmark`` package's own ``worker_prepare`` and ``convert_for_service``,
    imported, not copied), into
    ``<out>/translation`` and ``<out>/summary``: point DEPECHE_TRANSLATION_MODEL and
    DEPECHE_SUMMARY_MODEL at them.

``serve``
    Start ``python -m service serve`` on those models and sample its memory
    (/proc/PID/status, /proc/PID/smaps_rollup) after imports, after each model load (from the
    log), idle ready, then at peak under 1 and under N concurrent clients posting the sample
    article (the same text and drive loop as scripts/bench.py). Extra ``--env NAME=VALUE``
    settings (e.g. MALLOC_ARENA_MAX=2) go to the server, so levers can be compared side by
    side; ``--label`` names the row in the JSON.

``stages``
    In this process, as ``python -m service`` sets it up (two malloc arenas): RSS after the
    serve imports and each model load, after the first language detection (py3langid loads
    its model then), then each phase of a request alone, with the peak reset before it: a
    translation, a summary of English text, both; with glibc's own account after each
    (``mallinfo2``: heap in use, freed but kept, mmapped), and after ``malloc_trim(0)``.

Usage::

    python scripts/memory_profile.py prepare --out /work/fullsize-models
    python scripts/memory_profile.py serve --models /work/fullsize-models --json /tmp/a.json \\
        [--env MALLOC_ARENA_MAX=2] [--clients 1,16] [--label arena2]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from benchmark import common as bench  # noqa: E402  (scripts/benchmark: the bench's own code)
from benchmark.cli import spawn_worker  # noqa: E402
from benchmark.service import (  # noqa: E402
    convert_for_service,
    drive,
    free_port,
    service_env,
)

from service import process  # noqa: E402  (the service's libc and malloc setup)

MB = 1024 * 1024


# --------------------------------------------------------------------------------------------
# prepare
# --------------------------------------------------------------------------------------------


def prepare(out: Path, test_models: Path, seed: int) -> None:
    """Random full-size models through bench.py's own preparation, converted to CT2 int8."""
    from service.text.segment import segment_article

    out.mkdir(parents=True, exist_ok=True)
    work = out / "build"
    work.mkdir(exist_ok=True)
    sample = bench.SAMPLE_ARTICLE.read_text(encoding="utf-8")
    sentences = len(segment_article(sample).all_sentences())
    spec = {
        "kind": "prepare",
        "workdir": str(work),
        "test_models": str(test_models),
        "quick": False,
        "seed": seed,
        "threads": os.cpu_count() or 1,
        # The same forced lengths as bench.py's service rows (make_sizes).
        "service_lengths": {
            "translation": max(8, round(500 / max(1, sentences))),
            "summary": 120,
        },
    }
    prepared = spawn_worker(spec, work)
    converted = convert_for_service(work, service_env(work / "service", {}, "cpu"))
    for task in ("translation", "summary"):
        target = out / task
        if target.exists():
            shutil.rmtree(target)
        (converted / task).rename(target)
    (out / "BUILD_INFO.json").write_text(
        json.dumps(
            {
                "built_by": "scripts/memory_profile.py prepare (scripts/benchmark: "
                "worker_prepare + convert_for_service)",
                "seed": seed,
                "service_lengths": spec["service_lengths"],
                "prepared": prepared,
                "transformers_folders": str(work / "service"),
            },
            indent=2,
        )
        + "\n"
    )
    bench.say(f"models in {out / 'translation'} and {out / 'summary'}")


# --------------------------------------------------------------------------------------------
# serve
# --------------------------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM, RssAnon, RssFile, Threads of a process, in MiB (Threads as a count)."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in {"VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"}:
            values[key] = round(int(rest.split()[0]) / 1024, 1)
        elif key == "Threads":
            values[key] = int(rest.split()[0])
    return values


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def malloc_account() -> dict[str, float] | None:
    """glibc's account of this process's heap, summed over its arenas (mallinfo2), in MiB:
    taken from the system by brk/arenas, in use there, freed but kept, and mmapped chunks.
    None without glibc 2.33+."""
    libc = process.libc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        return None
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return {
        "heap_mb": round(info.arena / MB, 1),
        "in_use_mb": round(info.uordblks / MB, 1),
        "free_kept_mb": round(info.fordblks / MB, 1),
        "mmapped_mb": round(info.hblkhd / MB, 1),
    }


def smaps_rollup(pid: int) -> dict[str, float]:
    """/proc/PID/smaps_rollup in MiB (Rss, Pss, Anonymous, Private_* ...)."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[-1] == "kB":
            values[key] = round(int(parts[0]) / 1024, 1)
    return values


def top_mappings(pid: int, count: int = 12) -> list[dict[str, Any]]:
    """The largest mappings by RSS, grouped by file name ([anon] for anonymous memory)."""
    sizes: dict[str, float] = {}
    name = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if not fields:
            continue
        if "-" in fields[0] and len(fields) >= 5 and not fields[0].endswith(":"):
            name = fields[5] if len(fields) > 5 else "[anon]"
            if name.startswith("/"):
                name = name.split("site-packages/")[-1]
        elif fields[0] == "Rss:":
            sizes[name] = sizes.get(name, 0.0) + int(fields[1]) / 1024
    ranked = sorted(sizes.items(), key=lambda item: -item[1])[:count]
    return [{"mapping": k, "rss_mb": round(v, 1)} for k, v in ranked]


def loaded_modules(pid: int) -> dict[str, bool]:
    """Which heavy libraries the process has mapped (shared objects), from /proc/PID/maps."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    probes = {
        "torch": "libtorch_cpu",
        "ctranslate2": "libctranslate2",
        "tokenizers": "tokenizers.",
        "sentencepiece": "sentencepiece",
        "numpy": "numpy",
        "openmp (libgomp)": "libgomp",
    }
    return {name: needle in maps for name, needle in probes.items()}


class Sampler(threading.Thread):
    """Polls a process's RSS every `interval` s, keeping the peak since the last `reset`."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak = 0.0
        self.peak_anon = 0.0
        self._stop = threading.Event()

    def reset(self) -> None:
        self.peak = 0.0
        self.peak_anon = 0.0

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                status = proc_status(self.pid)
            except (FileNotFoundError, ProcessLookupError, ValueError):
                return
            self.peak = max(self.peak, status.get("VmRSS", 0.0))
            self.peak_anon = max(self.peak_anon, status.get("RssAnon", 0.0))
            time.sleep(self.interval)

    def stop(self) -> None:
        self._stop.set()


def snapshot(pid: int) -> dict[str, Any]:
    status = proc_status(pid)
    rollup = smaps_rollup(pid)
    return {
        "rss_mb": status.get("VmRSS"),
        "anon_mb": status.get("RssAnon"),
        "file_mb": status.get("RssFile"),
        "hwm_mb": status.get("VmHWM"),
        "threads": status.get("Threads"),
        "pss_mb": rollup.get("Pss"),
        "private_dirty_mb": rollup.get("Private_Dirty"),
    }


def _log_lines(path: Path) -> str:
    return path.read_text(errors="replace") if path.is_file() else ""


def serve(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    models = args.models
    extra = dict(item.split("=", 1) for item in args.env)
    depeche = {k: v for k, v in extra.items() if k.startswith("DEPECHE_")}
    env = service_env(models, {"DEPECHE_ENGINE": "ctranslate2", **depeche}, "cpu")
    env.update({k: v for k, v in extra.items() if not k.startswith("DEPECHE_")})
    env["DEPECHE_LOG_LEVEL"] = "info"
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="depeche-memory-"))
    env["DEPECHE_JOBS_DB"] = str(workdir / "jobs.sqlite3")
    log_path = workdir / "server.log"
    command = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port)]
    started = time.perf_counter()
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
    sampler = Sampler(server.pid)
    sampler.start()
    stages: dict[str, Any] = {}
    seen: set[str] = set()
    markers = {
        "translation_loaded": ("translation", "loaded"),
        "summary_loaded": ("summary", "loaded"),
    }
    result: dict[str, Any] = {"label": args.label, "env": extra}
    try:
        ready_s = None
        while ready_s is None:
            if server.poll() is not None:
                raise RuntimeError(f"server exited:\n{_log_lines(log_path)[-3000:]}")
            text = _log_lines(log_path).lower()
            for stage, words in markers.items():
                if stage not in seen and all(_near(text, words) for _ in [0]):
                    seen.add(stage)
                    stages[stage] = {"at_s": round(time.perf_counter() - started, 2)}
                    stages[stage].update(snapshot(server.pid))
            if "after_imports" not in seen and ("loading" in text or "waiting" in text):
                seen.add("after_imports")
                stages["after_imports"] = {"at_s": round(time.perf_counter() - started, 2)}
                stages["after_imports"].update(snapshot(server.pid))
            try:
                if httpx.get(f"{url}/ready", timeout=5, trust_env=False).status_code == 200:
                    ready_s = time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        time.sleep(1.0)
        stages["idle_ready"] = {"at_s": round(ready_s, 2), **snapshot(server.pid)}
        result["modules_mapped"] = loaded_modules(server.pid)
        result["top_mappings_ready"] = top_mappings(server.pid)
        result["smaps_rollup_ready"] = smaps_rollup(server.pid)
        sample = bench.SAMPLE_ARTICLE.read_text(encoding="utf-8")
        drive(url, sample, 1, 1)  # warm-up, as bench.py does
        stages["after_warmup"] = snapshot(server.pid)
        for clients in args.clients:
            sampler.reset()
            run = drive(url, sample, clients, args.requests if clients == 1 else 1)
            time.sleep(0.5)
            stages[f"after_{clients}_clients"] = snapshot(server.pid)
            stages[f"peak_{clients}_clients"] = {
                "rss_mb": sampler.peak,
                "anon_mb": sampler.peak_anon,
                "p50_s": run["p50_s"],
                "articles_per_min": run["articles_per_min"],
            }
        result["top_mappings_end"] = top_mappings(server.pid)
        result["hwm_mb"] = proc_status(server.pid).get("VmHWM")
        result["ready_s"] = round(ready_s, 2)
    finally:
        sampler.stop()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        result["log_tail"] = _log_lines(log_path)[-1500:]
        shutil.rmtree(workdir, ignore_errors=True)
    result["stages"] = stages
    return result


def _near(text: str, words: tuple[str, ...]) -> bool:
    """True when one log line holds every word."""
    return any(all(word in line for word in words) for line in text.splitlines())


def stages(args: argparse.Namespace) -> dict[str, Any]:
    """In this process, step by step: what `serve` imports, then each model as Pipeline.load
    loads it, with RSS (anonymous and file-backed) and the heavy modules imported after each."""
    extra = dict(item.split("=", 1) for item in args.env)
    env = service_env(args.models, {"DEPECHE_ENGINE": "ctranslate2", **extra}, "cpu")
    os.environ.update({k: v for k, v in env.items() if k.startswith(("DEPECHE_", "HF_"))})
    heavy = (
        "torch",
        "transformers",
        "tokenizers",
        "sentencepiece",
        "ctranslate2",
        "numpy",
        "fastapi",
        "uvicorn",
        "httpx",
        "pydantic",
        "redis",
        "huggingface_hub",
    )
    pid = os.getpid()
    rows: list[dict[str, Any]] = []

    process.cap_malloc_arenas()  # as `python -m service` does, before any worker thread

    def mark(stage: str) -> None:
        row = {"stage": stage, **snapshot(pid), "malloc": malloc_account()}
        row["imported"] = [m for m in heavy if m in sys.modules]
        rows.append(row)

    mark("python + this script (scripts/benchmark imported)")
    import uvicorn  # noqa: F401

    import service.api.app
    import service.cli  # noqa: F401

    mark("after the serve command's imports")
    from service.config import Settings
    from service.engines.registry import load_models

    settings = Settings()
    # The service's own load (order, malloc_trim after each model), a mark after each model;
    # the peak it reaches while loading is the "hwm_mb" of the second mark.
    models = load_models(
        settings,
        on_loaded=lambda task, engine: mark(
            f"after loading the {task} model ({engine.info.threads})"
        ),
    )
    for engine in (models.translator, models.summarizer):
        engine.check()
    mark("after each model's check()")
    from service.pipeline import Pipeline

    pipeline = Pipeline(models.translator, models.summarizer, models.device, settings)
    sample = bench.SAMPLE_ARTICLE.read_text(encoding="utf-8")
    from service.text.language import classify

    classify(sample)
    mark("after the first language detection (py3langid's model)")
    # Each phase alone, the peak (hwm_mb) reset before it: what that phase adds on its own.
    english = ""
    for round_ in range(1, args.rounds + 1):
        bench.reset_peak_rss()
        english = "\n\n".join(pipeline.translate(sample).translation.paragraphs)
        mark(f"round {round_}: after translating the sample article")
        bench.reset_peak_rss()
        pipeline.summarize(english)
        mark(f"round {round_}: after summarizing its English alone")
        bench.reset_peak_rss()
        pipeline.summarize(sample)
        mark(f"round {round_}: after summarizing it (translation + summary)")
    libc = process.libc()
    if libc is not None:
        libc.malloc_trim(0)
        mark("after malloc_trim(0)")
    pipeline.close()
    return {"rows": rows, "top_mappings": top_mappings(pid, 16), "modules": loaded_modules(pid)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare", help="build the full-size random CT2 int8 models")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--test-models",
        type=Path,
        default=Path(os.environ.get("DEPECHE_TEST_MODELS_DIR") or bench.TEST_MODELS),
    )
    p.add_argument("--seed", type=int, default=0)
    s = commands.add_parser("serve", help="profile python -m service serve's memory")
    s.add_argument("--models", type=Path, required=True, help="folder with translation/, summary/")
    s.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    s.add_argument("--clients", default="1,16")
    s.add_argument("--requests", type=int, default=2, help="requests at 1 client")
    s.add_argument("--label", default="default")
    s.add_argument("--json", type=Path)
    t = commands.add_parser("stages", help="RSS after imports and each model load, in-process")
    t.add_argument("--models", type=Path, required=True)
    t.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    t.add_argument("--rounds", type=int, default=2, help="sample articles run in-process")
    t.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.command == "stages":
        out = stages(args)
        text = json.dumps(out, indent=2)
        if args.json:
            args.json.write_text(text + "\n")
        print(text)
        return 0
    if args.command == "prepare":
        prepare(args.out, args.test_models, args.seed)
        return 0
    args.clients = [int(c) for c in args.clients.split(",") if c.strip()]
    result = serve(args)
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
