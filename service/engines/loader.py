"""Where models come from (manifest, local folder, hub), which engine and precision run them,
the CTranslate2 copy `DEPECHE_ENGINE=auto` makes of each (once, see `prepare_models`), and
loading them with clear failures."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
import threading
import zlib
from dataclasses import dataclass, field
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
    detect_device,
    resolve_precision,
    resolve_threads,
)
from service.engines.base import ModelInfo, Seq2SeqEngine, Task
from service.engines.convert import (
    SOURCE_FILE,
    TOKENIZER_FILES,
    ConvertError,
    SourceIdentity,
    converted_name,
    ensure_converted,
    read_json,
)
from service.engines.ct2 import CT2_WEIGHTS, CT2Seq2SeqEngine, is_converted

if TYPE_CHECKING:
    from service.engines.hf import HFSeq2SeqEngine

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
TASKS: tuple[Task, ...] = ("translation", "summary")

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
    """Where the CTranslate2 conversion of `models/<local_dir>` goes (the service's and
    scripts/convert_models.py's)."""
    return converted_name(local_dir, quantization)


def _hub_copy_is_other(folder: Path, hub_id: str, revision: str) -> bool:
    """A copy converted from a hub snapshot other than `hub_id` at `revision`."""
    record = read_json(folder / SOURCE_FILE)
    if record.get("source_kind") != "hub":
        return False
    asked = record.get("requested_revision", record.get("revision"))
    return record.get("id") != hub_id or asked != revision


def _converted_sibling(
    settings: Settings, entry: dict[str, str], revision: str, quantization: str | None
) -> Path | None:
    """The converted `models/<local_dir>-ct2-<q>` folder when the engine setting may use it."""
    if settings.engine == "transformers":
        return None
    if settings.engine == "auto" and not ctranslate2_available():
        return None
    if quantization is None:
        quantization = (
            DEFAULT_CT2_QUANTIZATION if settings.precision == "auto" else settings.precision
        )
    folder = settings.models_dir / converted_folder_name(entry["local_dir"], quantization)
    if not is_converted(folder) or _hub_copy_is_other(folder, entry["id"], revision):
        return None
    return folder


def resolve_source(
    task: Task, settings: Settings, *, quantization: str | None = None
) -> ModelSource:
    """Decide where `task`'s model comes from: setting, then fetched folder (its CTranslate2
    conversion first, unless DEPECHE_ENGINE=transformers), then the hub.

    `quantization`: the CTranslate2 copy to look for (`prepare_models` passes the one for the
    device); None: DEPECHE_PRECISION, or int8 when that is auto.
    """
    entry = read_manifest(settings.models_dir)[task]
    configured = settings.translation_model if task == "translation" else settings.summary_model
    revision = settings.translation_revision if task == "translation" else settings.summary_revision
    if configured is None:
        fetched = settings.models_dir / entry["local_dir"]
        converted = _converted_sibling(settings, entry, revision or entry["revision"], quantization)
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
        "transformers",
        precision,
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
        "ctranslate2",
        precision,
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
        raise _missing_folder(source)
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
                raise _offline_error(source) from None
        _probe_hub(source, hub_timeout_s)
        log.info("downloading %s model %s@%s", source.task, source.location, source.revision)
        return _load_pretrained(source, device, resolved, threads, local_only=False)
    except ModelLoadError:
        raise
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError... for bad folders
        raise _could_not_load(source, exc, "a seq2seq model saved with save_pretrained") from exc


def _missing_folder(source: ModelSource) -> ModelLoadError:
    return ModelLoadError(
        f"The {source.task} model folder {source.location} does not exist or holds no "
        f"config.json: run `python scripts/fetch_models.py`, or set {_ENV_NAME[source.task]} to "
        f"a folder written by save_pretrained."
    )


def _could_not_load(source: ModelSource, exc: Exception, expected: str) -> ModelLoadError:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelLoadError(
        f"The {source.task} model {source.location} could not be loaded ({first_line[:300]}): "
        f"check that {_ENV_NAME[source.task]} names {expected}."
    )


# --- DEPECHE_ENGINE=auto: convert once, then serve on CTranslate2 --------------------------------

# What a hub snapshot needs for conversion and for transformers alike: configs, tokenizer, and one
# weights format (safetensors when the repo has them, else pytorch_model.bin).
_SNAPSHOT_FILES = ("config.json", "generation_config.json", *TOKENIZER_FILES)
_SAFETENSORS = ("*.safetensors", "*.safetensors.index.json")
_PYTORCH_BIN = ("pytorch_model*.bin", "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class PreparedModels:
    """Where both models load from, on which device, and what differs from what was asked."""

    device: DeviceChoice
    sources: dict[Task, ModelSource]
    warnings: tuple[str, ...] = field(default=())
    """One sentence per model that `auto` meant to serve on CTranslate2 but could not convert:
    it runs on transformers, and /health and every response's `meta.warnings` say so."""


def prepare_models(settings: Settings) -> PreparedModels:
    """Resolve both models' sources and the device (ModelLoadError, DeviceUnavailableError).

    With DEPECHE_ENGINE=auto and ctranslate2 installed, a model in transformers format (a local
    folder, or a hub id once its snapshot is downloaded) is converted to CTranslate2 once,
    in the precision `auto` runs on the device (int8 on the CPU, float16 on CUDA), and served
    from the copy; later starts reuse it while its source is unchanged. A conversion that fails
    or times out leaves the model on transformers, with a warning. DEPECHE_ENGINE=transformers
    and =ctranslate2 convert nothing.
    """
    wants_ct2 = settings.engine == "ctranslate2" or (
        settings.engine == "auto" and ctranslate2_available()
    )
    if settings.engine == "auto" and not wants_ct2:
        log.warning("ctranslate2 is not installed: both models run on transformers, slower")
    # The device first: the copy's precision depends on it. CTranslate2 answers for CUDA when
    # both models are meant to run on it, so that a CTranslate2 service never imports torch.
    device = detect_device(settings.device, torch_needed=not wants_ct2)
    quantization: str | None = None
    if settings.engine == "auto" and wants_ct2:
        try:
            quantization = resolve_precision("ctranslate2", device.device, settings.precision)
        except PrecisionUnavailableError as exc:  # e.g. bfloat16 on the CPU: transformers runs it
            log.info("DEPECHE_ENGINE=auto keeps transformers: %s", exc)
    sources: dict[Task, ModelSource] = {}
    warnings: list[str] = []
    for task in TASKS:
        source = resolve_source(task, settings, quantization=quantization)
        if quantization is not None:
            source, warning = _auto_source(task, source, settings, quantization)
            if warning is not None:
                warnings.append(warning)
        sources[task] = source
    on_torch = any(choose_engine(settings.engine, s) == "transformers" for s in sources.values())
    if wants_ct2 and on_torch:  # a model fell back to transformers: torch decides the device
        device = detect_device(settings.device, torch_needed=True)
    return PreparedModels(device, sources, tuple(warnings))


def _auto_source(
    task: Task, source: ModelSource, settings: Settings, quantization: str
) -> tuple[ModelSource, str | None]:
    """The CTranslate2 copy of `source` to serve, made or refreshed if needed; or `source` (or
    its downloaded snapshot) with a warning when that fails."""
    if not source.is_local:
        return _auto_hub_source(task, source, settings, quantization)
    folder = Path(source.location)
    if is_converted(folder):
        return _refreshed(task, source, settings)
    if not (folder / "config.json").is_file():
        raise _missing_folder(source)  # now, before the other model's download
    out = _copy_location(folder, quantization, settings)
    identity = SourceIdentity(source.hub_id, source.revision)
    return _convert_or_fall_back(task, source, folder, out, quantization, identity, settings)


def _copy_location(folder: Path, quantization: str, settings: Settings) -> Path:
    """Beside the source (`<folder>-ct2-<q>`) when that is writable or already there, else
    under DEPECHE_MODELS_DIR, named after the source and a hash of its path."""
    beside = folder.parent / converted_name(folder.name, quantization)
    if os.access(folder.parent, os.W_OK) or is_converted(beside):
        return beside
    tag = f"{zlib.crc32(str(folder.resolve()).encode()):08x}"
    return settings.models_dir / converted_name(f"{folder.name}-{tag}", quantization)


def _refreshed(
    task: Task, source: ModelSource, settings: Settings
) -> tuple[ModelSource, str | None]:
    """A converted folder, converted again when the folder it was made from has changed (the
    manifest model's copy beside a refetched model, a copy made by scripts/convert_models.py)."""
    folder = Path(source.location)
    record = read_json(folder / SOURCE_FILE)
    origin_name, quantization = record.get("converted_from"), record.get("quantization")
    if record.get("source_kind", "folder") != "folder" or not isinstance(origin_name, str):
        return source, None  # hub copies are identified by their revision (see _auto_hub_source)
    origin = Path(origin_name)
    if not (origin / "config.json").is_file() or is_converted(origin):
        return source, None  # the original is not here (copied models/): the copy is all there is
    if not isinstance(quantization, str):
        return source, None
    hub_id, revision = _recorded_source(origin)
    identity = SourceIdentity(hub_id, revision)
    fallback = ModelSource(task, str(origin), revision, True, hub_id)
    return _convert_or_fall_back(task, fallback, origin, folder, quantization, identity, settings)


def _auto_hub_source(
    task: Task, source: ModelSource, settings: Settings, quantization: str
) -> tuple[ModelSource, str | None]:
    """A hub model: its copy under DEPECHE_MODELS_DIR when it is of this id and revision, else
    the snapshot (HF cache first, then the hub) converted into it."""
    entry = read_manifest(settings.models_dir)[task]
    name = entry["local_dir"] if source.location == entry["id"] else source.location
    out = settings.models_dir / converted_name(name.replace("/", "--"), quantization)
    record = read_json(out / SOURCE_FILE)
    if (
        is_converted(out)
        and record.get("source_kind") == "hub"
        and record.get("quantization") == quantization
        and not _hub_copy_is_other(out, source.location, source.revision)
    ):
        return ModelSource(task, str(out), str(record.get("revision")), True, source.location), None
    snapshot = download_snapshot(
        source, offline=settings.offline, hub_timeout_s=settings.hub_timeout_s
    )
    identity = SourceIdentity(source.location, snapshot.name, "hub", source.revision)
    fallback = ModelSource(task, str(snapshot), snapshot.name, True, source.location)
    return _convert_or_fall_back(task, fallback, snapshot, out, quantization, identity, settings)


def _convert_or_fall_back(
    task: Task,
    fallback: ModelSource,
    folder: Path,
    out: Path,
    quantization: str,
    identity: SourceIdentity,
    settings: Settings,
) -> tuple[ModelSource, str | None]:
    try:
        ensure_converted(
            folder, out, quantization, timeout_s=settings.convert_timeout_s, identity=identity
        )
    except (ConvertError, OSError) as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        warning = (
            f"The {task} model could not be converted to CTranslate2 ({detail}): it runs on "
            "transformers instead, which is slower."
        )
        log.warning("%s", warning)
        return fallback, warning
    return ModelSource(task, str(out), identity.revision, True, identity.id), None


def _has_weights(folder: Path) -> bool:
    return any(folder.glob("*.safetensors")) or any(folder.glob("pytorch_model*.bin"))


def _offline_error(source: ModelSource) -> ModelLoadError:
    return ModelLoadError(
        f"The {source.task} model {source.location}@{source.revision} is not on this "
        f"machine and DEPECHE_OFFLINE=1 forbids downloading it: run `python "
        f"scripts/fetch_models.py` where the hub is reachable, or set {_ENV_NAME[source.task]} "
        f"to a local model folder."
    )


def download_snapshot(source: ModelSource, *, offline: bool, hub_timeout_s: float) -> Path:
    """The snapshot folder of a hub model in the Hugging Face cache (named after its commit):
    the cached one when complete, else downloaded (configs, tokenizer, one weights format)."""
    from huggingface_hub import snapshot_download

    def fetch(local_only: bool, weights: tuple[str, ...]) -> Path:
        return Path(
            snapshot_download(
                source.location,
                revision=source.revision,
                allow_patterns=[*_SNAPSHOT_FILES, *weights],
                local_files_only=local_only,
            )
        )

    # One weights format at a time: a snapshot cached by from_pretrained holds just one, and
    # asking for both would count it incomplete.
    for weights in (_SAFETENSORS, _PYTORCH_BIN):
        try:
            cached = fetch(True, weights)
        except Exception:  # not in the cache (LocalEntryNotFoundError), or incomplete there
            continue
        if (cached / "config.json").is_file() and _has_weights(cached):
            return cached
    if offline:
        raise _offline_error(source)
    _probe_hub(source, hub_timeout_s)
    log.info("downloading the %s model %s@%s", source.task, source.location, source.revision)
    try:
        folder = fetch(False, _SAFETENSORS)
        if not _has_weights(folder):
            folder = fetch(False, _PYTORCH_BIN)
    except Exception as exc:
        raise _could_not_load(source, exc, "a hub repo of a seq2seq model") from exc
    if not (folder / "config.json").is_file() or not _has_weights(folder):
        raise ModelLoadError(
            f"The hub repo {source.location}@{source.revision} has no config.json with "
            f"safetensors or pytorch_model.bin weights: check {_ENV_NAME[source.task]}."
        )
    return folder
