"""Device and dtype choice: one pure function, plus the probe that feeds it from torch."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from service.config import DeviceName


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
