#!/usr/bin/env python3
"""Convert fetched checkpoints to CTranslate2 by hand: a command line over
``service/engines/convert.py``, which the service itself runs on first start with
``DEPECHE_ENGINE=auto`` (the default), so this script is only needed to convert ahead of time,
in another precision, or a folder of your own.

By default this converts the folders that scripts/fetch_models.py filled, ``<models-dir>/
<local_dir>`` for each entry of models/manifest.json, into ``<models-dir>/<local_dir>-ct2-<q>``,
the folder the service looks for.

Usage::

    python scripts/convert_models.py [--quantization int8|float16|int8_float16|bfloat16|float32]
                                     [--models-dir DIR] [--only translation|summary] [--force]
    python scripts/convert_models.py --source DIR [--out DIR] [--quantization Q] [--force]

What a converted folder holds, and how MarianMT is converted: see service/engines/convert.py.
The output is written to a temporary folder beside it and renamed into place, so an
interrupted run never leaves a half-written model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as `python scripts/convert_models.py`
    sys.path.insert(0, str(REPO_ROOT))

from service.engines.convert import (  # noqa: E402
    QUANTIZATIONS,
    ConvertError,
    convert,
    converted_name,
)

__all__ = ["ConvertError", "convert", "converted_name", "main"]

DEFAULT_MANIFEST = REPO_ROOT / "models" / "manifest.json"
MODEL_KEYS = ("translation", "summary")
ENV_NAMES = {"translation": "DEPECHE_TRANSLATION_MODEL", "summary": "DEPECHE_SUMMARY_MODEL"}
TASK_OF_MODEL_TYPE = {"marian": "translation", "bart": "summary"}


@dataclass(frozen=True)
class Job:
    """One folder to convert."""

    label: str
    source: Path
    out: Path
    task: str | None


def default_models_dir() -> Path:
    """$DEPECHE_MODELS_DIR (relative to the current directory), else <repo>/models."""
    env = os.environ.get("DEPECHE_MODELS_DIR")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "models"


def read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def manifest_jobs(
    manifest: Path, models_dir: Path, quantization: str, only: str | None
) -> list[Job]:
    """The fetched folders named by the manifest and where their conversions go."""
    data = read_json(manifest)
    if not data:
        raise ConvertError(f"error: manifest not found or empty: {manifest}")
    jobs = []
    for key in MODEL_KEYS:
        if only and key != only:
            continue
        entry = data.get(key)
        if not isinstance(entry, dict) or not entry.get("local_dir"):
            raise ConvertError(f"error: manifest {manifest} has no '{key}' entry with local_dir")
        local_dir = str(entry["local_dir"])
        jobs.append(
            Job(
                key,
                models_dir / local_dir,
                models_dir / converted_name(local_dir, quantization),
                key,
            )
        )
    return jobs


def task_of(source: Path) -> str | None:
    """translation for MarianMT, summary for BART, else None."""
    return TASK_OF_MODEL_TYPE.get(str(read_json(source / "config.json").get("model_type")))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Convert the fetched models (or any transformers seq2seq folder) to "
        "CTranslate2.",
        epilog="Without --source: every model of the manifest, from <models-dir>/<local_dir> "
        "to <models-dir>/<local_dir>-ct2-<quantization>, which the service then picks itself.",
    )
    parser.add_argument(
        "--quantization",
        choices=QUANTIZATIONS,
        default="int8",
        help="weights precision of the converted model (default: int8)",
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="folder with the fetched models (default: $DEPECHE_MODELS_DIR, else <repo>/models)",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        default=DEFAULT_MANIFEST,
        help=f"manifest to read (default: {DEFAULT_MANIFEST.relative_to(REPO_ROOT)})",
    )
    parser.add_argument("--only", choices=MODEL_KEYS, default=None, help="convert just this model")
    parser.add_argument("--source", type=Path, default=None, help="convert this folder instead")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder for --source (default: <source>-ct2-<quantization>)",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    parser.add_argument("--verbose", action="store_true", help="show tracebacks on errors")
    args = parser.parse_args(argv)
    if args.out is not None and args.source is None:
        parser.error("--out needs --source")
    if args.source is not None and args.only is not None:
        parser.error("--only applies to the manifest's models, not to --source")
    return args


def _jobs(args: argparse.Namespace) -> list[Job]:
    if args.source is not None:
        source = args.source.expanduser()
        out = (
            args.out.expanduser()
            if args.out
            else source.parent / converted_name(source.name, args.quantization)
        )
        return [Job(str(source), source, out, task_of(source))]
    models_dir = args.models_dir.expanduser().resolve() if args.models_dir else default_models_dir()
    return manifest_jobs(args.manifest, models_dir, args.quantization, args.only)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        for job in _jobs(args):
            print(f"[{job.label}] {job.source} -> {job.out} ({args.quantization})", flush=True)
            started = time.perf_counter()
            convert(job.source, job.out, args.quantization, force=args.force)
            print(f"[{job.label}] done in {time.perf_counter() - started:.1f} s", flush=True)
            if args.source is None:
                print(
                    f"[{job.label}] the service loads it by itself (DEPECHE_ENGINE=auto, "
                    f"{ENV_NAMES[job.label]} unset); or set {ENV_NAMES[job.label]}={job.out}",
                    flush=True,
                )
            else:
                names = [ENV_NAMES[job.task]] if job.task else list(ENV_NAMES.values())
                print(
                    f"[{job.label}] to use it: {' or '.join(f'{n}={job.out}' for n in names)}",
                    flush=True,
                )
    except ConvertError as exc:
        if args.verbose:
            traceback.print_exc()
        print(str(exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line unless --verbose
        if args.verbose:
            traceback.print_exc()
        print(f"error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
