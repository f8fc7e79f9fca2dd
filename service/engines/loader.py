"""Where models come from (manifest, local folder, hub), which engine and precision run them,
and loading them with clear failures."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx

from service.config import Precision, Settings
from service.device import (
    DeviceChoice,
    EngineName,
    PrecisionUnavailableError,
    ResolvedPrecision,
    ThreadLayout,
    available_cores,
    resolve_precision,
    resolve_threads,
)
from service.engines.base import ModelInfo, Seq2SeqEngine, Task
from service.engines.ct2 import CT2_WEIGHTS, CT2Seq2SeqEngine, is_converted

if TYPE_CHECKING:
    from service.engines.hf import HFSeq2SeqEngine

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
SOURCE_FILE = ".depeche-source.json"
"""Written beside a fetched model by scripts/fetch_models.py: hub id and resolved revision."""

_ENV_NAME: dict[Task, str] = {
    "translation": "DEPECHE_TRANSLATION_MODEL",
    "summary": "DEPECHE_SUMMARY_MODEL",
}

# Used when the manifest itself is missing (a package installed without the models/ folder).
_FALLBACK_MANIFEST: dict[str, dict[str, str]] = {
    "translation": {
        "id": "Helsinki-NLP/opus-mt-fr-en",
        "revision": "main",
        "local_dir": "opus-mt-fr-en",
    },
    "summary": {
        "id": "sshleifer/distilbart-cnn-12-6",
        "revision": "main",
        "local_dir": "distilbart-cnn-12-6",
    },
}


EngineSetting = Literal["auto", "transformers", "ctranslate2"]

DEFAULT_CT2_QUANTIZATION = "int8"
"""What scripts/convert_models.py writes by default, and the converted folder looked for when
DEPECHE_PRECISION is auto."""


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message is one sentence that names the fix."""


@dataclass(frozen=True)
class ModelSource:
    """A resolved place to load one model from."""

    task: Task
    location: str
    """Hub id, or the path of a local folder."""
    revision: str
    """Hub revision; for a local folder, the one recorded beside it, else `local`."""
    is_local: bool
    hub_id: str | None
    """The hub id the weights came from, when known."""


def read_manifest(models_dir: Path) -> dict[str, dict[str, str]]:
    """The pinned default models: `models/manifest.json`, or the built-in defaults without it."""
    path = models_dir / MANIFEST_NAME
    if not path.is_file():
        return _FALLBACK_MANIFEST
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return {task: data[task] for task in ("translation", "summary")}


def _looks_local(location: str) -> bool:
    return location.startswith((".", "/", "~")) or Path(location).expanduser().exists()


def _recorded_source(folder: Path) -> tuple[str | None, str]:
    path = folder / SOURCE_FILE
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        return data.get("id"), str(data.get("revision", "local"))
    return None, "local"


def ctranslate2_available() -> bool:
    """Whether the ctranslate2 package is installed (without importing it)."""
    return importlib.util.find_spec("ctranslate2") is not None


def converted_folder_name(local_dir: str, quantization: str) -> str:
    """Where scripts/convert_models.py puts the CTranslate2 conversion of `models/<local_dir>`."""
    return f"{local_dir}-ct2-{quantization}"


def _converted_sibling(settings: Settings, local_dir: str) -> Path | None:
    """The converted `models/<local_dir>-ct2-<q>` folder when the engine setting may use it."""
    if settings.engine == "transformers":
        return None
    if settings.engine == "auto" and not ctranslate2_available():
        return None
    quantization = DEFAULT_CT2_QUANTIZATION if settings.precision == "auto" else settings.precision
    folder = settings.models_dir / converted_folder_name(local_dir, quantization)
    return folder if is_converted(folder) else None


def resolve_source(task: Task, settings: Settings) -> ModelSource:
    """Decide where `task`'s model comes from: setting, then fetched folder (its CTranslate2
    conversion first, unless DEPECHE_ENGINE=transformers), then the hub."""
    entry = read_manifest(settings.models_dir)[task]
    configured = settings.translation_model if task == "translation" else settings.summary_model
    revision = settings.translation_revision if task == "translation" else settings.summary_revision
    if configured is None:
        fetched = settings.models_dir / entry["local_dir"]
        converted = _converted_sibling(settings, entry["local_dir"])
        if converted is not None:
            configured = str(converted)
        elif (fetched / "config.json").is_file():
            configured = str(fetched)
        else:
            return ModelSource(task, entry["id"], revision or entry["revision"], False, entry["id"])
    if _looks_local(configured):
        folder = Path(configured).expanduser()
        hub_id, recorded = _recorded_source(folder)
        return ModelSource(task, str(folder), revision or recorded, True, hub_id)
    default_revision = entry["revision"] if configured == entry["id"] else "main"
    return ModelSource(task, configured, revision or default_revision, False, configured)


