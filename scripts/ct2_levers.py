#!/usr/bin/env python3
"""CTranslate2 speed levers on the full-size random models, side by side, one process per
setting (the CT2_* variables are read when the library starts).

Rows: the backend (``CT2_USE_MKL`` 0/1: oneDNN or MKL), packed GEMM
(``CT2_PACKED_GEMM``: on by default with MKL, so the row turns it off; ctranslate2 4.8.5 reads
no other packing variable), the compute type (int8, int8_float32) and, for the
translation model, a vocabulary map (``use_vmap``) of K always-candidate tokens. Each row
times what the service does with its default thread layout on 2 cores:

* translation: the sample article's sentences (the service's own segmentation and the model
  folder's tokenizer), in two batches as the scheduler's two workers get them, one
  ``translate_batch`` per batch on a 1-thread translator, beam 4, every output forced to the
  service rows' length (min = max decoding length);
* summary: 700 source tokens to 120 forced tokens, length penalty 2, no repeated 3-grams,
  beam 2 (the service's default) and 4, on a translator with `--summary-threads` intra threads
  (2 unless told; the service runs each summary call on 1).

Models: the folders ``scripts/memory_profile.py prepare`` builds (``<models>/translation``,
``<models>/summary``).

Usage::

    python scripts/ct2_levers.py --models /work/fullsize-models --json /tmp/levers.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from benchmark.common import timed_runs  # noqa: E402  (the bench's own timing: warm-up, then runs)

SAMPLE = ROOT / "scripts" / "examples" / "seed_article.fr.txt"


def _vmap_folder(model: Path, size: int, work: Path) -> Path:
    """A copy of `model` (links) with a vmap.txt of `size` always-candidate tokens.

    The padded entries of the bench models' vocabulary (``<unused N>``) hold a space, which a
    vmap rule cannot name, so the copy's vocabulary writes them ``<unused_N>``: the weights
    and every token the tokenizer makes are unchanged, and `size` can go past the tiny
    tokenizer's real tokens, as a real 59,514-token vocabulary allows."""
    folder = work / f"vmap-{size}"
    folder.mkdir(parents=True, exist_ok=True)
    for path in model.iterdir():
        link = folder / path.name
        if path.name != "shared_vocabulary.json" and not link.exists():
            link.symlink_to(path.resolve())
    vocabulary = json.loads((model / "shared_vocabulary.json").read_text(encoding="utf-8"))
    vocabulary = [token.replace(" ", "_") for token in vocabulary]
    (folder / "shared_vocabulary.json").write_text(json.dumps(vocabulary), encoding="utf-8")
    rng = random.Random(0)
    chosen = rng.sample([t for t in vocabulary if t], min(size, len(vocabulary) - 1))
    (folder / "vmap.txt").write_text("\t" + " ".join(chosen) + "\n", encoding="utf-8")
    return folder


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    import ctranslate2  # type: ignore[import-untyped]

    from service.engines.ct2 import load_tokenizer
    from service.text.segment import segment_article

    models = Path(spec["models"])
    repeats = spec["repeats"]
    compute = spec["compute_type"]
    out: dict[str, Any] = {"compute_type": compute}

    # Translation: the sample article's sentences, two batches (two 1-thread workers).
    folder = models / "translation"
    tokenizer = load_tokenizer(folder)
    sentences = segment_article(SAMPLE.read_text(encoding="utf-8")).all_sentences()
    ids = tokenizer(sentences)["input_ids"]
    sources = [tokenizer.convert_ids_to_tokens(x) for x in ids]
    half = (len(sources) + 1) // 2
    batches = [sources[:half], sources[half:]]
    length = spec["translation_length"]
    options = {
        "beam_size": 4,
        "max_decoding_length": length,
        "min_decoding_length": length,
        "max_input_length": 0,
    }
    vmap_sizes = spec.get("vmap_sizes") or []
    folders = {0: folder}
    work = Path(spec["work"])
    for size in vmap_sizes:
        folders[size] = _vmap_folder(folder, size, work)
    translation: dict[str, Any] = {}
    for size, path in folders.items():
        translator = ctranslate2.Translator(
            str(path), device="cpu", compute_type=compute, intra_threads=1, inter_threads=1
        )

        def run(translator: Any = translator, use_vmap: bool = size > 0) -> None:
            for batch in batches:
                translator.translate_batch(batch, use_vmap=use_vmap, **options)

        times = timed_runs(run, repeats)
        key = "full vocabulary" if size == 0 else f"vmap {size}"
        translation[key] = {
            "median_s": round(statistics.median(times), 3),
            "min_s": round(min(times), 3),
        }
        del translator
    out["translation"] = translation
    out["translation_tokens"] = {"sentences": len(sources), "target_length": length}

    # Summary: 700 -> 120 forced tokens.
    summary_folder = models / "summary"
    vocabulary = json.loads((summary_folder / "shared_vocabulary.json").read_text())
    words = [t for t in vocabulary[4:] if not t.startswith("<unused")]
    rng = random.Random(0)
    source = ["<s>", *(rng.choice(words) for _ in range(698)), "</s>"]
    summary: dict[str, Any] = {}
    for threads in spec.get("summary_threads") or [2]:
        translator = ctranslate2.Translator(
            str(summary_folder), device="cpu", compute_type=compute, intra_threads=threads
        )
        for beams in (2, 4):

            def run_summary(beams: int = beams, translator: Any = translator) -> None:
                translator.translate_batch(
                    [source],
                    target_prefix=[["<s>"]],
                    beam_size=beams,
                    max_decoding_length=120,
                    min_decoding_length=120,
                    length_penalty=2.0,
                    no_repeat_ngram_size=3,
                    max_input_length=0,
                )

            times = timed_runs(run_summary, repeats)
            # The first layout keeps the old key, so earlier reports stay comparable.
            key = f"beam {beams}" if threads == 2 else f"beam {beams}, {threads} thread(s)"
            summary[key] = {
                "median_s": round(statistics.median(times), 3),
                "min_s": round(min(times), 3),
            }
        del translator
    out["summary"] = summary
    return out


