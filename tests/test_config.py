"""Settings read DEPECHE_* variables, validate them and document every field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.config import Settings
from service.device import DeviceChoice
from service.pipeline import Pipeline, requested_threads
from tests.fakes import RecordingEngine


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEPECHE_DEVICE", "DEPECHE_MAX_CHARS", "DEPECHE_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.device == "auto"
    assert settings.max_chars == 100_000
    assert settings.offline is False
    assert settings.default_max_points == 5


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPECHE_TRANSLATION_MODEL", "/srv/models/marian")
    monkeypatch.setenv("DEPECHE_OFFLINE", "1")
    monkeypatch.setenv("DEPECHE_DEVICE", "cpu")
    monkeypatch.setenv("DEPECHE_MODELS_DIR", "/srv/models")
    settings = Settings()
    assert settings.translation_model == "/srv/models/marian"
    assert settings.offline is True
    assert settings.models_dir == Path("/srv/models")


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPECHE_DEVICE", "tpu")
    with pytest.raises(ValidationError):
        Settings()


def test_every_field_is_documented() -> None:
    source = Path(Settings.__module__.replace(".", "/") + ".py")
    text = (Path(__file__).resolve().parent.parent / source).read_text(encoding="utf-8")
    for name in Settings.model_fields:
        block = text.split(f"    {name}:", 1)[1].split("\n", 2)
        assert block[1].strip().startswith('"""'), f"setting {name} has no docstring"


def test_readme_lists_every_setting() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"`DEPECHE_{name.upper()}`" in readme, f"README settings table lacks {name}"


def test_summary_beams_default_to_two_and_zero_means_the_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DEPECHE_SUMMARY_NUM_BEAMS", raising=False)
    assert Settings().summary_num_beams == 2
    engine = RecordingEngine(window=64)
    pipeline = Pipeline(
        engine, engine, DeviceChoice("cpu", "float32"), Settings(summary_num_beams=0)
    )
    assert pipeline.summary_settings.num_beams is None
    pipeline.close()


def test_thread_settings_are_unset_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for model in ("", "TRANSLATION_", "SUMMARY_"):
        for kind in ("INTER", "INTRA"):
            monkeypatch.delenv(f"DEPECHE_{model}{kind}_THREADS", raising=False)
    settings = Settings()
    assert requested_threads(settings, "translation") == (None, None)
    assert requested_threads(settings, "summary") == (None, None)


def test_per_model_thread_settings_win_over_the_shared_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEPECHE_INTER_THREADS", "3")
    monkeypatch.setenv("DEPECHE_INTRA_THREADS", "2")
    monkeypatch.setenv("DEPECHE_TRANSLATION_INTRA_THREADS", "1")
    monkeypatch.setenv("DEPECHE_SUMMARY_INTER_THREADS", "1")
    monkeypatch.delenv("DEPECHE_TRANSLATION_INTER_THREADS", raising=False)
    monkeypatch.delenv("DEPECHE_SUMMARY_INTRA_THREADS", raising=False)
    settings = Settings()
    assert requested_threads(settings, "translation") == (3, 1)
    assert requested_threads(settings, "summary") == (1, 2)
    monkeypatch.setenv("DEPECHE_SUMMARY_INTER_THREADS", "0")
    with pytest.raises(ValidationError):
        Settings()


def _clear_decoding_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "PRESET",
        "SUMMARY_MODEL",
        "SUMMARY_NUM_BEAMS",
        "SUMMARY_MAX_LENGTH",
        "SUMMARY_MIN_LENGTH",
        "TRANSLATION_NUM_BEAMS",
    ):
        monkeypatch.delenv(f"DEPECHE_{name}", raising=False)


@pytest.mark.parametrize(("preset", "beams"), [("fast", 2), ("balanced", 2), ("quality", 4)])
def test_a_preset_picks_the_decoding(
    monkeypatch: pytest.MonkeyPatch, preset: str, beams: int
) -> None:
    _clear_decoding_env(monkeypatch)
    monkeypatch.setenv("DEPECHE_PRESET", preset)
    settings = Settings()
    assert settings.preset == preset
    assert settings.summary_num_beams == beams
    # Room for 6 key points rather than the models' 142 tokens; their own minimum of 56.
    assert (settings.summary_min_length, settings.summary_max_length) == (56, 128)
    assert settings.translation_num_beams is None, "opus-mt's BLEU is published at its own 4"


def test_the_default_preset_is_balanced(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_decoding_env(monkeypatch)
    settings = Settings()
    assert settings.preset == "balanced"
    assert settings.summary_num_beams == 2


def test_an_explicit_setting_overrides_the_preset(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_decoding_env(monkeypatch)
    monkeypatch.setenv("DEPECHE_PRESET", "quality")
    monkeypatch.setenv("DEPECHE_SUMMARY_NUM_BEAMS", "3")
    monkeypatch.setenv("DEPECHE_SUMMARY_MAX_LENGTH", "100")
    settings = Settings(translation_num_beams=2)
    assert settings.summary_num_beams == 3
    assert settings.summary_max_length == 100
    assert settings.summary_min_length == 56, "what is not set still comes from the preset"
    assert settings.translation_num_beams == 2
    assert Settings(summary_num_beams=0).summary_num_beams == 0, "0 still means the model's"


def test_a_summary_model_of_ones_own_keeps_its_own_lengths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The preset's length bounds were chosen for its own summarizer."""
    _clear_decoding_env(monkeypatch)
    settings = Settings(summary_model="/srv/models/my-bart")
    assert (settings.summary_min_length, settings.summary_max_length) == (None, None)
    assert settings.summary_num_beams == 2
    assert Settings(summary_model="x", summary_max_length=90).summary_max_length == 90


def test_an_unknown_preset_is_refused_with_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_decoding_env(monkeypatch)
    monkeypatch.setenv("DEPECHE_PRESET", "turbo")
    with pytest.raises(ValidationError, match="'fast', 'balanced' or 'quality'"):
        Settings()
