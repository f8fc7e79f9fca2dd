"""Where models come from: the manifest, a local folder, the Hugging Face cache or hub, and
the CTranslate2 copy `DEPECHE_ENGINE=auto` makes of each (once, see `auto_source`), with the
failures that name their fix. Which engine loads a source is `service.engines.registry`'s."""

from __future__ import annotations

import json
import logging
import os
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from service.config import Settings
from service.engines.base import Task
from service.engines.convert import (
    SOURCE_FILE,
    TOKENIZER_FILES,
    ConvertError,
    SourceIdentity,
    converted_name,
    ensure_converted,
    read_json,
)
from service.engines.ct2 import ct2_installed, is_converted, weights_quantization
from service.presets import DEFAULT_PRESET, PresetError, preset_entries

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
TASKS: tuple[Task, ...] = ("translation", "summary")

ENV_NAME: dict[Task, str] = {
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


def read_manifest(models_dir: Path, preset: str = DEFAULT_PRESET) -> dict[str, dict[str, str]]:
    """The pinned models of `preset` (DEPECHE_PRESET): `models/manifest.json`, or the built-in
    defaults (the balanced pair) without it."""
    path = models_dir / MANIFEST_NAME
    if not path.is_file():
        return _FALLBACK_MANIFEST
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    try:
        return preset_entries(data, preset)
    except PresetError as exc:
        raise ModelLoadError(f"{exc} (DEPECHE_PRESET, {path}).") from exc


def _looks_local(location: str) -> bool:
    return location.startswith((".", "/", "~")) or Path(location).expanduser().exists()


def _recorded_source(folder: Path) -> tuple[str | None, str]:
    path = folder / SOURCE_FILE
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        return data.get("id"), str(data.get("revision", "local"))
    return None, "local"


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
    if settings.engine == "auto" and not ct2_installed():
        return None
    if quantization is None:
        quantization = (
            DEFAULT_CT2_QUANTIZATION
            if settings.precision == "auto"
            else weights_quantization(settings.precision)
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

    `quantization`: the CTranslate2 copy to look for (`registry.prepare_models` passes the one
    for the device); None: DEPECHE_PRECISION's copy, or int8 when that is auto.
    """
    entry = read_manifest(settings.models_dir, settings.preset)[task]
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


def probe_hub(source: ModelSource, timeout_s: float) -> None:
    """One quick request to the hub, so an unreachable hub fails in seconds, not minutes."""
    import httpx  # here, not at the top: a service on local models never loads it (5 MiB)
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
            f"here, or set {ENV_NAME[source.task]} to a local model folder."
        ) from None
    if response.status_code in (401, 403):
        raise ModelLoadError(
            f"The hub refused access to {source.location} (HTTP {response.status_code}): set "
            f"HF_TOKEN to a token that may read it, or choose another {ENV_NAME[source.task]}."
        )
    if response.status_code == 404:
        raise ModelLoadError(
            f"The hub has no model {source.location} at revision {source.revision}: check "
            f"{ENV_NAME[source.task]} and its revision setting."
        )


def missing_folder(source: ModelSource) -> ModelLoadError:
    return ModelLoadError(
        f"The {source.task} model folder {source.location} does not exist or holds no "
        f"config.json: run `python scripts/fetch_models.py`, or set {ENV_NAME[source.task]} to "
        f"a folder written by save_pretrained."
    )


def could_not_load(source: ModelSource, exc: Exception, expected: str) -> ModelLoadError:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelLoadError(
        f"The {source.task} model {source.location} could not be loaded ({first_line[:300]}): "
        f"check that {ENV_NAME[source.task]} names {expected}."
    )


# --- DEPECHE_ENGINE=auto: convert once, then serve on CTranslate2 --------------------------------

# What a hub snapshot needs for conversion and for transformers alike: configs, tokenizer, and one
# weights format (safetensors when the repo has them, else pytorch_model.bin).
_SNAPSHOT_FILES = ("config.json", "generation_config.json", *TOKENIZER_FILES)
_SAFETENSORS = ("*.safetensors", "*.safetensors.index.json")
_PYTORCH_BIN = ("pytorch_model*.bin", "pytorch_model.bin.index.json")


def auto_source(
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
        raise missing_folder(source)  # now, before the other model's download
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
    entry = read_manifest(settings.models_dir, settings.preset)[task]
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


def offline_error(source: ModelSource) -> ModelLoadError:
    return ModelLoadError(
        f"The {source.task} model {source.location}@{source.revision} is not on this "
        f"machine and DEPECHE_OFFLINE=1 forbids downloading it: run `python "
        f"scripts/fetch_models.py` where the hub is reachable, or set {ENV_NAME[source.task]} "
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
        raise offline_error(source)
    probe_hub(source, hub_timeout_s)
    log.info("downloading the %s model %s@%s", source.task, source.location, source.revision)
    try:
        folder = fetch(False, _SAFETENSORS)
        if not _has_weights(folder):
            folder = fetch(False, _PYTORCH_BIN)
    except Exception as exc:
        raise could_not_load(source, exc, "a hub repo of a seq2seq model") from exc
    if not (folder / "config.json").is_file() or not _has_weights(folder):
        raise ModelLoadError(
            f"The hub repo {source.location}@{source.revision} has no config.json with "
            f"safetensors or pytorch_model.bin weights: check {ENV_NAME[source.task]}."
        )
    return folder
