"""Device choice is a pure function: CUDA is faked here only, by passing it in. (Thread layouts:
tests/engines/test_registry.py.)"""

from __future__ import annotations

import pytest
import torch

from service.device import (
    DeviceUnavailableError,
    choose_prober,
    resolve_device,
)
from service.engines.registry import detect_device


def test_auto_takes_cuda_in_half_precision_when_present() -> None:
    choice = resolve_device("auto", cuda_available=True, mps_available=False)
    assert (choice.device, choice.dtype) == ("cuda", "float16")
    assert choice.label == "cuda (float16)"


def test_auto_falls_back_to_cpu_float32() -> None:
    choice = resolve_device("auto", cuda_available=False, mps_available=True)
    assert (choice.device, choice.dtype) == ("cpu", "float32")


def test_cuda_request_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(DeviceUnavailableError, match="DEPECHE_DEVICE=cuda"):
        resolve_device("cuda", cuda_available=False, mps_available=False)


def test_explicit_devices() -> None:
    assert resolve_device("cpu", cuda_available=True, mps_available=True).device == "cpu"
    assert resolve_device("cuda", cuda_available=True, mps_available=False).dtype == "float16"
    assert resolve_device("mps", cuda_available=False, mps_available=True).device == "mps"
    with pytest.raises(DeviceUnavailableError, match="mps"):
        resolve_device("mps", cuda_available=False, mps_available=False)


def test_detect_on_this_machine_matches_torch() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert detect_device("auto").device == expected


def test_cuda_missing_names_the_library_that_looked() -> None:
    with pytest.raises(DeviceUnavailableError, match="visible to CTranslate2"):
        resolve_device("cuda", cuda_available=False, mps_available=False, probed_by="ctranslate2")


def test_detect_without_torch_asks_ctranslate2_the_same_question() -> None:
    assert detect_device("auto", torch_needed=False).device == detect_device("auto").device
    assert detect_device("cpu", torch_needed=False).label == "cpu (float32)"


@pytest.mark.parametrize(
    ("needed", "loaded", "ct2", "expected"),
    [
        (False, False, True, "ctranslate2"),  # both models on CTranslate2: torch stays out
        (True, False, True, "torch"),  # a transformers model will import it anyway
        (False, True, True, "torch"),  # already imported: the usual probe
        (False, False, False, "torch"),  # nothing else to ask
    ],
)
def test_prober_is_ctranslate2_only_when_torch_would_be_loaded_for_nothing(
    needed: bool, loaded: bool, ct2: bool, expected: str
) -> None:
    assert choose_prober(torch_needed=needed, torch_loaded=loaded, ctranslate2_installed=ct2) == (
        expected
    )
