"""Device and thread layout choice are pure functions: CUDA and core counts are faked here only,
by passing them in."""

from __future__ import annotations

import pytest
import torch

from service.device import (
    DeviceUnavailableError,
    EngineName,
    ModelTask,
    ThreadLayout,
    choose_prober,
    detect_device,
    resolve_device,
    resolve_threads,
)


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
