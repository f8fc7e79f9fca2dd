#!/usr/bin/env python3
"""Download the models pinned in models/manifest.json into the local models folder.

Each model of the manifest (``translation``, ``summary`` of a preset) names a Hugging Face Hub repo
(``id``), a commit (``revision``) and a folder (``local_dir``). This script downloads only
what inference needs (config, generation config, tokenizer files, and the weights as
safetensors, or ``pytorch_model.bin`` when the repo has no safetensors) into
``<models-dir>/<local_dir>/`` and records where they came from in
``<models-dir>/<local_dir>/.depeche-source.json``.

Usage::

    python scripts/fetch_models.py [--models-dir DIR] [--only translation|summary]
                                   [--preset fast|balanced|quality]

``--preset`` picks the pair (default: ``$DEPECHE_PRESET``, else ``balanced``, the manifest's
top-level ``translation`` and ``summary`` entries). The models folder defaults to
``$DEPECHE_MODELS_DIR``, else ``models/`` at the repo root.
When the hub cannot be reached the script says so in one line and exits with status 2;
copy the model folders from a machine that has internet, or point ``HF_ENDPOINT`` at a
mirror. Network timeouts are short by default (``HF_HUB_ETAG_TIMEOUT``,
``HF_HUB_DOWNLOAD_TIMEOUT``; set them to override).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

# huggingface_hub reads these when it is imported, so it is imported lazily, after this.
os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "30")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as `python scripts/fetch_models.py`
    sys.path.insert(0, str(REPO_ROOT))

# The service's own lists, so that what is fetched is what the converter and the loader read.
from service.engines.convert import SOURCE_FILE, TOKENIZER_FILES  # noqa: E402
from service.engines.ct2 import GENERATION_CONFIG  # noqa: E402
from service.presets import DEFAULT_PRESET, PRESETS, PresetError, preset_entries  # noqa: E402

DEFAULT_MANIFEST = REPO_ROOT / "models" / "manifest.json"
MODEL_KEYS = ("translation", "summary")
# The first contact with the hub (model_info) must answer within this many seconds.
PROBE_DEADLINE_S = 25.0

EXIT_ERROR = 1
EXIT_UNREACHABLE = 2

# Top-level files needed to load a model and its tokenizer with transformers.
BASE_FILES = ("config.json", GENERATION_CONFIG, *TOKENIZER_FILES)

T = TypeVar("T")


class FetchError(Exception):
    """A failure worth one line to the user; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ModelSpec:
    """One entry of models/manifest.json."""

    key: str
    repo_id: str
    revision: str
    local_dir: str


def unreachable_message(endpoint: str, detail: str) -> str:
    """The one line printed when the hub cannot be reached."""
    return (
        f"error: the Hugging Face Hub at {endpoint} is unreachable ({detail}). "
        "Copy the model folders listed in models/manifest.json from a machine that has "
        "internet (see models/README.md), or set HF_ENDPOINT to a reachable mirror, "
        "then run this again."
    )


