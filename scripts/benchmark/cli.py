"""`python scripts/bench.py`: the flags, the worker processes, and the run in four steps
(measure the machine and build the models, engine rows, service rows, report)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmark.common import (
    BART,
    BENCH_SCRIPT,
    LONG_WORDS,
    MARIAN,
    ORANGESUM,
    ROOT,
    SAMPLE_ARTICLE,
    STARTED,
    SUMMARY_BEAMS,
    T0,
    TEST_MODELS,
    TRANSLATION_BEAMS,
    Sizes,
    make_sizes,
    say,
)
from benchmark.engines import build_articles, run_engines, worker_summary, worker_translation
from benchmark.floor import engine_bound, sample_floor, service_layout_floor
from benchmark.machine import machine_info
from benchmark.models import model_config, worker_prepare
from benchmark.report import render, targets
from benchmark.service import (
    long_article_text,
    run_service_variant,
    worker_auto_copies,
    worker_pipeline,
)

WORKERS = {
    "prepare": worker_prepare,
    "translation": worker_translation,
    "summary": worker_summary,
    "pipeline": worker_pipeline,
    "auto_copies": worker_auto_copies,
}
BF16_SKIPPED = (
    "this CPU has no native bfloat16 (no avx512_bf16 or amx_bf16 flag); --bf16 on runs it anyway"
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark Dépêche's engines, precisions and HTTP service on this machine.",
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="every row at tiny sizes (CI)")
    add("--repeats", type=int, help="timed runs per row (default 3; quick 1)")
    add("--long-repeats", type=int, help="timed runs of the 2,000-word article (default 1)")
    add("--out", type=Path, help="write the Markdown report here")
    add("--json", type=Path, help="write the summary JSON here")
    add("--seed", type=int, default=0, help="weights and inputs seed")
    add("--clients", default="1,4,16", help="concurrent HTTP clients")
    add("--requests-per-client", type=int, help="requests per client (default: 3/2/1)")
    add("--articles", type=Path, default=ORANGESUM, help="OrangeSum jsonl for the long article")
    add(
        "--service-engines",
        default="auto,transformers",
        help="DEPECHE_ENGINE values to serve over HTTP, in order; `auto` (the default "
        "setting) gives the headline figures when it runs, else the first that runs "
        "(ctranslate2 converts with scripts/convert_models.py)",
    )
    add(
        "--service-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra DEPECHE_ setting for the server and the in-process pipeline",
    )
    skips = ["engines", "service"]
    add("--skip", action="append", default=[], choices=skips, help=argparse.SUPPRESS)
    add(
        "--bf16",
        choices=["auto", "on", "off"],
        default="auto",
        help="HF bfloat16 rows (auto: when the CPU has avx512_bf16 or AMX, and in --quick)",
    )
    add(
        "--naive-long",
        action="store_true",
        help="also run the naive baseline on the 2,000-word article (slow; always in --quick)",
    )
    add(
        "--test-models",
        type=Path,
        default=TEST_MODELS,
        help="tiny test models folder (built by scripts/make_test_models.py when missing)",
    )
    add("--device", choices=["cpu", "cuda"], default="cpu", help="where every row runs")
    add("--workdir", type=Path, help="keep models and logs here (else a temp dir)")
    add(
        "--from-json",
        type=Path,
        metavar="JSON",
        help="measure nothing: read a saved run's --json, recompute what the report derives "
        "from it (engine bound, targets) and write --out/--json again",
    )
    add("--worker", nargs=2, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_worker(spec_path: str, out_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    result = WORKERS[spec["kind"]](spec)
    Path(out_path).write_text(json.dumps(result, indent=2))
    return 0


def spawn_worker(
    spec: dict[str, Any], workdir: Path, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run one worker process and return what it wrote; stderr streams through."""
    label = spec.get("label", spec["kind"]).replace(" ", "_").replace("/", "-")
    spec_path = workdir / f"spec-{label}.json"
    out_path = workdir / f"out-{label}.json"
    out_path.unlink(missing_ok=True)
    spec_path.write_text(json.dumps({**spec, "spawned_at": time.time()}))
    command = [sys.executable, str(BENCH_SCRIPT), "--worker", str(spec_path), str(out_path)]
    completed = subprocess.run(command, env=env, cwd=ROOT, check=False)
    if completed.returncode != 0 or not out_path.is_file():
        raise RuntimeError(f"worker {label} failed (exit status {completed.returncode})")
    result: dict[str, Any] = json.loads(out_path.read_text())
    return result


