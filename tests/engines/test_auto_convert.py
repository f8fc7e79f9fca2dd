"""DEPECHE_ENGINE=auto converts a transformers model to CTranslate2 once and serves the copy.

Every test works on copies of the tiny models in a tmp folder, never in the shared
`.test-models/`. The conversions themselves run in a child process (about 10 s of CPU each),
so the tests that convert are marked slow; the failure paths replace the child's command.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.config import Settings
from service.engines import convert, loader
from service.engines.base import GenerationSettings
from service.engines.ct2 import CT2Seq2SeqEngine, is_converted
from service.engines.loader import ModelLoadError, ModelSource
from service.engines.registry import load_engine, prepare_models
from service.pipeline import Pipeline
from tests.conftest import ROOT

TASKS = ("translation", "summary")


def copy_models(test_models: Path, dest: Path, tasks: tuple[str, ...] = TASKS) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for task in tasks:
        shutil.copytree(test_models / task, dest / task)
    return dest


def auto_settings(models: Path, **values: Any) -> Settings:
    defaults: dict[str, Any] = {
        "translation_model": str(models / "translation"),
        "summary_model": str(models / "summary"),
        "models_dir": models,
        "offline": True,
        "device": "cpu",
        "engine": "auto",
        "cache_size": 0,
        "jobs_db": models / "jobs.sqlite3",
    }
    return Settings(**{**defaults, **values})


def article(pairs: list[tuple[str, str]]) -> tuple[str, list[str]]:
    groups = [pairs[i : i + 3] for i in range(0, len(pairs), 3)]
    return (
        "\n\n".join(" ".join(fr for fr, _ in g) for g in groups),
        [" ".join(en for _, en in g) for g in groups],
    )


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def copies(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith("-ct2-int8"))


def failing_command(message: str) -> Any:
    def command(*_args: Any) -> list[str]:
        return [sys.executable, "-c", f"import sys; sys.exit({message!r})"]

    return command


@pytest.fixture(scope="module")
def auto_models(
    test_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, Pipeline, float]]:
    """Copies of both tiny models, loaded once with auto: converted on the way."""
    models = copy_models(test_models, tmp_path_factory.mktemp("auto"))
    started = time.monotonic()
    pipeline = Pipeline.load(auto_settings(models))
    seconds = time.monotonic() - started
    yield models, pipeline, seconds
    pipeline.close()


# --- converted once, served on CTranslate2 -------------------------------------------------------


@pytest.mark.slow
def test_a_transformers_folder_is_converted_beside_it_and_served_on_ctranslate2(
    auto_models: tuple[Path, Pipeline, float], memorized_pairs: list[tuple[str, str]]
) -> None:
    models, pipeline, _ = auto_models
    assert [m.engine for m in pipeline.models()] == ["ctranslate2 (int8)"] * 2
    assert isinstance(pipeline.translator, CT2Seq2SeqEngine)
    assert pipeline.load_warnings == ()
    for task in TASKS:
        copy = models / f"{task}-ct2-int8"
        assert is_converted(copy)
        assert not is_converted(models / task), "the source is left as it was"
        record = json.loads((copy / ".depeche-source.json").read_text())
        assert record["quantization"] == "int8"
        assert record["source_kind"] == "folder"
        assert record["converted_from"] == str((models / task).resolve())
        assert {"config.json", "generation_config.json"} <= set(record["source_files"])
        assert any(name.endswith(".safetensors") for name in record["source_files"])
        assert convert.staleness(copy, models / task, quantization="int8") is None
    assert leftovers(models) == []
    french, english = article(memorized_pairs)
    result = pipeline.translate(french)
    assert result.translation.paragraphs == english
    assert not any("CTranslate2" in w for w in result.meta.warnings)


@pytest.mark.slow
def test_a_later_start_reuses_the_copy(
    auto_models: tuple[Path, Pipeline, float],
    monkeypatch: pytest.MonkeyPatch,
    memorized_pairs: list[tuple[str, str]],
) -> None:
    models, _, _ = auto_models

    def no_conversion(*_args: Any) -> None:
        raise AssertionError("a fresh copy was converted again")

    monkeypatch.setattr(convert, "run_converter", no_conversion)
    weights = models / "translation-ct2-int8" / "model.bin"
    before = weights.stat().st_mtime_ns
    # Touched but unchanged source weights (a copy, a restore) are hashed, found equal, and
    # their new time recorded: still no conversion, and no hashing at the next start.
    source_weights = next((models / "translation").glob("*.safetensors"))
    os.utime(source_weights, ns=(time.time_ns(), time.time_ns()))
    started = time.monotonic()
    pipeline = Pipeline.load(auto_settings(models))
    seconds = time.monotonic() - started
    try:
        assert [m.engine for m in pipeline.models()] == ["ctranslate2 (int8)"] * 2
        assert pipeline.translate(memorized_pairs[0][0]).translation.paragraphs == [
            memorized_pairs[0][1]
        ]
    finally:
        pipeline.close()
    assert weights.stat().st_mtime_ns == before
    record = json.loads((models / "translation-ct2-int8" / ".depeche-source.json").read_text())
    assert (
        record["source_files"][source_weights.name]["mtime_ns"] == source_weights.stat().st_mtime_ns
    )
    assert seconds < 60


@pytest.mark.slow
def test_a_changed_source_is_converted_again(
    auto_models: tuple[Path, Pipeline, float], tmp_path: Path
) -> None:
    models, _, _ = auto_models
    source, copy = tmp_path / "translation", tmp_path / "translation-ct2-int8"
    shutil.copytree(models / "translation", source)
    shutil.copytree(models / "translation-ct2-int8", copy)
    assert convert.staleness(copy, source, quantization="int8") is None

    generation = json.loads((source / "generation_config.json").read_text())
    generation["max_length"] = int(generation.get("max_length", 512)) - 1
    (source / "generation_config.json").write_text(json.dumps(generation))
    reason = convert.staleness(copy, source, quantization="int8")
    assert reason == "the source's files changed (generation_config.json)"

    done = convert.ensure_converted(source, copy, "int8", timeout_s=300)
    assert (done.converted, done.reason) == (True, reason)
    assert (
        json.loads((copy / "generation_config.json").read_text())["max_length"]
        == (generation["max_length"])
    )
    assert convert.staleness(copy, source, quantization="int8") is None
    assert leftovers(tmp_path) == []

    # A refetched model at another revision is a change too, even with the same files.
    (source / ".depeche-source.json").write_text(json.dumps({"id": "a/b", "revision": "c0ffee"}))
    assert convert.staleness(copy, source) == "the source's revision is now c0ffee"
    assert convert.staleness(copy, source, quantization="float32") == "the copy is int8"


@pytest.mark.slow
def test_two_conversions_at_once_leave_one_whole_copy(
    test_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two converters of one folder at once (threads here; the lock is an flock on its own
    open file, so processes behave the same): one converts, the other waits and reuses it."""
    copy_models(test_models, tmp_path, ("translation",))
    source, out = tmp_path / "translation", tmp_path / "translation-ct2-int8"
    dead = tmp_path / ".translation-ct2-int8.tmp-dead"  # what a killed conversion leaves
    dead.mkdir()
    (dead / "model.bin").write_bytes(b"half")
    runs: list[Path] = []
    real = convert.run_converter

    def counting(*args: Any) -> None:
        runs.append(args[1])
        real(*args)

    monkeypatch.setattr(convert, "run_converter", counting)
    results: list[convert.Conversion] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(convert.ensure_converted(source, out, "int8", timeout_s=300))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(320)
    assert errors == []
    assert len(runs) == 1
    assert sorted(r.converted for r in results) == [False, True]
    assert {r.folder for r in results} == {out}
    assert convert.staleness(out, source, quantization="int8") is None
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_a_hub_id_is_converted_after_its_download(
    auto_models: tuple[Path, Pipeline, float],
    test_models: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    memorized_pairs: list[tuple[str, str]],
) -> None:
    """A hub id goes through the HF cache (a snapshot laid out as huggingface_hub keeps it,
    offline), is converted under DEPECHE_MODELS_DIR, and keeps its id and commit."""
    from huggingface_hub import constants

    models, _, _ = auto_models
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "cache" / "models--depeche-test--tiny-marian"
    shutil.copytree(test_models / "translation", repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    settings = auto_settings(
        tmp_path / "models",
        translation_model="depeche-test/tiny-marian",
        summary_model=str(models / "summary-ct2-int8"),  # converted already
    )
    prepared = prepare_models(settings)
    source = prepared.sources["translation"]
    copy = tmp_path / "models" / "depeche-test--tiny-marian-ct2-int8"
    assert (source.location, source.revision) == (str(copy), commit)
    assert prepared.warnings == ()
    record = json.loads((copy / ".depeche-source.json").read_text())
    assert (record["id"], record["revision"], record["source_kind"]) == (
        "depeche-test/tiny-marian",
        commit,
        "hub",
    )
    engine = load_engine(source, prepared.device, offline=True, hub_timeout_s=1)
    assert (engine.info.id, engine.info.revision) == ("depeche-test/tiny-marian", commit)
    assert engine.info.label == "ctranslate2 (int8)"
    french = [fr for fr, _ in memorized_pairs]
    assert engine.generate(engine.encode(french), GenerationSettings()).texts == [
        en for _, en in memorized_pairs
    ]

    # The next start finds the copy by id and revision, without the cache or the hub.
    shutil.rmtree(tmp_path / "cache")
    assert prepare_models(settings).sources["translation"].location == str(copy)
    other = settings.model_copy(update={"translation_revision": "v2"})
    with pytest.raises(ModelLoadError, match="DEPECHE_OFFLINE=1 forbids downloading"):
        prepare_models(other)  # another revision is another model: not in the cache


# --- failures: transformers instead, said everywhere -----------------------------------------


def test_a_failing_conversion_serves_transformers_and_says_so(
    test_models: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    memorized_pairs: list[tuple[str, str]],
) -> None:
    models = copy_models(test_models, tmp_path / "models")
    monkeypatch.setattr(convert, "converter_command", failing_command("error: no space left"))
    caplog.set_level(logging.WARNING, logger="service.engines.loader")
    app = create_app(auto_settings(models))
    with TestClient(app) as client:
        app.state.depeche.wait_loaded(120)
        health = client.get("/health").json()
        ready = client.get("/ready")
        answer = client.post("/translate", json={"text": memorized_pairs[0][0]})
    expected = [
        f"The {task} model could not be converted to CTranslate2 (no space left): it runs on "
        "transformers instead, which is slower."
        for task in TASKS
    ]
    assert health["load_error"] is None
    assert health["load_warnings"] == expected
    assert ready.status_code == 200
    assert [m["engine"] for m in ready.json()["models"]] == ["transformers (float32)"] * 2
    assert answer.status_code == 200, answer.text
    assert answer.json()["translation"]["paragraphs"] == [memorized_pairs[0][1]]
    assert expected[0] in answer.json()["meta"]["warnings"]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == expected
    assert copies(models) == [], "no copy, not even half of one"
    assert leftovers(models) == []


def test_a_hanging_conversion_is_stopped_at_its_deadline(
    test_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = copy_models(test_models, tmp_path / "models")
    monkeypatch.setattr(
        convert,
        "converter_command",
        lambda *_args: [sys.executable, "-c", "import time; time.sleep(60)"],
    )
    started = time.monotonic()
    prepared = prepare_models(auto_settings(models, convert_timeout_s=1))
    assert time.monotonic() - started < 30
    assert [prepared.sources[task].location for task in TASKS] == [
        str(models / task) for task in TASKS
    ]
    assert all("took over 1 s and was stopped" in w for w in prepared.warnings)
    assert len(prepared.warnings) == 2
    assert leftovers(models) == []


@pytest.mark.slow
def test_a_converter_crash_names_its_last_line(tmp_path: Path, test_models: Path) -> None:
    copy_models(test_models, tmp_path, ("translation",))
    (tmp_path / "translation" / "config.json").write_text('{"model_type": "no-such-model"}')
    with pytest.raises(convert.ConvertError) as caught:
        convert.ensure_converted(tmp_path / "translation", tmp_path / "out", "int8", timeout_s=120)
    assert "\n" not in str(caught.value)
    assert str(caught.value)
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


# --- what auto leaves alone ------------------------------------------------------------------


def test_transformers_and_ctranslate2_settings_convert_nothing(
    test_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = copy_models(test_models, tmp_path / "models")
    monkeypatch.setattr(convert, "converter_command", failing_command("must not run"))
    for engine in ("transformers", "ctranslate2"):
        prepared = prepare_models(auto_settings(models, engine=engine))
        assert prepared.warnings == ()
        assert prepared.sources["translation"].location == str(models / "translation")
    with pytest.raises(ModelLoadError, match=r"convert_models\.py"):
        Pipeline.load(auto_settings(models, engine="ctranslate2"))
    assert copies(models) == []


def test_a_precision_ctranslate2_cannot_run_keeps_transformers(
    test_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bfloat16 on the CPU: CTranslate2 has no such kernels there, transformers has; auto asked
    for nothing CTranslate2 can give, so no conversion and no warning."""
    models = copy_models(test_models, tmp_path / "models")
    monkeypatch.setattr(convert, "converter_command", failing_command("must not run"))
    prepared = prepare_models(auto_settings(models, precision="bfloat16"))
    assert prepared.warnings == ()
    assert prepared.sources["summary"].location == str(models / "summary")


def test_a_read_only_model_folder_is_copied_under_the_models_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "readonly" / "my-marian"
    source.mkdir(parents=True)
    settings = Settings(models_dir=tmp_path / "models")
    assert loader._copy_location(source, "int8", settings) == tmp_path / "readonly" / (
        "my-marian-ct2-int8"
    )
    monkeypatch.setattr(loader.os, "access", lambda *_args: False)
    elsewhere = loader._copy_location(source, "int8", settings)
    assert elsewhere.parent == tmp_path / "models"
    assert elsewhere.name.startswith("my-marian-")
    assert elsewhere.name.endswith("-ct2-int8")
    other = loader._copy_location(tmp_path / "other" / "my-marian", "int8", settings)
    assert other != elsewhere, "two folders of one name do not share a copy"


def test_a_copy_of_another_hub_revision_is_not_taken_for_the_manifest_model(
    tmp_path: Path,
) -> None:
    (tmp_path / "manifest.json").write_text((ROOT / "models" / "manifest.json").read_text())
    copy = tmp_path / "opus-mt-fr-en-ct2-int8"
    copy.mkdir()
    (copy / "model.bin").write_bytes(b"")
    record = {"id": "Helsinki-NLP/opus-mt-fr-en", "revision": "old", "source_kind": "hub"}
    (copy / ".depeche-source.json").write_text(json.dumps({**record, "requested_revision": "old"}))
    settings = Settings(models_dir=tmp_path)
    source = loader.resolve_source("translation", settings)
    assert not source.is_local, "a copy of another revision: the pinned one comes from the hub"
    pinned = loader.read_manifest(tmp_path)["translation"]["revision"]
    (copy / ".depeche-source.json").write_text(
        json.dumps({**record, "revision": pinned, "requested_revision": pinned})
    )
    assert loader.resolve_source("translation", settings) == ModelSource(
        "translation", str(copy), pinned, True, "Helsinki-NLP/opus-mt-fr-en"
    )
