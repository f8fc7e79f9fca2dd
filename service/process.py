"""Process-wide setup, done once when a command starts and before any worker thread exists.

glibc gives each thread that allocates a malloc arena of its own and keeps what that thread
freed; CTranslate2's worker threads then hold their peaks apart. Two arenas cut the service's
peak RSS by about 130 MB at 1 client (docs/benchmarks/cpu-2026-12-02-memory.md). scripts/serve.sh,
the Dockerfile and docker-compose set `MALLOC_ARENA_MAX=2`; `python -m service` applies the same
cap itself through `mallopt`, so that every way of starting the service gets it. An explicit
`MALLOC_ARENA_MAX` wins (glibc has read it already).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's malloc.h


def libc() -> ctypes.CDLL | None:
    """The process's C library, or None where ctypes cannot find or load one."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def cap_malloc_arenas(arenas: int = MALLOC_ARENAS) -> int | None:
    """Cap glibc's malloc arenas at `arenas`; the cap in force afterwards, or None where there
    is no glibc (another C library or OS) or the call failed."""
    if not sys.platform.startswith("linux"):
        return None
    explicit = os.environ.get("MALLOC_ARENA_MAX")
    if explicit:
        return int(explicit) if explicit.isdigit() else None
    c = libc()
    mallopt = getattr(c, "mallopt", None) if c is not None else None
    if mallopt is None:
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return arenas if mallopt(_M_ARENA_MAX, arenas) == 1 else None


def give_back_freed_memory() -> bool:
    """Hand the heap's freed pages back to the system (glibc's `malloc_trim(0)`): after a
    one-off load whose temporary buffers would otherwise stay in the RSS. False where there
    is no glibc or nothing was given back."""
    if not sys.platform.startswith("linux"):
        return False
    c = libc()
    trim = getattr(c, "malloc_trim", None) if c is not None else None
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return bool(trim(0))
