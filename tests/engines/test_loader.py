"""Model sources and loading: local folders, the manifest, offline mode and clear failures."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from service.config import Settings
from service.device import DeviceChoice
from service.engines.loader import (
    ModelLoadError,
    read_manifest,
    resolve_source,
)
from service.engines.registry import load_engine
from tests.conftest import ROOT, free_port

CPU = DeviceChoice("cpu", "float32")


def test_manifest_pins_the_default_models() -> None:
    manifest = read_manifest(ROOT / "models")
    assert manifest["translation"]["id"] == "Helsinki-NLP/opus-mt-fr-en"
    assert manifest["summary"]["id"] == "sshleifer/distilbart-cnn-12-6"
    for entry in manifest.values():
        assert len(entry["revision"]) == 40, "revisions are pinned to commit shas"


def test_defaults_come_from_the_hub_at_the_pinned_revision(tmp_path: Path) -> None:
    settings = Settings(models_dir=ROOT / "models")
    source = resolve_source("translation", settings)
    manifest = read_manifest(ROOT / "models")
    assert not source.is_local
    assert source.location == "Helsinki-NLP/opus-mt-fr-en"
    assert source.revision == manifest["translation"]["revision"]


@pytest.mark.parametrize(
    ("preset", "translation", "summary"),
    [
        ("fast", "Helsinki-NLP/opus-mt-fr-en", "sshleifer/distilbart-cnn-12-3"),
        ("quality", "Helsinki-NLP/opus-mt-tc-big-fr-en", "facebook/bart-large-cnn"),
    ],
)
def test_a_preset_loads_its_own_pinned_models(preset: str, translation: str, summary: str) -> None:
    settings = Settings(models_dir=ROOT / "models", preset=preset)
    sources = {task: resolve_source(task, settings) for task in ("translation", "summary")}
    assert sources["translation"].location == translation
    assert sources["summary"].location == summary
    for task, source in sources.items():
        assert source.revision == read_manifest(ROOT / "models", preset)[task]["revision"]
        assert len(source.revision) == 40


def test_fetched_folder_wins_over_the_hub(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text((ROOT / "models" / "manifest.json").read_text())
    fetched = tmp_path / "opus-mt-fr-en"
    fetched.mkdir()
    (fetched / "config.json").write_text("{}")
    (fetched / ".depeche-source.json").write_text(
        json.dumps({"id": "Helsinki-NLP/opus-mt-fr-en", "revision": "abc123"})
    )
    source = resolve_source("translation", Settings(models_dir=tmp_path))
    assert source.is_local
    assert source.location == str(fetched)
    assert (source.hub_id, source.revision) == ("Helsinki-NLP/opus-mt-fr-en", "abc123")


def test_other_hub_id_defaults_to_main() -> None:
    settings = Settings(models_dir=ROOT / "models", summary_model="facebook/bart-large-cnn")
    source = resolve_source("summary", settings)
    assert (source.location, source.revision, source.is_local) == (
        "facebook/bart-large-cnn",
        "main",
        False,
    )


def test_loads_a_local_folder(test_models: Path) -> None:
    settings = Settings(translation_model=str(test_models / "translation"))
    engine = load_engine(
        resolve_source("translation", settings), CPU, offline=True, hub_timeout_s=1
    )
    assert engine.info.task == "translation"
    assert engine.info.revision == "local"
    assert engine.max_input_tokens == 128
    assert engine.count_tokens(["Bonjour."])[0] >= 2


def test_missing_folder_names_the_fix(tmp_path: Path) -> None:
    settings = Settings(translation_model=str(tmp_path / "nowhere"))
    with pytest.raises(ModelLoadError, match=r"fetch_models\.py"):
        load_engine(resolve_source("translation", settings), CPU, offline=True, hub_timeout_s=1)


def test_offline_with_a_hub_id_not_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    settings = Settings(models_dir=tmp_path, offline=True)
    started = time.monotonic()
    with pytest.raises(ModelLoadError, match="DEPECHE_OFFLINE=1 forbids downloading"):
        load_engine(resolve_source("translation", settings), CPU, offline=True, hub_timeout_s=1)
    assert time.monotonic() - started < 10


def test_unreachable_hub_fails_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{free_port()}")
    settings = Settings(models_dir=tmp_path)
    started = time.monotonic()
    with pytest.raises(ModelLoadError, match="cannot be reached") as caught:
        load_engine(resolve_source("summary", settings), CPU, offline=False, hub_timeout_s=2)
    assert time.monotonic() - started < 10
    assert "\n" not in str(caught.value)


def test_a_folder_without_a_model_is_explained(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "marian"}')
    settings = Settings(translation_model=str(tmp_path))
    with pytest.raises(ModelLoadError, match="could not be loaded"):
        load_engine(resolve_source("translation", settings), CPU, offline=True, hub_timeout_s=1)
