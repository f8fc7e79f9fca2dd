"""Device and dtype choice as pure functions (`resolve_device`, `choose_prober`), and the types
each engine backend's precision table and thread policy speak. Nothing here probes the
machine's accelerators: each backend has its probe, and `service.engines.registry.detect_device`
asks the one `choose_prober` names (CTranslate2 when no model needs torch, so a service whose
two models run on CTranslate2 never loads it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from service.config import DeviceName

EngineName = Literal["transformers", "ctranslate2"]
"""An inference engine, once `DEPECHE_ENGINE=auto` has been decided for a model folder."""

ResolvedPrecision = Literal[
    "float32", "bfloat16", "int8", "float16", "int8_float16", "int8_bfloat16"
]
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


class PrecisionUnavailableError(ValueError):
    """The requested precision cannot run with this engine on this device."""
