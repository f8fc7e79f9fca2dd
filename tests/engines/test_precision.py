"""Precision choice is a pure function of engine, device and setting; transformers applies it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from service.config import Precision
from service.device import DeviceChoice, EngineName, PrecisionUnavailableError
from service.engines.base import GenerationSettings
from service.engines.loader import ModelLoadError, ModelSource
from service.engines.registry import load_engine, resolve_precision

CPU = DeviceChoice("cpu", "float32")


@pytest.mark.parametrize(
    ("engine", "device", "expected"),
    [
        ("transformers", "cpu", "float32"),
        ("transformers", "cuda", "float16"),
        ("transformers", "mps", "float32"),
        ("ctranslate2", "cpu", "int8"),
        ("ctranslate2", "cuda", "float16"),
    ],
)
def test_auto_precision_per_engine_and_device(
    engine: EngineName, device: str, expected: str
) -> None:
    assert resolve_precision(engine, device, "auto") == expected


@pytest.mark.parametrize(
    ("engine", "device", "precision"),
    [
        ("transformers", "cpu", "float32"),
        ("transformers", "cpu", "bfloat16"),
        ("transformers", "cpu", "int8"),
        ("transformers", "cuda", "float16"),
        ("transformers", "cuda", "bfloat16"),
        ("ctranslate2", "cpu", "float32"),
        ("ctranslate2", "cpu", "int8"),
        ("ctranslate2", "cuda", "int8_float16"),
        ("ctranslate2", "cuda", "bfloat16"),
        ("ctranslate2", "cuda", "int8"),
    ],
)
def test_possible_combinations_are_kept(
    engine: EngineName, device: str, precision: Precision
) -> None:
    assert resolve_precision(engine, device, precision) == precision


@pytest.mark.parametrize(
    ("engine", "device", "precision", "reason"),
    [
        ("transformers", "cpu", "float16", "float16 needs CUDA"),
        ("transformers", "cpu", "int8_float16", "CTranslate2 compute type"),
        ("transformers", "cuda", "int8_float16", "CTranslate2 compute type"),
        ("transformers", "cuda", "int8", "CPU only"),
        ("transformers", "mps", "bfloat16", "needs CUDA"),
        ("ctranslate2", "cpu", "bfloat16", "no 16-bit kernels on the CPU"),
        ("ctranslate2", "cpu", "float16", "no 16-bit kernels on the CPU"),
        ("ctranslate2", "cpu", "int8_float16", "no 16-bit kernels on the CPU"),
    ],
)
def test_impossible_combinations_are_refused_in_one_sentence(
    engine: EngineName, device: str, precision: Precision, reason: str
) -> None:
    with pytest.raises(PrecisionUnavailableError) as caught:
        resolve_precision(engine, device, precision)
    message = str(caught.value)
    assert message.startswith(f"DEPECHE_PRECISION={precision} is not available")
    assert reason in message
    assert "\n" not in message
    assert isinstance(caught.value, ValueError)


def test_ctranslate2_has_no_mps() -> None:
    with pytest.raises(PrecisionUnavailableError, match="DEPECHE_ENGINE=ctranslate2"):
        resolve_precision("ctranslate2", "mps", "auto")


@pytest.mark.parametrize(("precision", "dtype"), [("bfloat16", torch.bfloat16), ("int8", None)])
def test_transformers_cpu_precisions_keep_the_memorized_pairs(
    test_models: Path,
    memorized_pairs: list[tuple[str, str]],
    precision: Precision,
    dtype: torch.dtype | None,
) -> None:
    engine = load_engine(
        ModelSource("translation", str(test_models / "translation"), "local", True, None),
        CPU,
        offline=True,
        hub_timeout_s=1,
        engine="auto",
        precision=precision,
    )
    assert engine.info.label == f"transformers ({precision})"
    model = engine.model  # type: ignore[attr-defined]
    if dtype is not None:
        assert model.dtype == dtype
    else:  # every Linear replaced by a dynamically quantized one
        assert not any(type(m) is torch.nn.Linear for m in model.modules())
    french = [fr for fr, _ in memorized_pairs]
    assert engine.generate(engine.encode(french), GenerationSettings()).texts == [
        en for _, en in memorized_pairs
    ]
    engine.check()


@pytest.mark.parametrize("precision", ["float16", "int8_float16"])
def test_transformers_refusals_are_load_errors(test_models: Path, precision: Precision) -> None:
    with pytest.raises(ModelLoadError, match=f"DEPECHE_PRECISION={precision}"):
        load_engine(
            ModelSource("translation", str(test_models / "translation"), "local", True, None),
            CPU,
            offline=True,
            hub_timeout_s=1,
            engine="transformers",
            precision=precision,
        )