def _probe_hub(source: ModelSource, timeout_s: float) -> None:
    """One quick request to the hub, so an unreachable hub fails in seconds, not minutes."""
    from huggingface_hub import constants

    url = f"{constants.ENDPOINT}/api/models/{source.location}/revision/{source.revision}"
    headers = {}
    token = os.environ.get("HF_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    # httpx's timeout does not cover name resolution, which can hang on a broken resolver:
    # the request runs in a daemon thread that is abandoned after the deadline.
    result: dict[str, httpx.Response | BaseException] = {}

    def request() -> None:
        try:
            result["response"] = httpx.get(
                url, timeout=timeout_s, headers=headers, follow_redirects=True
            )
        except BaseException as exc:
            result["error"] = exc

    worker = threading.Thread(target=request, name="hub-probe", daemon=True)
    worker.start()
    worker.join(timeout_s * 2)
    outcome = result.get("response", result.get("error", httpx.ConnectTimeout("no answer")))
    try:
        if isinstance(outcome, BaseException):
            raise outcome
        response = outcome
    except httpx.HTTPError as exc:
        raise ModelLoadError(
            f"The Hugging Face Hub ({constants.ENDPOINT}) cannot be reached to download the "
            f"{source.task} model {source.location} ({type(exc).__name__}): run "
            f"`python scripts/fetch_models.py` on a machine with internet access and copy models/ "
            f"here, or set {_ENV_NAME[source.task]} to a local model folder."
        ) from None
    if response.status_code in (401, 403):
        raise ModelLoadError(
            f"The hub refused access to {source.location} (HTTP {response.status_code}): set "
            f"HF_TOKEN to a token that may read it, or choose another {_ENV_NAME[source.task]}."
        )
    if response.status_code == 404:
        raise ModelLoadError(
            f"The hub has no model {source.location} at revision {source.revision}: check "
            f"{_ENV_NAME[source.task]} and its revision setting."
        )


def _engine_label(engine: EngineName, precision: ResolvedPrecision) -> str:
    return f"{engine} ({precision})"


def _load_pretrained(
    source: ModelSource,
    device: DeviceChoice,
    precision: ResolvedPrecision,
    threads: ThreadLayout,
    *,
    local_only: bool,
) -> HFSeq2SeqEngine:
    # torch comes in here, with the first transformers model, and not before.
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from service.engines.hf import HFSeq2SeqEngine, apply_precision, dtype_name, load_dtype

    kwargs: dict[str, Any] = {"local_files_only": local_only}
    if not source.is_local:
        kwargs["revision"] = source.revision
    dtype = load_dtype(precision)
    tokenizer = AutoTokenizer.from_pretrained(source.location, **kwargs)
    model = AutoModelForSeq2SeqLM.from_pretrained(source.location, dtype=dtype, **kwargs)
    model.to(device.device)
    model.eval()
    model = apply_precision(model, precision)
    info = ModelInfo(
        source.task,
        source.hub_id or source.location,
        source.revision,
        _engine_label("transformers", precision),
        threads,
    )
    # The device check runs in the dtype of the weights (float32 around int8 kernels).
    weights = dataclasses.replace(device, dtype=dtype_name(dtype))
    return HFSeq2SeqEngine(model, tokenizer, info, weights)


def choose_engine(requested: EngineSetting, source: ModelSource) -> EngineName:
    """auto: CTranslate2 for a local folder with converted weights when ctranslate2 imports,
    else transformers; an explicit setting is taken as it is."""
    if requested != "auto":
        return requested
    if source.is_local and is_converted(Path(source.location)) and ctranslate2_available():
        return "ctranslate2"
    return "transformers"


def _ct2_missing(source: ModelSource) -> ModelLoadError:
    return ModelLoadError(
        f"The {source.task} model {source.location} is a CTranslate2 conversion, but the "
        "ctranslate2 package is not installed: run `pip install -r requirements.txt`."
    )


def _load_ct2(
    source: ModelSource,
    device: DeviceChoice,
    precision: ResolvedPrecision,
    threads: ThreadLayout,
) -> CT2Seq2SeqEngine:
    env = _ENV_NAME[source.task]
    folder = Path(source.location)
    if not source.is_local or not is_converted(folder):
        raise ModelLoadError(
            f"DEPECHE_ENGINE=ctranslate2 needs converted weights, and the {source.task} model "
            f"{source.location} has no {CT2_WEIGHTS}: run `python scripts/convert_models.py`, "
            f"set {env} to a converted folder, or set DEPECHE_ENGINE=auto."
        )
    if not ctranslate2_available():
        raise _ct2_missing(source)
    info = ModelInfo(
        source.task,
        source.hub_id or source.location,
        source.revision,
        _engine_label("ctranslate2", precision),
        threads,
    )
    return CT2Seq2SeqEngine.load(
        folder,
        info,
        device=device.device,
        compute_type=precision,
        intra_threads=threads.intra,
        inter_threads=threads.inter,
    )


def load_engine(
    source: ModelSource,
    device: DeviceChoice,
    *,
    offline: bool,
    hub_timeout_s: float,
    engine: EngineSetting = "auto",
    precision: Precision = "auto",
    intra_threads: int | None = None,
    inter_threads: int | None = None,
) -> Seq2SeqEngine:
    """Load one model with the engine and precision the settings ask for (auto: see
    `choose_engine` and `resolve_precision`), turning every failure into a ModelLoadError.

    `intra_threads` / `inter_threads` are what the settings ask of this model (None: derive
    it); `resolve_threads` decides the layout, which `info.threads` reports. For transformers
    the caller sets torch's (process-wide) thread count.
    """
    env = _ENV_NAME[source.task]
    chosen = choose_engine(engine, source)
    try:
        resolved = resolve_precision(chosen, device.device, precision)
    except PrecisionUnavailableError as exc:
        raise ModelLoadError(str(exc)) from None
    threads = resolve_threads(
        source.task,
        chosen,
        device.device,
        available_cores(),
        inter=inter_threads,
        intra=intra_threads,
    )
    if source.is_local and not (Path(source.location) / "config.json").is_file():
        raise ModelLoadError(
            f"The {source.task} model folder {source.location} does not exist or holds no "
            f"config.json: run `python scripts/fetch_models.py`, or set {env} to a folder "
            f"written by save_pretrained."
        )
    if chosen == "ctranslate2":
        try:
            return _load_ct2(source, device, resolved, threads)
        except ModelLoadError:
            raise
        except Exception as exc:  # ctranslate2 raises RuntimeError/ValueError for bad folders
            raise _could_not_load(
                source, exc, "a folder written by scripts/convert_models.py"
            ) from exc
    if source.is_local and is_converted(Path(source.location)):
        if engine == "auto":  # chose transformers because ctranslate2 does not import
            raise _ct2_missing(source)
        raise ModelLoadError(
            f"The {source.task} model folder {source.location} holds CTranslate2 weights "
            f"({CT2_WEIGHTS}), which DEPECHE_ENGINE={engine} cannot load: set "
            f"DEPECHE_ENGINE=auto or ctranslate2, or set {env} to the unconverted folder."
        )
    try:
        if source.is_local:
            return _load_pretrained(source, device, resolved, threads, local_only=True)
        try:  # the local Hugging Face cache first: no network when the model is already there
            return _load_pretrained(source, device, resolved, threads, local_only=True)
        except OSError:
            if offline:
                raise ModelLoadError(
                    f"The {source.task} model {source.location}@{source.revision} is not on this "
                    f"machine and DEPECHE_OFFLINE=1 forbids downloading it: run `python "
                    f"scripts/fetch_models.py` where the hub is reachable, or set {env} to a local "
                    f"model folder."
                ) from None
        _probe_hub(source, hub_timeout_s)
        log.info("downloading %s model %s@%s", source.task, source.location, source.revision)
        return _load_pretrained(source, device, resolved, threads, local_only=False)
    except ModelLoadError:
        raise
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError... for bad folders
        raise _could_not_load(source, exc, "a seq2seq model saved with save_pretrained") from exc


def _could_not_load(source: ModelSource, exc: Exception, expected: str) -> ModelLoadError:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelLoadError(
        f"The {source.task} model {source.location} could not be loaded ({first_line[:300]}): "
        f"check that {_ENV_NAME[source.task]} names {expected}."
    )