def _exception_chain(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


_NETWORK_CLASS_NAMES = (
    "ConnectError",
    "ConnectionError",
    "ConnectTimeout",
    "ReadTimeout",
    "Timeout",
    "TimeoutException",
    "NetworkError",
    "TransportError",
    "ProxyError",
    "OfflineModeIsEnabled",
)


def http_status_detail(exc: BaseException) -> str | None:
    """Return "HTTP <code> for <url>" when the chain holds an HTTP answer from the server."""
    for err in _exception_chain(exc):
        response = getattr(err, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            request = getattr(response, "request", None)
            url = str(getattr(request, "url", "") or getattr(response, "url", "") or "")
            return f"HTTP {status}" + (f" for {url.split('?')[0]}" if url else "")
    return None


def network_error_detail(exc: BaseException) -> str | None:
    """Return a short reason when ``exc`` means "the hub cannot be reached", else None.

    Works on the exception chain, so it does not depend on which HTTP client
    (requests, httpx) the installed huggingface_hub uses. A chain that holds an HTTP
    answer is not "unreachable": the server was reached and said no.
    """
    if http_status_detail(exc) is not None:
        return None
    for err in _exception_chain(exc):
        names = {cls.__name__ for cls in type(err).__mro__}
        if isinstance(err, (ConnectionError, TimeoutError, socket.gaierror)) or (
            names & set(_NETWORK_CLASS_NAMES)
        ):
            # Prefer the innermost, most specific reason (e.g. the DNS error).
            inner = list(_exception_chain(err))[-1]
            text = str(inner).strip() or type(inner).__name__
            return text.splitlines()[0][:160]
    return None


def classify(exc: BaseException, spec: ModelSpec, endpoint: str) -> FetchError | None:
    """Turn a hub failure into a one-line FetchError when it is a known kind, else None."""
    detail = network_error_detail(exc)
    if detail is not None:
        return FetchError(unreachable_message(endpoint, detail), EXIT_UNREACHABLE)
    answer = http_status_detail(exc)
    if answer is not None:
        return FetchError(
            f"error: {endpoint} answered {answer} while fetching {spec.repo_id}@{spec.revision}"
        )
    return None


def run_with_deadline(func: Callable[[], T], seconds: float) -> T:
    """Run ``func`` in a daemon thread; raise TimeoutError if it has not returned in time.

    DNS look-ups are not covered by HTTP client timeouts, so this bounds the first
    contact with the hub whatever the network does.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = func()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="hub-probe", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {seconds:.0f} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _preset_entries(data: Any, path: Path, preset: str) -> dict[str, Any]:
    """The manifest entry of each task for `preset`: `service.presets.preset_entries`, its
    refusals as one line; an entry it cannot read is left for `load_manifest` to name."""
    if not isinstance(data, dict):
        raise FetchError(f"error: manifest {path} is not a JSON object")
    try:
        return preset_entries(data, preset)
    except PresetError as exc:
        where = f" (manifest {path})" if preset in PRESETS else ""
        raise FetchError(f"error: {exc}{where}") from None
    except (KeyError, TypeError):  # a top-level entry missing or malformed
        return {key: data.get(key) for key in MODEL_KEYS}


def load_manifest(path: Path, preset: str = DEFAULT_PRESET) -> list[ModelSpec]:
    """Read and check the manifest's models for `preset`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FetchError(f"error: manifest not found: {path}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise FetchError(f"error: cannot read manifest {path}: {exc}") from None
    entries = _preset_entries(data, path, preset)
    specs: list[ModelSpec] = []
    for key in MODEL_KEYS:
        entry = entries[key]
        if not isinstance(entry, dict):
            where = "" if preset == DEFAULT_PRESET else f" for the preset '{preset}'"
            raise FetchError(f"error: manifest {path} has no '{key}' entry{where}")
        missing = [f for f in ("id", "revision", "local_dir") if not entry.get(f)]
        if missing:
            raise FetchError(f"error: manifest entry '{key}' lacks {', '.join(missing)}")
        local_dir = str(entry["local_dir"])
        if Path(local_dir).is_absolute() or ".." in Path(local_dir).parts:
            raise FetchError(f"error: manifest entry '{key}': local_dir must be a plain name")
        specs.append(ModelSpec(key, str(entry["id"]), str(entry["revision"]), local_dir))
    return specs


def default_models_dir() -> Path:
    """$DEPECHE_MODELS_DIR (relative to the current directory), else <repo>/models."""
    env = os.environ.get("DEPECHE_MODELS_DIR")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "models"


def select_files(repo_files: Iterable[str]) -> list[str]:
    """Pick the top-level files to download: config, tokenizer and one weights format."""
    top = sorted(f for f in repo_files if "/" not in f)
    wanted = [f for f in top if f in BASE_FILES]
    safetensors = [f for f in top if f.endswith((".safetensors", ".safetensors.index.json"))]
    if any(f.endswith(".safetensors") for f in safetensors):
        weights = safetensors
    else:
        weights = [
            f
            for f in top
            if f.startswith("pytorch_model") and f.endswith((".bin", ".bin.index.json"))
        ]
    if not weights:
        raise FetchError("error: the repo has neither *.safetensors nor pytorch_model.bin")
    return wanted + weights


def fetch_one(spec: ModelSpec, models_dir: Path, endpoint: str) -> Path:
    """Download one model into ``models_dir / spec.local_dir`` and write its source file."""
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    api = HfApi()
    etag_timeout = float(os.environ["HF_HUB_ETAG_TIMEOUT"])
    print(f"[{spec.key}] {spec.repo_id} @ {spec.revision}", flush=True)
    try:
        info = run_with_deadline(
            lambda: api.model_info(
                spec.repo_id, revision=spec.revision, timeout=etag_timeout, files_metadata=False
            ),
            PROBE_DEADLINE_S,
        )
    except RevisionNotFoundError:
        raise FetchError(
            f"error: revision {spec.revision} not found in {spec.repo_id}; fix models/manifest.json"
        ) from None
    except RepositoryNotFoundError:
        raise FetchError(f"error: repository {spec.repo_id} not found on {endpoint}") from None
    except Exception as exc:
        known = classify(exc, spec, endpoint)
        if known is None:
            raise
        raise known from exc
    sha = info.sha or spec.revision
    files = select_files(s.rfilename for s in (info.siblings or []))
    target = models_dir / spec.local_dir
    target.mkdir(parents=True, exist_ok=True)
    print(f"[{spec.key}] commit {sha}: {', '.join(files)} -> {target}", flush=True)
    try:
        snapshot_download(
            spec.repo_id,
            revision=sha,
            local_dir=target,
            allow_patterns=files,
            etag_timeout=etag_timeout,
        )
    except Exception as exc:
        known = classify(exc, spec, endpoint)
        if known is None:
            raise
        raise known from exc
    source = {
        "id": spec.repo_id,
        "revision": sha,
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (target / SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n", encoding="utf-8")
    print(f"[{spec.key}] done: {target}", flush=True)
    return target


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Download the models pinned in models/manifest.json.",
        epilog="Without internet: copy the model folders from a machine that has it, "
        "or set HF_ENDPOINT to a mirror.",
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="where to put the models (default: $DEPECHE_MODELS_DIR, else <repo>/models)",
    )
    parser.add_argument("--only", choices=MODEL_KEYS, default=None, help="fetch just this model")
    parser.add_argument(
        "--preset",
        default=None,
        help="the preset whose models to fetch: fast, balanced or quality "
        "(default: $DEPECHE_PRESET, else balanced)",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        default=DEFAULT_MANIFEST,
        help=f"manifest to read (default: {DEFAULT_MANIFEST.relative_to(REPO_ROOT)} "
        "at the repo root)",
    )
    parser.add_argument("--verbose", action="store_true", help="show tracebacks on errors")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    models_dir: Path = (
        args.models_dir.expanduser().resolve() if args.models_dir else default_models_dir()
    )
    try:
        if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
            raise FetchError("error: HF_HUB_OFFLINE is set; unset it to fetch models")
        preset = args.preset or os.environ.get("DEPECHE_PRESET") or DEFAULT_PRESET
        specs = load_manifest(args.manifest, preset.strip().lower())
        if args.only:
            specs = [s for s in specs if s.key == args.only]
        from huggingface_hub import constants

        endpoint = os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
        for spec in specs:
            fetch_one(spec, models_dir, endpoint)
    except FetchError as exc:
        if args.verbose:
            traceback.print_exc()
        print(str(exc), file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line unless --verbose
        if args.verbose:
            traceback.print_exc()
        print(f"error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
