"""The registry: each backend's thread policy and precision table reached by engine name, and
one choice of engine per model. Core counts are faked by passing them in."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import Settings
from service.device import EngineName, ModelTask, ThreadLayout
from service.engines import ct2_backend, hf_backend, registry
from service.engines.loader import ModelSource
from service.engines.registry import BACKENDS, choose_engine, resolve_precision, resolve_threads


@pytest.mark.parametrize(
    ("task", "engine", "device", "cores", "inter", "intra", "expected"),
    [
        # Nothing set, CTranslate2 on the CPU: translation in parallel, summaries two at once.
        ("translation", "ctranslate2", "cpu", 2, None, None, (2, 1)),
        ("summary", "ctranslate2", "cpu", 2, None, None, (2, 1)),
        ("translation", "ctranslate2", "cpu", 16, None, None, (16, 1)),
        ("summary", "ctranslate2", "cpu", 16, None, None, (2, 8)),
        ("translation", "ctranslate2", "cpu", 1, None, None, (1, 1)),
        ("summary", "ctranslate2", "cpu", 0, None, None, (1, 1)),
        # Both set: taken as they are, for either model.
        ("translation", "ctranslate2", "cpu", 2, 1, 2, (1, 2)),
        ("summary", "ctranslate2", "cpu", 2, 2, 1, (2, 1)),
        ("translation", "ctranslate2", "cpu", 2, 4, 4, (4, 4)),
        # One set: the other fills the cores.
        ("translation", "ctranslate2", "cpu", 8, None, 2, (4, 2)),
        ("translation", "ctranslate2", "cpu", 2, None, 2, (1, 2)),
        ("translation", "ctranslate2", "cpu", 2, None, 4, (1, 4)),
        ("summary", "ctranslate2", "cpu", 8, None, 2, (1, 2)),
        ("translation", "ctranslate2", "cpu", 8, 2, None, (2, 4)),
        ("summary", "ctranslate2", "cpu", 8, 4, None, (4, 2)),
        ("summary", "ctranslate2", "cpu", 2, 4, None, (4, 1)),
        # CTranslate2 on CUDA: one call at a time unless set; intra = cores (CPU-side work).
        ("translation", "ctranslate2", "cuda", 8, None, None, (1, 8)),
        ("summary", "ctranslate2", "cuda", 8, 2, None, (2, 8)),
        # transformers: one call at a time per model (its lock), torch threads = setting or cores.
        ("translation", "transformers", "cpu", 2, None, None, (1, 2)),
        ("summary", "transformers", "cpu", 2, None, None, (1, 2)),
        ("translation", "transformers", "cpu", 8, 4, 3, (1, 3)),
        ("summary", "transformers", "cuda", 8, None, None, (1, 8)),
    ],
)
def test_thread_layout(
    task: ModelTask,
    engine: EngineName,
    device: str,
    cores: int,
    inter: int | None,
    intra: int | None,
    expected: tuple[int, int],
) -> None:
    layout = resolve_threads(task, engine, device, cores, inter=inter, intra=intra)
    assert layout == ThreadLayout(*expected)


def test_every_backend_is_registered_under_its_own_name() -> None:
    assert BACKENDS == {"ctranslate2": ct2_backend.BACKEND, "transformers": hf_backend.BACKEND}
    assert all(name == backend.name for name, backend in BACKENDS.items())


def test_auto_falls_back_to_transformers_for_anything_not_converted() -> None:
    hub = ModelSource("summary", "sshleifer/distilbart-cnn-12-6", "main", False, None)
    assert choose_engine("auto", hub) == "transformers"
    assert choose_engine("ctranslate2", hub) == "ctranslate2"


def test_precision_comes_from_the_backends_table() -> None:
    assert resolve_precision("ctranslate2", "cpu", "auto") == "int8"
    assert resolve_precision("transformers", "cuda", "auto") == "float16"


def test_load_models_loads_the_summarizer_first_and_trims_after_each(
    ct2_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The larger model first, what its load freed handed back before the next is placed
    (LOAD_ORDER): CTranslate2's packing doubles a model's matrices while it loads."""
    steps: list[str] = []
    monkeypatch.setattr(registry, "give_back_freed_memory", lambda: steps.append("trim") or True)
    settings = Settings(
        translation_model=str(ct2_models / "translation"),
        summary_model=str(ct2_models / "summary"),
        offline=True,
        device="cpu",
        engine="ctranslate2",
        cache_size=0,
    )
    models = registry.load_models(
        settings, on_loaded=lambda task, engine: steps.append(f"{task}:{engine.info.task}")
    )
    assert registry.LOAD_ORDER == ("summary", "translation")
    assert steps == ["trim", "summary:summary", "trim", "translation:translation"]
    # LoadedModels keeps its fields by task, whatever the order of loading.
    assert models.translator.info.task == "translation"
    assert models.summarizer.info.task == "summary"
