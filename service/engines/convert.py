"""Converting a transformers checkpoint to CTranslate2, and keeping converted copies current:
the conversion itself (scripts/convert_models.py and `DEPECHE_ENGINE=auto` both call it), the
record of what a copy was made from, and convert-once for the service (freshness against the
source, a subprocess with a deadline, one conversion per folder at a time, atomic replacement).

A converted folder holds `model.bin` and CTranslate2's `config.json`; the source's tokenizer
files and `generation_config.json` (derived from its config when the checkpoint has none); the
source's transformers config as `hf_config.json`; and `.depeche-source.json`: the hub `id` and
`revision` of the source, the `quantization`, and a fingerprint of the source's files (name,
size, mtime and sha256 of each config, tokenizer and weights file), so that a changed source is
converted again. The service reports `id` and `revision` in `meta.models`.

MarianMT is converted with its `<pad>` token kept and the decoder started from that token's
embedding, exactly as transformers runs it. CTranslate2's stock Marian conversion drops `<pad>`
and starts from a zero vector instead: the same thing for the published opus-mt checkpoints,
whose `<pad>` embedding is zero, but not for a checkpoint trained with tied embeddings (such as
the tiny test model). In the copy's vocabulary the end and start tokens (`</s>`, `<pad>`) come
first, the rest in their order (`<unk>` next), with the embedding and output rows moved: the
same model, and the order a vocabulary map needs (`service.engines.vmap`: CTranslate2 4.8.5
keeps the first mapped call's place of the start token, and only ids that sort first among
every call's candidates keep their place).

Nothing here imports torch, transformers or ctranslate2 at module level: the service converts in
a child process (`python -m service.engines.convert`), so the serving process never loads
torch for it and a crash or a hang in the converter cannot take the service down.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.engines.ct2 import CT2_WEIGHTS, GENERATION_CONFIG, HF_CONFIG, is_converted

SOURCE_FILE = ".depeche-source.json"
"""Beside a fetched model (scripts/fetch_models.py: hub id and revision) and in every converted
copy (the same, plus what it was converted from)."""

log = logging.getLogger(__name__)

QUANTIZATIONS = ("int8", "float16", "int8_float16", "bfloat16", "float32")

CONVERTER_VERSION = 4
"""Bumped when the conversion itself changes, so that copies made by an older one are redone
(3: the runtime tokenizer record, `service.engines.codec`; 4: Marian's special tokens first)."""

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

# Besides the tokenizer files, what a conversion reads: a change to any of them means a new copy.
_CONFIG_FILES = ("config.json", GENERATION_CONFIG)
_WEIGHT_SUFFIXES = (".safetensors", ".safetensors.index.json", ".bin", ".bin.index.json")

# The converted tokenizer must split these exactly as the source's does.
PROBES = (
    "Le gouvernement a annoncé lundi un plan de 2,5 milliards d’euros.",
    "« Nous y allons ! » M. Dupont est parti à 18 h 30.",
    "The government announced a €2.5bn plan on Monday.",
)

# The runtime tokenizer must also give transformers' ids and text on these: special tokens in
# the text, a language code, spaces, empty text, letters no vocabulary holds.
CODEC_PROBES = (
    *PROBES,
    "",
    " ",
    "  Deux  espaces\tet une tabulation.\n",
    "Fin de phrase</s> puis <unk> et <pad>, collés:</s></s>",
    ">>fr<< Bonjour à tous.",
    "L'État, c'est moi ; n'est-ce pas ? Qu'y a-t-il ! 12 % de 3,5 M€.",
    "Ελληνικά, 日本語, emoji 🙂, ligature œuvre, ﬁn, ℃ and Ⅻ.",
    "isn't it , they're here . I 'm sure 's",
)

_HASH_CHUNK = 1 << 20


class ConvertError(Exception):
    """A failure worth one line to the user."""


@dataclass(frozen=True)
class SourceIdentity:
    """Where a checkpoint came from, as recorded in the converted copy."""

    id: str | None
    """The hub id, when known."""
    revision: str
    """The hub commit (or `local`)."""
    kind: str = "folder"
    """`folder`: a local folder, checked file by file on every start; `hub`: a snapshot of the
    hub at `revision`, identified by (`id`, `requested_revision`)."""
    requested_revision: str | None = None
    """For `hub`: the revision the settings asked for (a commit, or a branch such as `main`)."""


@dataclass(frozen=True)
class Conversion:
    """What `ensure_converted` did."""

    folder: Path
    converted: bool
    """False when an up-to-date copy was already there."""
    seconds: float
    reason: str | None
    """Why a new copy was made (`no converted copy`, `the source's files changed: ...`)."""


def converted_name(local_dir: str, quantization: str) -> str:
    """The converted folder's name for `local_dir`; the loader looks for the same name."""
    return f"{local_dir}-ct2-{quantization}"


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`; {} when the file is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recorded_identity(folder: Path) -> SourceIdentity:
    """The hub id and revision recorded beside a fetched model (`local` when none)."""
    record = read_json(folder / SOURCE_FILE)
    found = record.get("id")
    return SourceIdentity(
        found if isinstance(found, str) else None, str(record.get("revision", "local"))
    )


# --- the source's fingerprint ----------------------------------------------------------------


def _fingerprinted(folder: Path) -> list[Path]:
    names = {*_CONFIG_FILES, *TOKENIZER_FILES}
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and (path.name in names or path.name.endswith(_WEIGHT_SUFFIXES))
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(folder: Path, known: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Name -> size, mtime and sha256 of each file a conversion of `folder` reads.

    A file whose size and mtime match `known` (an earlier fingerprint) keeps its recorded
    sha256 without being read again, so checking a 1 GB model on every start costs a few stat
    calls; a copied or touched file is hashed again, and only a different content counts as a
    change.
    """
    known = known or {}
    files: dict[str, dict[str, Any]] = {}
    for path in _fingerprinted(folder):
        stat = path.stat()
        before = known.get(path.name)
        same_stat = (
            isinstance(before, dict)
            and before.get("size") == stat.st_size
            and before.get("mtime_ns") == stat.st_mtime_ns
            and isinstance(before.get("sha256"), str)
        )
        sha = str(before["sha256"]) if same_stat and isinstance(before, dict) else _sha256(path)
        files[path.name] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha}
    return files


def _digest(files: Mapping[str, Mapping[str, Any]], revision: str) -> str:
    lines = [f"revision {revision}", *(f"{name} {files[name]['sha256']}" for name in sorted(files))]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _check(
    out: Path, source: Path, quantization: str | None, identity: SourceIdentity | None
) -> tuple[str | None, dict[str, dict[str, Any]] | None]:
    """(why `out` is stale or None, the source's fingerprint now when it was taken)."""
    if not is_converted(out):
        return "no converted copy", None
    record = read_json(out / SOURCE_FILE)
    if quantization is not None and record.get("quantization") != quantization:
        return f"the copy is {record.get('quantization', 'of unknown precision')}", None
    if record.get("converter") != CONVERTER_VERSION:
        return "the copy was made by an older converter", None
    identity = identity or recorded_identity(source)
    if record.get("source_revision") != identity.revision:
        return f"the source's revision is now {identity.revision}", None
    files = record.get("source_files")
    if not isinstance(files, dict):
        return "the copy records no fingerprint of its source", None
    now = fingerprint(source, files)
    changed = sorted(set(now) ^ set(files)) + sorted(
        name for name in set(now) & set(files) if now[name]["sha256"] != files[name].get("sha256")
    )
    if changed:
        return f"the source's files changed ({', '.join(changed[:4])})", now
    return None, now


def staleness(
    out: Path,
    source: Path,
    *,
    quantization: str | None = None,
    identity: SourceIdentity | None = None,
) -> str | None:
    """None when `out` is a complete conversion of `source` as it is now (in `quantization`,
    when given), else the reason it is not, in a few words."""
    return _check(out, source, quantization, identity)[0]


def _restamp(out: Path, now: Mapping[str, Mapping[str, Any]]) -> None:
    """Record the new sizes and mtimes of unchanged source files (a copied or touched model),
    so the next start need not hash them again. Best effort: the copy may be read-only."""
    path = out / SOURCE_FILE
    record = read_json(path)
    if record.get("source_files") == now:
        return
    record["source_files"] = dict(now)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


# --- the conversion --------------------------------------------------------------------------


@contextlib.contextmanager
def faithful_marian() -> Iterator[None]:
    """Convert MarianMT with `<pad>` kept as the decoder start token, like transformers runs it."""
    import torch
    from ctranslate2.converters import transformers as ct2_transformers  # type: ignore[import-untyped]

    bart_loader = ct2_transformers.BartLoader
    stock_loader = ct2_transformers.MarianMTLoader

    class PadStartMarianLoader(stock_loader):  # type: ignore[misc, valid-type]
        order: tuple[int, ...] = ()
        """The vocabulary's new order (`specials_first`), set by `get_model_spec`."""

        def get_model_spec(self, model: Any) -> Any:
            model.config.normalize_before = False
            model.config.normalize_embedding = False
            spec = bart_loader.get_model_spec(self, model)  # keeps the <pad> row
            config = model.config
            specials = [config.eos_token_id, getattr(config, "unk_token_id", None)]
            self.order = tuple(specials_first(config.vocab_size, [*specials, config.pad_token_id]))
            rows = [spec.encoder.embeddings[0], spec.decoder.embeddings, spec.decoder.projection]
            for layer in rows:  # tied rows come out equal, and CTranslate2 stores them once
                layer.weight = layer.weight.detach()[list(self.order)]
            bias = getattr(spec.decoder.projection, "bias", None)
            if isinstance(bias, torch.Tensor):  # final_logits_bias, where it is not all zero
                spec.decoder.projection.bias = bias.detach()[list(self.order)]
            return spec

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
            if self.order and len(tokens) != len(self.order):
                raise ValueError(
                    f"the tokenizer has {len(tokens)} tokens and the model {len(self.order)} "
                    "embedding rows: they cannot be reordered together"
                )
            return [tokens[i] for i in self.order] if self.order else tokens

    registry = ct2_transformers._MODEL_LOADERS
    previous = registry.get("MarianConfig")
    registry["MarianConfig"] = PadStartMarianLoader()
    try:
        yield
    finally:
        registry["MarianConfig"] = previous


def specials_first(size: int, specials: list[int | None]) -> list[int]:
    """The ids 0..size-1 reordered: the given special ids first (in that order, once each),
    then every other id in its order."""
    first = list(dict.fromkeys(i for i in specials if i is not None and 0 <= i < size))
    chosen = set(first)
    return first + [i for i in range(size) if i not in chosen]


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


def _write_runtime_tokenizer(out: Path) -> None:
    """The tokenizer record that lets the service tokenize without transformers
    (`service.engines.codec`), checked against the copied tokenizer on `CODEC_PROBES`; a
    tokenizer it cannot reproduce keeps transformers, with a warning."""
    from service.engines.codec import write_record
    from service.engines.ct2 import load_tokenizer

    why = write_record(load_tokenizer(out), out, CODEC_PROBES)
    if why is not None:
        log.warning("%s: the service will tokenize through transformers (%s)", out, why)


def check_source(source: Path, quantization: str) -> None:
    """Refuse, in one line, what cannot be converted."""
    if not (source / "config.json").is_file():
        raise ConvertError(
            f"error: no model at {source} (no config.json): run `python scripts/fetch_models.py` "
            "first, or pass --source with a folder written by save_pretrained"
        )
    if is_converted(source):
        raise ConvertError(f"error: {source} is already a CTranslate2 conversion")
    if quantization not in QUANTIZATIONS:
        raise ConvertError(f"error: quantization must be one of {', '.join(QUANTIZATIONS)}")


def convert_checkpoint(
    source: Path, dest: Path, quantization: str, identity: SourceIdentity | None = None
) -> Path:
    """Convert one transformers checkpoint folder into the CTranslate2 folder `dest` (created or
    emptied), with its record. Imports torch, transformers and ctranslate2."""
    check_source(source, quantization)
    identity = identity or recorded_identity(source)
    files_before = fingerprint(source)

    import ctranslate2  # type: ignore[import-untyped]
    from ctranslate2.converters import TransformersConverter
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    copy_files = [name for name in TOKENIZER_FILES if (source / name).is_file()]
    if (source / GENERATION_CONFIG).is_file():
        copy_files.append(GENERATION_CONFIG)
    with faithful_marian():
        converter = TransformersConverter(str(source), copy_files=copy_files)
        converter.convert(str(dest), quantization=quantization, force=True)

    shutil.copyfile(source / "config.json", dest / HF_CONFIG)
    if not (dest / GENERATION_CONFIG).is_file():  # older checkpoints keep it in config.json
        config = AutoConfig.from_pretrained(str(source), local_files_only=True)
        GenerationConfig.from_model_config(config).save_pretrained(str(dest))
    tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    _ensure_tokenizer_class(dest, tokenizer)
    _check_tokenizer(source, dest)
    _write_runtime_tokenizer(dest)

    # The fingerprint taken before reading the source: a file changed during the conversion
    # then makes the copy stale at the next start, never wrongly fresh.
    record: dict[str, Any] = {
        **({"id": identity.id} if identity.id else {}),
        "revision": identity.revision,
        **(
            {"requested_revision": identity.requested_revision}
            if identity.requested_revision
            else {}
        ),
        "source_kind": identity.kind,
        "quantization": quantization,
        "converted_from": str(source.resolve()),
        "converted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ctranslate2_version": ctranslate2.__version__,
        "converter": CONVERTER_VERSION,
        "source_revision": identity.revision,
        "source_digest": _digest(files_before, identity.revision),
        "source_files": files_before,
    }
    (dest / SOURCE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return dest


# --- one writer per folder, and no half-written folder -----------------------------------------


def _lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


@contextlib.contextmanager
def folder_lock(out: Path, timeout_s: float) -> Iterator[None]:
    """Hold the lock file beside `out` (one conversion into `out` at a time, across processes);
    ConvertError when another holder keeps it longer than `timeout_s`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with _lock_path(out).open("a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ConvertError(
                        f"another process has been converting into {out} for over {timeout_s:.0f} s"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _temp_prefix(out: Path) -> str:
    return f".{out.name}.tmp-"


def _remove_leftovers(out: Path) -> None:
    """Temporary folders of conversions that died (only called with the lock held)."""
    for path in out.parent.glob(_temp_prefix(out) + "*"):
        shutil.rmtree(path, ignore_errors=True)


def _check_replaceable(out: Path) -> None:
    if not out.exists() or not out.is_dir():
        if out.exists():
            raise ConvertError(f"{out} exists and is not a folder")
        return
    ours = is_converted(out) or (out / SOURCE_FILE).is_file() or not any(out.iterdir())
    if not ours:
        raise ConvertError(f"{out} exists and is not a CTranslate2 copy: move it away")


def _swap_in(tmp: Path, out: Path) -> None:
    """Put the finished `tmp` at `out` by renames: a reader sees the old copy, no copy, or the
    new one, never a mix."""
    old: Path | None = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(out, old)
    os.rename(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_atomically(
    out: Path,
    fill: Callable[[Path, float], object],
    *,
    timeout_s: float,
    needed: Callable[[], bool] | None = None,
) -> bool:
    """Under `out`'s lock: unless `needed()` says the work is done already (by another process
    meanwhile), run `fill(tmp, seconds_left)` on a fresh folder beside `out`, then swap it in.
    True when a new copy was written."""
    started = time.monotonic()
    with folder_lock(out, timeout_s):
        if needed is not None and not needed():
            return False
        _remove_leftovers(out)
        _check_replaceable(out)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=_temp_prefix(out)))
        try:
            fill(tmp, max(1.0, timeout_s - (time.monotonic() - started)))
            if not is_converted(tmp):
                raise ConvertError(f"the converter wrote no {CT2_WEIGHTS}")
            _swap_in(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return True


def convert(source: Path, out: Path, quantization: str, *, force: bool = False) -> Path:
    """Convert one transformers checkpoint folder into a CTranslate2 folder at `out`, in this
    process (scripts/convert_models.py). The copy appears whole or not at all."""
    check_source(source, quantization)
    source_resolved, out_resolved = source.resolve(), out.resolve()
    if out_resolved == source_resolved or out_resolved in source_resolved.parents:
        raise ConvertError(f"error: the output {out} would replace the source {source}")
    if out.exists() and any(out.iterdir()) and not force:
        raise ConvertError(f"error: {out} already exists: pass --force to replace it")
    try:
        write_atomically(
            out,
            lambda tmp, _left: convert_checkpoint(source, tmp, quantization),
            timeout_s=24 * 3600,
        )
    except OSError as exc:
        raise ConvertError(f"error: cannot write {out}: {exc}") from exc
    return out


# --- convert once, for the service -----------------------------------------------------------


def converter_command(
    source: Path, dest: Path, quantization: str, identity: SourceIdentity
) -> list[str]:
    """The child process that converts (`main` below)."""
    command = [sys.executable, "-m", "service.engines.convert", str(source), str(dest)]
    command += ["--quantization", quantization, "--revision", identity.revision]
    command += ["--kind", identity.kind]
    if identity.id:
        command += ["--id", identity.id]
    if identity.requested_revision:
        command += ["--requested-revision", identity.requested_revision]
    return command


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def run_converter(
    source: Path, dest: Path, quantization: str, identity: SourceIdentity, timeout_s: float
) -> None:
    """Convert in a child process, killed after `timeout_s`; ConvertError with its last line."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    try:
        done = subprocess.run(
            converter_command(source, dest, quantization, identity),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ConvertError(f"the conversion took over {timeout_s:.0f} s and was stopped") from None
    if done.returncode != 0:
        detail = _last_line(done.stderr) or _last_line(done.stdout) or f"exit {done.returncode}"
        raise ConvertError(detail.removeprefix("error: "))


def ensure_converted(
    source: Path,
    out: Path,
    quantization: str,
    *,
    timeout_s: float,
    identity: SourceIdentity | None = None,
) -> Conversion:
    """An up-to-date CTranslate2 copy of `source` at `out`: the one there, else a new one made
    in a child process within `timeout_s`. Raises ConvertError (or OSError) on failure; `out` is
    then left as it was."""
    identity = identity or recorded_identity(source)
    reason, now = _check(out, source, quantization, identity)
    if reason is None:
        if now is not None:
            _restamp(out, now)
        return Conversion(out, False, 0.0, None)
    check_source(source, quantization)
    started = time.monotonic()

    def fill(tmp: Path, left: float) -> None:
        log.info(
            "converting %s to CTranslate2 %s into %s (%s); done once, later starts reuse it",
            source,
            quantization,
            out,
            reason,
        )
        run_converter(source, tmp, quantization, identity, left)

    written = write_atomically(
        out,
        fill,
        timeout_s=timeout_s,
        # Another process may have converted it while this one waited for the lock.
        needed=lambda: (
            staleness(out, source, quantization=quantization, identity=identity) is not None
        ),
    )
    seconds = time.monotonic() - started
    if written:
        log.info("converted %s to CTranslate2 %s in %.1f s: %s", source, quantization, seconds, out)
    else:
        log.info("%s was converted by another process meanwhile (waited %.1f s)", out, seconds)
    return Conversion(out, written, seconds, reason if written else None)


def main(argv: list[str] | None = None) -> int:
    """The child process of `run_converter`: convert SOURCE into the (temporary) folder DEST."""
    parser = argparse.ArgumentParser(prog="python -m service.engines.convert")
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--quantization", choices=QUANTIZATIONS, required=True)
    parser.add_argument("--revision", required=True)
    parser.add_argument("--kind", choices=("folder", "hub"), default="folder")
    parser.add_argument("--id", default=None)
    parser.add_argument("--requested-revision", default=None)
    args = parser.parse_args(argv)
    identity = SourceIdentity(args.id, args.revision, args.kind, args.requested_revision)
    try:
        convert_checkpoint(args.source, args.dest, args.quantization, identity)
    except ConvertError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except Exception as exc:  # one line for the service's log; the traceback goes first
        import traceback

        traceback.print_exc()
        print(f"{type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
