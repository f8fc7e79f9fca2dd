"""Device choice is a pure function: CUDA is faked here only, by passing availability in."""

from __future__ import annotations

import pytest
import torch

from service.device import DeviceUnavailableError, detect_device, resolve_device


def test_auto_takes_cuda_in_half_precision_when_present() -> None:
    choice = resolve_device("auto", cuda_available=True, mps_available=False)
    assert (choice.device, choice.dtype) == ("cuda", torch.float16)
    assert choice.label == "cuda (float16)"


def test_auto_falls_back_to_cpu_float32() -> None:
    choice = resolve_device("auto", cuda_available=False, mps_available=True)
    assert (choice.device, choice.dtype) == ("cpu", torch.float32)


def test_cuda_request_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(DeviceUnavailableError, match="DEPECHE_DEVICE=cuda"):
        resolve_device("cuda", cuda_available=False, mps_available=False)


def test_explicit_devices() -> None:
    assert resolve_device("cpu", cuda_available=True, mps_available=True).device == "cpu"
    assert resolve_device("cuda", cuda_available=True, mps_available=False).dtype == torch.float16
    assert resolve_device("mps", cuda_available=False, mps_available=True).device == "mps"
    with pytest.raises(DeviceUnavailableError, match="mps"):
        resolve_device("mps", cuda_available=False, mps_available=False)


def test_detect_on_this_machine_matches_torch() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert detect_device("auto").device == expected
