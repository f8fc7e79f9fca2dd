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
