"""The machine: CPU model and flags, package versions, matrix-product rates, memory bandwidth."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    model = None
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model is None:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": model,
        "cores": cores,
        "avx512f": "avx512f" in flags,
        "avx512_vnni": "avx512_vnni" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "amx_int8": "amx_int8" in flags,
        "amx": bool(flags & {"amx_tile", "amx_bf16", "amx_int8"}),
        "native_bf16": bool(flags & {"avx512_bf16", "amx_bf16"}),
        "python": sys.version.split()[0],
        "torch": package_version("torch"),
        "transformers": package_version("transformers"),
        "ctranslate2": package_version("ctranslate2"),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "ct2_cpu_isa": _ct2_kernels(flags),
    }


def _ct2_kernels(flags: set[str]) -> str:
    """CTranslate2's own CPU kernels as the service's loader sets them (DEPECHE_CT2_CPU_ISA)."""
    from service.config import Settings
    from service.engines.ct2_backend import ISA_ENV, cpu_isa

    setting = Settings().ct2_cpu_isa
    chosen = cpu_isa(setting, flags, os.environ) or os.environ.get(ISA_ENV)
    shown = chosen or "CTranslate2's own choice"
    return f"{shown} (DEPECHE_CT2_CPU_ISA={setting})"


def _rate(work: Callable[[], object], min_s: float = 0.2) -> tuple[int, float]:
    """Runs and seconds of `work` after one untimed call: at least 3 runs and `min_s`."""
    work()
    start = time.perf_counter()
    runs = 0
    while runs < 3 or time.perf_counter() - start < min_s:
        work()
        runs += 1
    return runs, time.perf_counter() - start


def gemm_probe(torch: Any, size: int = 512) -> dict[str, float]:
    """GFLOP/s of one square matrix product per precision (int8_dynamic: torch's dynamic int8
    linear, activations quantized on the fly, as the transformers engine runs it; int8: see
    `int8_rate`)."""
    a32 = torch.randn(size, size)
    b32 = torch.randn(size, size)
    a16 = a32.bfloat16()
    b16 = b32.bfloat16()
    linear = torch.nn.Sequential(torch.nn.Linear(size, size, bias=False))
    int8 = torch.ao.quantization.quantize_dynamic(linear, {torch.nn.Linear}, dtype=torch.qint8)
    cases: dict[str, Callable[[], object]] = {
        "float32": lambda: a32 @ b32,
        "bfloat16": lambda: a16 @ b16,
        "int8_dynamic": lambda: int8(a32),
    }
    rates = {}
    for name, product in cases.items():
        runs, seconds = _rate(product)
        rates[name] = round(2 * size**3 * runs / seconds / 1e9, 1)
    rates["int8"] = int8_rate(torch)
    return rates


def int8_rate(torch: Any, size: int = 1024) -> float:
    """GFLOP/s of a plain int8 x int8 -> int32 product (`torch._int_mm`, oneDNN's VNNI/AMX
    kernels where the CPU has them): the int8 matrix rate the floor uses, as CTranslate2's
    int8 GEMMs run. Without `_int_mm`, the dynamic int8 linear's rate at that size."""
    a = torch.randint(-100, 100, (size, size), dtype=torch.int8)
    b = torch.randint(-100, 100, (size, size), dtype=torch.int8)
    product: Callable[[], object]
    try:
        torch._int_mm(a, b)
        product = lambda: torch._int_mm(a, b)  # noqa: E731
    except (AttributeError, RuntimeError):
        linear = torch.nn.Sequential(torch.nn.Linear(size, size, bias=False))
        int8 = torch.ao.quantization.quantize_dynamic(linear, {torch.nn.Linear}, dtype=torch.qint8)
        x = torch.randn(size, size)
        product = lambda: int8(x)  # noqa: E731
    runs, seconds = _rate(product, 0.3)
    return round(2 * size**3 * runs / seconds / 1e9, 1)


def memory_bandwidth(torch: Any, megabytes: int = 256) -> dict[str, float]:
    """GB/s (10^9 bytes) of reading a buffer much larger than the caches (a sum over it, as a
    decoder step reads its weights) and of copying it (read + write)."""
    count = megabytes * 2**20 // 4
    source = torch.rand(count)
    target = torch.empty_like(source)
    nbytes = count * 4
    runs, seconds = _rate(lambda: source.sum(), 0.3)
    read = nbytes * runs / seconds / 1e9
    runs, seconds = _rate(lambda: target.copy_(source), 0.3)
    copy = 2 * nbytes * runs / seconds / 1e9
    return {"read_gbps": round(read, 1), "copy_gbps": round(copy, 1), "buffer_mb": megabytes}
