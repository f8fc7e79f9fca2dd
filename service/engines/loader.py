"""Where models come from (manifest, local folder, hub) and loading them with clear failures."""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from service.config import Settings
from service.device import DeviceChoice
from service.engines.base import ModelInfo, Task
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


def resolve_source(task: Task, settings: Settings) -> ModelSource:
    """Decide where `task`'s model comes from: setting, then fetched folder, then the hub."""
    entry = read_manifest(settings.models_dir)[task]
    configured = settings.translation_model if task == "translation" else settings.summary_model
    revision = settings.translation_revision if task == "translation" else settings.summary_revision
    if configured is None:
        fetched = settings.models_dir / entry["local_dir"]
        if (fetched / "config.json").is_file():
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
    source: ModelSource, device: DeviceChoice, local_only: bool
) -> HFSeq2SeqEngine:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    kwargs: dict[str, Any] = {"local_files_only": local_only}
    if not source.is_local:
        kwargs["revision"] = source.revision
    tokenizer = AutoTokenizer.from_pretrained(source.location, **kwargs)
    model = AutoModelForSeq2SeqLM.from_pretrained(source.location, dtype=device.dtype, **kwargs)
    model.to(device.device)
    model.eval()
    info = ModelInfo(source.task, source.hub_id or source.location, source.revision, "transformers")
    return HFSeq2SeqEngine(model, tokenizer, info, device)


def load_engine(
    source: ModelSource, device: DeviceChoice, *, offline: bool, hub_timeout_s: float
) -> HFSeq2SeqEngine:
    """Load one model through `from_pretrained`, turning every failure into a ModelLoadError."""
    env = _ENV_NAME[source.task]
    if source.is_local and not (Path(source.location) / "config.json").is_file():
        raise ModelLoadError(
            f"The {source.task} model folder {source.location} does not exist or holds no "
            f"config.json: run `python scripts/fetch_models.py`, or set {env} to a folder "
            f"written by save_pretrained."
        )
    try:
        if source.is_local:
            return _load_pretrained(source, device, local_only=True)
        try:  # the local Hugging Face cache first: no network when the model is already there
            return _load_pretrained(source, device, local_only=True)
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
        return _load_pretrained(source, device, local_only=False)
    except ModelLoadError:
        raise
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError... for bad folders
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            f"The {source.task} model {source.location} could not be loaded ({first_line[:300]}): "
            f"check that {env} names a seq2seq model saved with save_pretrained."
        ) from exc
