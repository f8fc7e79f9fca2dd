"""Device, dtype, precision and thread layout choice: pure functions, plus the probes that feed
them from the machine (torch when it is loaded anyway, else CTranslate2).

Nothing here imports torch at module level: a service whose two models run on CTranslate2
never loads it (see `detect_device`).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from typing import Literal

from service.config import DeviceName, Precision

EngineName = Literal["transformers", "ctranslate2"]
"""An inference engine, once `DEPECHE_ENGINE=auto` has been decided for a model folder."""

ResolvedPrecision = Literal["float32", "bfloat16", "int8", "float16", "int8_float16"]
"""A precision once `DEPECHE_PRECISION=auto` has been decided for an engine and a device."""

ModelTask = Literal["translation", "summary"]

Prober = Literal["torch", "ctranslate2"]
"""What answered whether CUDA and MPS are present."""


class DeviceUnavailableError(RuntimeError):
    """The requested device does not exist on this machine."""


@dataclass(frozen=True)
class DeviceChoice:
    """Where the models run and in which precision."""

    device: str
    dtype: str
    """The default dtype on that device, as torch names it without `torch.` (`float16`); in
    `Pipeline.device`, the precision the loaded models run in (`int8`, or one per model)."""

    @property
    def label(self) -> str:
        """Short human form, e.g. `cuda (float16)`, used in /health and in every response."""
        return f"{self.device} ({self.dtype})"


_CUDA_MISSING: dict[Prober, str] = {
    "torch": "no CUDA device is visible to torch: install a CUDA build of torch and the NVIDIA "
    "driver",
    "ctranslate2": "no CUDA device is visible to CTranslate2 (both models run on it): install "
    "the NVIDIA driver and the CUDA libraries CTranslate2 needs",
}


def resolve_device(
    requested: DeviceName,
    *,
    cuda_available: bool,
    mps_available: bool,
    probed_by: Prober = "torch",
) -> DeviceChoice:
    """Pick the device: auto means CUDA in half precision when present, else CPU in float32."""
    if requested == "auto":
        if cuda_available:
            return DeviceChoice("cuda", "float16")
        return DeviceChoice("cpu", "float32")
    if requested == "cuda":
        if not cuda_available:
            raise DeviceUnavailableError(
                f"DEPECHE_DEVICE=cuda but {_CUDA_MISSING[probed_by]}, or set DEPECHE_DEVICE=auto "
                "or cpu."
            )
        return DeviceChoice("cuda", "float16")
    if requested == "mps":
        if not mps_available:
            raise DeviceUnavailableError(
                "DEPECHE_DEVICE=mps but Apple's Metal backend is not available on this machine: "
                "set DEPECHE_DEVICE=auto or cpu."
            )
        # MPS half precision is unreliable for beam search; float32 is the safe default there.
        return DeviceChoice("mps", "float32")
    return DeviceChoice("cpu", "float32")


def choose_prober(*, torch_needed: bool, torch_loaded: bool, ctranslate2_installed: bool) -> Prober:
    """Who to ask about CUDA: torch when a model needs it (or it is loaded anyway, or there is
    nothing else), else CTranslate2, so that a CTranslate2-only process never imports torch."""
    if torch_needed or torch_loaded or not ctranslate2_installed:
        return "torch"
    return "ctranslate2"


def detect_device(requested: DeviceName, *, torch_needed: bool = True) -> DeviceChoice:
    """Ask the machine what it has and resolve the requested device against it.

    `torch_needed=False` (both models on CTranslate2): CTranslate2 answers for CUDA and torch is
    not imported; MPS, which CTranslate2 cannot use, is then asked of torch only when requested.
    """
    if requested == "cpu":
        return resolve_device("cpu", cuda_available=False, mps_available=False)
    prober = choose_prober(
        torch_needed=torch_needed or requested == "mps",
        torch_loaded="torch" in sys.modules,
        ctranslate2_installed=importlib.util.find_spec("ctranslate2") is not None,
    )
    if prober == "ctranslate2":
        import ctranslate2  # type: ignore[import-untyped]

        cuda = int(ctranslate2.get_cuda_device_count()) > 0
        return resolve_device(requested, cuda_available=cuda, mps_available=False, probed_by=prober)
    import torch

    mps = getattr(torch.backends, "mps", None)
    return resolve_device(
        requested,
        cuda_available=torch.cuda.is_available(),
        mps_available=bool(mps is not None and mps.is_available()),
    )


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class ThreadLayout:
    """How one model uses the CPU: `inter` calls at once, each on `intra` threads."""

    inter: int
    """Model calls that run in parallel (CTranslate2 `inter_threads`, the scheduler's workers)."""
    intra: int
    """Threads inside one call (CTranslate2 `intra_threads`, torch's intra-op threads)."""


SUMMARY_CALLS = 2
"""Summaries CTranslate2 runs at once on the CPU by default. On 2 AVX2 cores, 2 x 1 beat 1 x 2
both for one article (7.4 s against 8.0 s) and at 16 clients (13.3 against 11.4 articles/min):
a second thread barely speeds one int8 call up (docs/benchmarks/cpu-2026-11-28-summary-2x1.md).
On more cores each call keeps cores // 2 threads, so one article stays fast."""


def resolve_threads(
    task: ModelTask,
    engine: EngineName,
    device: str,
    cores: int,
    *,
    inter: int | None = None,
    intra: int | None = None,
) -> ThreadLayout:
    """The thread layout of one model. `inter` / `intra` are what the settings ask for that
    model (None: derive it); `cores` is what this process may use.

    CTranslate2 on the CPU, nothing set: the translation model runs `cores` one-thread calls
    at once (an article is many short sentence batches, which parallelize better than they
    thread), the summary model SUMMARY_CALLS calls on cores // SUMMARY_CALLS threads each (one
    long input per article, but concurrent articles overlap). When only one of the two is
    set, the other fills the cores: inter = cores // intra for translation (1 for the
    summary), intra = cores // inter.

    CTranslate2 on CUDA: one call at a time unless set, intra = cores (CPU-side threads).

    transformers: one call at a time, always (its model lock serializes calls, so parallel
    calls gain nothing); intra = the setting, else cores (torch's intra-op threads).
    """
    cores = max(1, cores)
    if engine == "transformers":
        return ThreadLayout(1, intra or cores)
    if device != "cpu":
        return ThreadLayout(inter or 1, intra or cores)
    if inter is not None and intra is not None:
        return ThreadLayout(inter, intra)
    if inter is not None:
        return ThreadLayout(inter, max(1, cores // inter))
    if intra is not None:
        return ThreadLayout(max(1, cores // intra) if task == "translation" else 1, intra)
    if task == "translation":
        return ThreadLayout(cores, 1)
    calls = min(SUMMARY_CALLS, cores)
    return ThreadLayout(calls, max(1, cores // calls))


class PrecisionUnavailableError(ValueError):
    """The requested precision cannot run with this engine on this device."""


# What each engine can do on each device. CTranslate2 has no bfloat16, float16 or int8_float16
# kernels on the CPU; transformers runs float16 on CUDA only (the CPU has no fast half kernels),
# int8 through torch's dynamic quantization, which is CPU-only, and never int8_float16.
_SUPPORTED: dict[tuple[EngineName, str], tuple[ResolvedPrecision, ...]] = {
    ("transformers", "cpu"): ("float32", "bfloat16", "int8"),
    ("transformers", "cuda"): ("float32", "bfloat16", "float16"),
    ("transformers", "mps"): ("float32",),
    ("ctranslate2", "cpu"): ("float32", "int8"),
    ("ctranslate2", "cuda"): ("float32", "bfloat16", "float16", "int8", "int8_float16"),
}

_AUTO: dict[tuple[EngineName, str], ResolvedPrecision] = {
    ("transformers", "cpu"): "float32",
    ("transformers", "cuda"): "float16",
    ("transformers", "mps"): "float32",
    ("ctranslate2", "cpu"): "int8",
    ("ctranslate2", "cuda"): "float16",
}


def resolve_precision(engine: EngineName, device: str, requested: Precision) -> ResolvedPrecision:
    """Decide the precision of one engine on one device; refuse combinations that cannot run.

    auto: transformers in float32 on CPU (and MPS) and float16 on CUDA; CTranslate2 in int8 on
    CPU and float16 on CUDA.
    """
    supported = _SUPPORTED.get((engine, device))
    if supported is None:
        raise PrecisionUnavailableError(
            f"DEPECHE_ENGINE={engine} cannot run on {device}: CTranslate2 supports cpu and cuda "
            "only; set DEPECHE_DEVICE=cpu or cuda, or DEPECHE_ENGINE=transformers."
        )
    if requested == "auto":
        return _AUTO[(engine, device)]
    if requested not in supported:
        raise PrecisionUnavailableError(
            f"DEPECHE_PRECISION={requested} is not available with the {engine} engine on "
            f"{device} ({_why_not(engine, device, requested)}): set DEPECHE_PRECISION to "
            f"{', '.join(supported)} or auto, or change DEPECHE_ENGINE / DEPECHE_DEVICE."
        )
    return requested


def _why_not(engine: EngineName, device: str, precision: str) -> str:
    if precision == "int8_float16" and engine == "transformers":
        return "int8_float16 is a CTranslate2 compute type"
    if engine == "ctranslate2":
        return "CTranslate2 has no 16-bit kernels on the CPU"
    if precision == "int8":
        return "torch's dynamic int8 quantization runs on the CPU only"
    return f"{precision} needs CUDA" if device != "cuda" else "not supported"
