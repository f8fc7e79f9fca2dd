#!/usr/bin/env python3
"""Convert fetched checkpoints to CTranslate2, so the service can run them with that engine.

By default this converts the folders that scripts/fetch_models.py filled, ``<models-dir>/
<local_dir>`` for each entry of models/manifest.json, into ``<models-dir>/<local_dir>-ct2-<q>``.
With ``DEPECHE_ENGINE=auto`` (the default) and ``DEPECHE_TRANSLATION_MODEL`` /
``DEPECHE_SUMMARY_MODEL`` unset, the service then loads the converted folder by itself.

Usage::

    python scripts/convert_models.py [--quantization int8|float16|int8_float16|float32]
                                     [--models-dir DIR] [--only translation|summary] [--force]
    python scripts/convert_models.py --source DIR [--out DIR] [--quantization Q] [--force]

Each converted folder holds ``model.bin`` and CTranslate2's ``config.json``; the source's
tokenizer files and ``generation_config.json`` (derived from its config when the checkpoint
has none); the source's transformers config as ``hf_config.json`` (CTranslate2's own takes the
name ``config.json``); and ``.depeche-source.json``: the hub ``id`` and ``revision`` copied from
the source's record, plus ``quantization``, ``converted_from`` and ``ctranslate2_version``,
which the service reports in ``meta.models``.

MarianMT is converted with its ``<pad>`` token kept and the decoder started from that token's
embedding, exactly as transformers runs it. CTranslate2's stock Marian conversion drops
``<pad>`` and starts from a zero vector instead: the same thing for the published opus-mt
checkpoints, whose ``<pad>`` embedding is zero, but not for a checkpoint trained with tied
embeddings (such as the tiny test model).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MANIFEST = REPO_ROOT / "models" / "manifest.json"
SOURCE_FILE = ".depeche-source.json"
HF_CONFIG = "hf_config.json"
GENERATION_CONFIG = "generation_config.json"
MODEL_KEYS = ("translation", "summary")
QUANTIZATIONS = ("int8", "float16", "int8_float16", "float32")
ENV_NAMES = {"translation": "DEPECHE_TRANSLATION_MODEL", "summary": "DEPECHE_SUMMARY_MODEL"}
TASK_OF_MODEL_TYPE = {"marian": "translation", "bart": "summary"}

# Tokenizer files copied beside the converted weights, when the source has them.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "source.spm",
    "target.spm",
    "spiece.model",
    "sentencepiece.bpe.model",
)

# The converted tokenizer must split these exactly as the source's does.
PROBES = (
    "Le gouvernement a annoncé lundi un plan de 2,5 milliards d’euros.",
    "« Nous y allons ! » M. Dupont est parti à 18 h 30.",
    "The government announced a €2.5bn plan on Monday.",
)


class ConvertError(Exception):
    """A failure worth one line to the user."""


@dataclass(frozen=True)
class Job:
    """One folder to convert."""

    label: str
    source: Path
    out: Path
    task: str | None


def converted_name(local_dir: str, quantization: str) -> str:
    """The default output folder name; service/engines/loader.py looks for the same name."""
    return f"{local_dir}-ct2-{quantization}"


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


@contextmanager
def faithful_marian() -> Iterator[None]:
    """Convert MarianMT with `<pad>` kept as the decoder start token, like transformers runs it."""
    from ctranslate2.converters import transformers as ct2_transformers

    bart_loader = ct2_transformers.BartLoader
    stock_loader = ct2_transformers.MarianMTLoader

    class PadStartMarianLoader(stock_loader):
        def get_model_spec(self, model: Any) -> Any:
            model.config.normalize_before = False
            model.config.normalize_embedding = False
            return bart_loader.get_model_spec(self, model)  # keeps the <pad> row

        def set_config(self, config: Any, model: Any, tokenizer: Any) -> None:
            config.eos_token = tokenizer.eos_token
            config.unk_token = tokenizer.unk_token
            start = model.config.decoder_start_token_id
            config.decoder_start_token = tokenizer.convert_ids_to_tokens(start)

        def set_decoder(self, spec: Any, decoder: Any) -> None:
            bart_loader.set_decoder(self, spec, decoder)
            spec.start_from_zero_embedding = False

        def get_vocabulary(self, model: Any, tokenizer: Any) -> list[str]:
            tokens: list[str] = bart_loader.get_vocabulary(self, model, tokenizer)
            return tokens

    registry = ct2_transformers._MODEL_LOADERS
    previous = registry.get("MarianConfig")
    registry["MarianConfig"] = PadStartMarianLoader()
    try:
        yield
    finally:
        registry["MarianConfig"] = previous


def _ensure_tokenizer_class(out: Path, tokenizer: Any) -> None:
    """Record the tokenizer class: in the converted folder, config.json is CTranslate2's and
    cannot tell AutoTokenizer which tokenizer to build."""
    path = out / "tokenizer_config.json"
    config = read_json(path)
    if not config.get("tokenizer_class"):
        config["tokenizer_class"] = type(tokenizer).__name__
        path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _check_tokenizer(source: Path, out: Path) -> None:
    from transformers import AutoTokenizer

    original = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    copied = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    for text in PROBES:
        if original(text).input_ids != copied(text).input_ids:
            raise ConvertError(
                f"error: the tokenizer copied to {out} splits {text!r} differently from the one "
                f"in {source}"
            )


def convert(source: Path, out: Path, quantization: str, *, force: bool = False) -> Path:
    """Convert one transformers checkpoint folder into a CTranslate2 folder at `out`."""
    if not (source / "config.json").is_file():
        raise ConvertError(
            f"error: no model at {source} (no config.json): run `python scripts/fetch_models.py` "
            "first, or pass --source with a folder written by save_pretrained"
        )
    if (source / "model.bin").is_file():
        raise ConvertError(f"error: {source} is already a CTranslate2 conversion")
    if quantization not in QUANTIZATIONS:
        raise ConvertError(f"error: quantization must be one of {', '.join(QUANTIZATIONS)}")
    source_resolved, out_resolved = source.resolve(), out.resolve()
    if out_resolved == source_resolved or out_resolved in source_resolved.parents:
        raise ConvertError(f"error: the output {out} would replace the source {source}")
    if out.exists() and any(out.iterdir()) and not force:
        raise ConvertError(f"error: {out} already exists: pass --force to replace it")

    import ctranslate2
    from ctranslate2.converters import TransformersConverter
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    copy_files = [name for name in TOKENIZER_FILES if (source / name).is_file()]
    if (source / GENERATION_CONFIG).is_file():
        copy_files.append(GENERATION_CONFIG)
    with faithful_marian():
        converter = TransformersConverter(str(source), copy_files=copy_files)
        converter.convert(str(out), quantization=quantization, force=True)

    shutil.copyfile(source / "config.json", out / HF_CONFIG)
    if not (out / GENERATION_CONFIG).is_file():  # older checkpoints keep it in config.json
        config = AutoConfig.from_pretrained(str(source), local_files_only=True)
        GenerationConfig.from_model_config(config).save_pretrained(str(out))
    tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    _ensure_tokenizer_class(out, tokenizer)
    _check_tokenizer(source, out)

    recorded = read_json(source / SOURCE_FILE)
    record = {
        **({"id": recorded["id"]} if recorded.get("id") else {}),
        "revision": recorded.get("revision", "local"),
        "quantization": quantization,
        "converted_from": str(source_resolved),
        "converted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ctranslate2_version": ctranslate2.__version__,
    }
    (out / SOURCE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return out


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