ROWS: list[tuple[str, dict[str, str], str]] = [
    ("default (CT2_USE_MKL unset), int8", {}, "int8"),
    ("CT2_USE_MKL=1, int8", {"CT2_USE_MKL": "1"}, "int8"),
    ("CT2_USE_MKL=0, int8", {"CT2_USE_MKL": "0"}, "int8"),
    ("CT2_PACKED_GEMM=0 (MKL's packing off), int8", {"CT2_PACKED_GEMM": "0"}, "int8"),
    ("CT2_FORCE_CPU_ISA=AVX512, int8", {"CT2_FORCE_CPU_ISA": "AVX512"}, "int8"),
    (
        "CT2_USE_MKL=1 + CT2_FORCE_CPU_ISA=AVX512, int8",
        {"CT2_USE_MKL": "1", "CT2_FORCE_CPU_ISA": "AVX512"},
        "int8",
    ),
    ("default, int8_float32", {}, "int8_float32"),
    ("default, int16", {}, "int16"),
    (
        "CT2_FORCE_CPU_ISA=AVX512 + CT2_PACKED_GEMM=0, int8",
        {"CT2_FORCE_CPU_ISA": "AVX512", "CT2_PACKED_GEMM": "0"},
        "int8",
    ),
]
"""(label, environment, compute type). On the CPU, CTranslate2 runs `int8` as `int8_float32`
(its log says "Selected compute type: int8_float32"); the int8_float32 row checks they time the
same. int16 exists only on the MKL backend (Intel CPUs); a CPU without it gets a failed row."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vmap-sizes", default="1000,3000,6000,12000")
    parser.add_argument("--translation-length", type=int, default=29)
    parser.add_argument(
        "--summary-threads",
        default="2",
        help="comma-separated intra threads for the summary rows (the service runs 1)",
    )
    parser.add_argument("--rows", default="", help="comma-separated row numbers (default all)")
    parser.add_argument("--row-timeout", type=float, default=600, help="seconds per row")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker.read_text())
        Path(spec["out"]).write_text(json.dumps(worker(spec)))
        return 0
    if args.models is None:
        parser.error("--models is required")
    import ctranslate2

    chosen = [int(x) for x in args.rows.split(",") if x.strip()] or range(len(ROWS))
    work = Path(tempfile.mkdtemp(prefix="ct2-levers-"))
    report: dict[str, Any] = {
        "ctranslate2": ctranslate2.__version__,
        "cpu": _cpu_name(),
        "cpu_flags": _cpu_flags(),
        "rows": {},
    }
    try:
        for number in chosen:
            label, env_extra, compute = ROWS[number]
            spec = {
                "models": str(args.models),
                "repeats": args.repeats,
                "compute_type": compute,
                "translation_length": args.translation_length,
                "summary_threads": [int(x) for x in args.summary_threads.split(",") if x],
                "vmap_sizes": [int(x) for x in args.vmap_sizes.split(",") if x]
                if number == 0
                else [],
                "work": str(work),
                "out": str(work / f"out-{number}.json"),
            }
            spec_path = work / f"spec-{number}.json"
            spec_path.write_text(json.dumps(spec))
            env = {k: v for k, v in os.environ.items() if not k.startswith("CT2_")}
            env.update(env_extra)
            env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            env["PYTHONPATH"] = str(ROOT)
            env["CT2_VERBOSE"] = "1"  # the backend and ISA it picked, in its log
            print(f"[levers] {label}", file=sys.stderr, flush=True)
            try:
                done = subprocess.run(
                    [sys.executable, __file__, "--worker", str(spec_path)],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=args.row_timeout,
                )
            except subprocess.TimeoutExpired:
                report["rows"][label] = {"skipped": f"not done after {args.row_timeout} s"}
                print(f"[levers] {label}: timed out", file=sys.stderr, flush=True)
                continue
            if done.returncode != 0:
                # A setting this CPU or build lacks (int16 off MKL) is a row, not the end.
                error = done.stderr.strip().splitlines()[-1:] or ["no output"]
                report["rows"][label] = {"failed": error[0][-500:]}
                print(f"[levers] {label}: failed: {error[0]}", file=sys.stderr, flush=True)
                continue
            row = json.loads(Path(spec["out"]).read_text())
            row["ct2_log"] = sorted(
                {
                    line.split("[info]", 1)[1].strip()
                    for line in done.stderr.splitlines()
                    if "[info]" in line
                    and any(w in line for w in ("backend", "Selected ISA", "compute type"))
                }
            )
            report["rows"][label] = row
            print(json.dumps(report["rows"][label]), file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    return 0


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _cpu_flags() -> list[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = line.split(":", 1)[1].split()
            return sorted(f for f in flags if f.startswith(("avx512", "amx", "avx_vnni", "avx2")))
    return []


if __name__ == "__main__":
    sys.exit(main())