def ensure_test_models(folder: Path) -> None:
    """Build the tiny test models (their tokenizers are what the bench's models use)."""
    if all((folder / task / "vocab.json").is_file() for task in ("translation", "summary")):
        return
    say(f"building the tiny test models: scripts/make_test_models.py --out {folder}")
    script = ROOT / "scripts" / "make_test_models.py"
    subprocess.run([sys.executable, str(script), "--out", str(folder)], check=True)


class Run:
    """One benchmark run: its sizes, work folder, failures and the steps in order."""

    def __init__(self, args: argparse.Namespace) -> None:
        from service.text.segment import segment_article

        self.args = args
        self.machine = machine_info()
        self.sample_text = SAMPLE_ARTICLE.read_text(encoding="utf-8")
        sentences = len(segment_article(self.sample_text).all_sentences())
        self.sizes: Sizes = make_sizes(args, sentences)
        self.failures: list[str] = []
        self.workdir = args.workdir or Path(tempfile.mkdtemp(prefix="depeche-bench-"))
        self.workdir.mkdir(parents=True, exist_ok=True)

    def attempt(self, spec: dict[str, Any]) -> dict[str, Any]:
        """A worker whose failure is recorded, so one broken row does not lose the others."""
        try:
            return spawn_worker(spec, self.workdir)
        except RuntimeError as exc:
            self.failures.append(f"{spec['label']}: {exc}")
            say(f"  FAILED: {exc}")
            return {"skipped": f"failed: {exc}"}

    def prepare(self) -> dict[str, Any]:
        say("measuring the machine; building random models and their CTranslate2 copies")
        spec = {
            "kind": "prepare",
            "workdir": str(self.workdir),
            "test_models": str(self.args.test_models),
            "quick": self.sizes.quick,
            "seed": self.args.seed,
            "threads": self.machine["cores"] or 1,
            "service_lengths": {
                "translation": self.sizes.service_sentence_tokens,
                "summary": self.sizes.service_summary_tokens,
            },
        }
        return spawn_worker(spec, self.workdir)

    def engines(self) -> tuple[dict[str, Any], dict[str, Any]]:
        if "engines" in self.args.skip:
            return {}, {}
        bf16 = self.args.bf16 == "on" or (
            self.args.bf16 == "auto" and (self.sizes.quick or self.machine["native_bf16"])
        )
        options = {
            "seed": self.args.seed,
            "device": self.args.device,
            "cores": self.machine["cores"] or 1,
            "naive_long": self.sizes.quick or self.args.naive_long,
            "skip_precisions": set() if bf16 or self.args.device != "cpu" else {"bfloat16"},
            "skip_reason": BF16_SKIPPED,
        }
        return run_engines(self.sizes, self.workdir, options, self.attempt)

    def service(self) -> dict[str, Any]:
        if "service" in self.args.skip:
            return {}
        long_text, long_source = long_article_text(self.args.articles, LONG_WORDS)
        options = {
            "device": self.args.device,
            "extra_env": dict(item.split("=", 1) for item in self.args.service_env),
            "failures": self.failures,
        }
        service: dict[str, Any] = {}
        for engine in [e.strip() for e in self.args.service_engines.split(",") if e.strip()]:
            service[engine] = run_service_variant(
                engine,
                self.sizes,
                self.workdir,
                options,
                (self.sample_text, long_text),
                lambda spec, env: spawn_worker(spec, self.workdir, env=env),
            )
            service[engine].update(long_article_source=long_source)
            service[engine].update(long_article_words=len(long_text.split()))
        return service

    def close(self) -> None:
        if self.args.workdir is None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def headline(service: dict[str, Any]) -> dict[str, Any]:
    """The variant the headline keys describe: `auto` (the default setting) when it ran, else
    the first one that ran."""
    ran = {name: v for name, v in service.items() if v.get("runs")}
    return ran.get("auto") or next(iter(ran.values()), {})


