"""Presets (`DEPECHE_PRESET`): a pair of models and their decoding, picked together.

The models of each preset are named in `models/manifest.json` (`presets`, `models`), where
they are pinned; the decoding lives here. `Settings` fills every decoding setting the user
left unset from its preset, so an explicit setting always wins. Pure data: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

PresetName = Literal["fast", "balanced", "quality"]
PRESETS: tuple[str, ...] = get_args(PresetName)
DEFAULT_PRESET: PresetName = "balanced"
TASKS = ("translation", "summary")


@dataclass(frozen=True)
class PresetDecoding:
    """The decoding settings a preset gives (None: the model's own generation config)."""

    summary_num_beams: int | None
    summary_min_length: int | None
    summary_max_length: int | None
    translation_num_beams: int | None = None


SUMMARY_MIN_LENGTH = 56
"""distilbart-cnn's and bart-large-cnn's own `min_length` (their generation config)."""
SUMMARY_MAX_LENGTH = 128
"""Room for the most key points a request can ask for (6) rather than the models' 142: CNN/
DailyMail summaries, which these models were trained to write, average 56 words in 3.75
sentences (See et al., 2017), about 15 words or 20 BPE tokens a sentence; 6 sentences are
about 120 tokens, plus the start and end tokens that `max_length` counts. See the README."""

DECODING: dict[str, PresetDecoding] = {
    # distilbart-cnn-12-3: 2 beams, like balanced (its card's figures are at the model's 4).
    "fast": PresetDecoding(2, SUMMARY_MIN_LENGTH, SUMMARY_MAX_LENGTH),
    # distilbart-cnn-12-6 at 2 beams: its author found ROUGE-2 unchanged against 4.
    "balanced": PresetDecoding(2, SUMMARY_MIN_LENGTH, SUMMARY_MAX_LENGTH),
    # bart-large-cnn at its published configuration, 4 beams.
    "quality": PresetDecoding(4, SUMMARY_MIN_LENGTH, SUMMARY_MAX_LENGTH),
}
"""Translation beams stay the model's own (4 for opus-mt) in every preset: its BLEU is
published at 4."""


class PresetError(ValueError):
    """A preset the manifest does not describe."""


def preset_entries(manifest: Mapping[str, Any], preset: str) -> dict[str, dict[str, str]]:
    """The `translation` and `summary` entries (`id`, `revision`, `local_dir`) of `preset` in
    a manifest's data. A manifest without `presets` (older ones) has only the top-level
    entries, which are the balanced pair; `balanced` always reads them."""
    if preset not in PRESETS:
        raise PresetError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    presets = manifest.get("presets")
    if preset == DEFAULT_PRESET or not isinstance(presets, Mapping):
        if preset != DEFAULT_PRESET:
            raise PresetError(f"the manifest describes no presets, so not {preset!r}")
        return {task: dict(manifest[task]) for task in TASKS}
    chosen = presets.get(preset)
    models = manifest.get("models")
    if not isinstance(chosen, Mapping) or not isinstance(models, Mapping):
        raise PresetError(f"the manifest does not describe the preset {preset!r}")
    entries: dict[str, dict[str, str]] = {}
    for task in TASKS:
        name = chosen.get(task)
        entry = models.get(name) if isinstance(name, str) else None
        if not isinstance(entry, Mapping):
            raise PresetError(f"preset {preset!r}: no model {name!r} for {task} in the manifest")
        entries[task] = dict(entry)
    return entries
