"""service.presets: each preset's models come from the pinned manifest, the balanced pair is
the manifest's top-level one, and a preset the manifest lacks is a clear error."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from service.presets import DECODING, PRESETS, PresetError, preset_entries
from tests.conftest import ROOT

MANIFEST: dict[str, Any] = json.loads((ROOT / "models" / "manifest.json").read_text("utf-8"))


def test_balanced_is_the_top_level_pair() -> None:
    entries = preset_entries(MANIFEST, "balanced")
    assert entries == {"translation": MANIFEST["translation"], "summary": MANIFEST["summary"]}
    named = MANIFEST["presets"]["balanced"]
    assert MANIFEST["models"][named["translation"]] == MANIFEST["translation"]
    assert MANIFEST["models"][named["summary"]] == MANIFEST["summary"]


@pytest.mark.parametrize(
    ("preset", "translation", "summary"),
    [
        ("fast", "Helsinki-NLP/opus-mt-fr-en", "sshleifer/distilbart-cnn-12-3"),
        ("balanced", "Helsinki-NLP/opus-mt-fr-en", "sshleifer/distilbart-cnn-12-6"),
        ("quality", "Helsinki-NLP/opus-mt-tc-big-fr-en", "facebook/bart-large-cnn"),
    ],
)
def test_each_preset_names_its_pair(preset: str, translation: str, summary: str) -> None:
    entries = preset_entries(MANIFEST, preset)
    assert (entries["translation"]["id"], entries["summary"]["id"]) == (translation, summary)


def test_every_model_is_pinned_to_a_full_commit_with_its_own_folder() -> None:
    folders = set()
    for name, entry in MANIFEST["models"].items():
        assert re.fullmatch(r"[0-9a-f]{40}", entry["revision"]), name
        assert entry["local_dir"] == name
        folders.add(entry["local_dir"])
    assert len(folders) == len(MANIFEST["models"])
    assert set(MANIFEST["presets"]) == set(PRESETS) == set(DECODING)


def test_a_manifest_without_presets_still_serves_balanced() -> None:
    old = {"translation": MANIFEST["translation"], "summary": MANIFEST["summary"]}
    assert preset_entries(old, "balanced")["summary"]["id"] == "sshleifer/distilbart-cnn-12-6"
    with pytest.raises(PresetError, match="no presets"):
        preset_entries(old, "fast")


def test_unknown_presets_and_models_are_clear_errors() -> None:
    with pytest.raises(PresetError, match="unknown preset 'turbo'; choose one of fast"):
        preset_entries(MANIFEST, "turbo")
    broken = {**MANIFEST, "presets": {"fast": {"translation": "nope", "summary": "nope"}}}
    with pytest.raises(PresetError, match="no model 'nope' for translation"):
        preset_entries(broken, "fast")