def build_report(
    run: Run,
    prepared: dict[str, Any],
    engines: tuple[dict[str, Any], dict[str, Any]],
    service: dict[str, Any],
) -> dict[str, Any]:
    translation, summary = engines
    articles = build_articles(translation, summary)
    primary = headline(service)
    runs = primary.get("runs", [])
    one = next((r for r in runs if r["article"] == "sample" and r["clients"] == 1), None)
    sixteen = next((r for r in runs if r["article"] == "sample" and r["clients"] == 16), None)
    stream = primary.get("stream") or {}
    machine = {**run.machine, "gemm_gflops": prepared["gemm_gflops"], "memory": prepared["memory"]}
    sizes = asdict(run.sizes)
    configs = {
        "translation": model_config(MARIAN, run.sizes.quick),
        "summary": model_config(BART, run.sizes.quick),
    }
    floor = sample_floor(
        configs,
        sizes,
        prepared["gemm_gflops"].get("int8") or prepared["gemm_gflops"]["int8_dynamic"],
        prepared["memory"]["read_gbps"],
        translation_beams=TRANSLATION_BEAMS,
        summary_beams=SUMMARY_BEAMS,
    )
    one_core_rate = prepared["gemm_gflops"].get("int8_one_core")
    one_core_read = prepared["memory"].get("read_gbps_one_core")
    if one_core_rate and one_core_read:
        one_core = sample_floor(
            configs,
            sizes,
            one_core_rate,
            one_core_read,
            translation_beams=TRANSLATION_BEAMS,
            summary_beams=SUMMARY_BEAMS,
        )
        floor["service_layout"] = service_layout_floor(floor, one_core)
    params = {k: v["parameters_m"] for k, v in prepared["models"].items()}
    report: dict[str, Any] = {
        "quick": run.sizes.quick,
        "seed": run.args.seed,
        "device": run.args.device,
        "duration_s": round(time.perf_counter() - STARTED, 1),
        "machine": machine,
        "sizes": sizes,
        "parameters_m": params,
        "weights_mb_int8": round(sum(params.values()), 1),
        "service_engine": primary.get("engine"),
        "seed_article_s": one["p50_s"] if one else None,
        "naive_baseline_s": articles[0]["article_s"] if articles else None,
        "batched_hf_s": articles[1]["article_s"] if len(articles) > 1 else None,
        "articles_per_min_16_clients": sixteen["articles_per_min"] if sixteen else None,
        "service_overhead_ratio": primary.get("overhead_ratio"),
        "rss_mb": primary.get("rss_mb"),
        "ready_s": primary.get("ready_s"),
        "floor_s": floor["floor_s"],
        "floor_service_layout_s": (floor.get("service_layout") or {}).get("floor_s"),
        "first_paragraph_s": stream.get("first_paragraph_s"),
        "translation_s": stream.get("translation_s"),
        "rss_mb_16_clients": sixteen.get("rss_mb") if sixteen else None,
        "rss_mb_load": primary.get("rss_mb_load"),
        "floor": floor,
        "engines": {"translation": translation, "summary": summary, "articles": articles},
        "service": service,
        "failures": run.failures,
        "forced_lengths": {
            "engine_rows": "every output length forced with GenerationSettings(min_length, "
            "max_length) through the service's engines and scheduler, one request per "
            "target length",
            "service_rows": "per-sentence translation and per-summary lengths forced by the "
            "generation config; sentence, chunk and token counts decided by the service",
        },
    }
    return derive(report)


def derive(report: dict[str, Any]) -> dict[str, Any]:
    """What the report computes from its measurements: the engine bound and the targets.
    `--from-json` reruns only this, so a saved run gets the current report's verdicts."""
    engines = report.get("engines") or {}
    service = (report.get("service") or {}).get(report.get("service_engine") or "") or {}
    models = ((service.get("in_process") or {}).get("meta") or {}).get("models") or []
    runs = service.get("runs") or []
    one = next((r for r in runs if r["article"] == "sample" and r["clients"] == 1), {})
    if one.get("strategy") != "single":
        models = []  # a map-reduce summary may overlap its translation: no bound then
    bound = engine_bound(
        engines.get("translation") or {},
        engines.get("summary") or {},
        SUMMARY_BEAMS,
        {m["task"]: m for m in models if "task" in m},
    )
    report["engine_bound"] = bound
    report["engine_bound_s"] = bound["bound_s"] if bound else None
    report["targets"] = targets(report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker(*args.worker)
    import os

    if args.from_json:
        report = json.loads(args.from_json.read_text(encoding="utf-8"))
        report["derived_from_json"] = True
        report = derive(report)
        write(report, args)
        return 1 if report.get("failures") else 0
    os.environ["BENCH_T0"] = str(T0)
    ensure_test_models(args.test_models)
    run = Run(args)
    say(
        f"work folder {run.workdir}; {'quick' if args.quick else 'full'} run on "
        f"{run.machine['cpu']}"
    )
    try:
        prepared = run.prepare()
        engines = run.engines()
        service = run.service()
    finally:
        run.close()
    report = build_report(run, prepared, engines, service)
    write(report, args)
    for failure in run.failures:
        say(f"FAILED: {failure}")
    say(f"done in {report['duration_s']:.0f} s")
    return 1 if run.failures else 0


def write(report: dict[str, Any], args: argparse.Namespace) -> None:
    """Print the Markdown report; write it to --out and the JSON to --json."""
    markdown = render(report)
    print(markdown)
    if args.out:
        args.out.write_text(markdown, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
