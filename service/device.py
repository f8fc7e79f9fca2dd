"""Device, dtype and precision choice: pure functions, plus the probe that feeds them from torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from service.config import DeviceName, Precision

EngineName = Literal["transformers", "ctranslate2"]
"""An inference engine, once `DEPECHE_ENGINE=auto` has been decided for a model folder."""

ResolvedPrecision = Literal["float32", "bfloat16", "int8", "float16", "int8_float16"]
"""A precision once `DEPECHE_PRECISION=auto` has been decided for an engine and a device."""


class DeviceUnavailableError(RuntimeError):
    """The requested device does not exist on this machine."""


@dataclass(frozen=True)
class DeviceChoice:
    """Where the models run and in which precision."""

    device: str
    dtype: torch.dtype

    @property
    def label(self) -> str:
        """Short human form, e.g. `cuda (float16)`, used in /health and in every response."""
        return f"{self.device} ({str(self.dtype).removeprefix('torch.')})"


def resolve_device(
    requested: DeviceName, *, cuda_available: bool, mps_available: bool
) -> DeviceChoice:
    """Pick the device: auto means CUDA in half precision when present, else CPU in float32."""
    if requested == "auto":
        if cuda_available:
            return DeviceChoice("cuda", torch.float16)
        return DeviceChoice("cpu", torch.float32)
    if requested == "cuda":
        if not cuda_available:
            raise DeviceUnavailableError(
                "DEPECHE_DEVICE=cuda but no CUDA device is visible to torch: install a CUDA build "
                "of torch and the NVIDIA driver, or set DEPECHE_DEVICE=auto or cpu."
            )
        return DeviceChoice("cuda", torch.float16)
    if requested == "mps":
        if not mps_available:
            raise DeviceUnavailableError(
                "DEPECHE_DEVICE=mps but Apple's Metal backend is not available on this machine: "
                "set DEPECHE_DEVICE=auto or cpu."
            )
        # MPS half precision is unreliable for beam search; float32 is the safe default there.
        return DeviceChoice("mps", torch.float32)
    return DeviceChoice("cpu", torch.float32)


def detect_device(requested: DeviceName) -> DeviceChoice:
    """Ask torch what this machine has and resolve the requested device against it."""
    mps = getattr(torch.backends, "mps", None)
    return resolve_device(
        requested,
        cuda_available=torch.cuda.is_available(),
        mps_available=bool(mps is not None and mps.is_available()),
    )


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
