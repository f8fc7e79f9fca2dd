"""What a backend is: the one record the registry holds per engine (precision table, thread
policy, availability probe, loading). A new engine is a module that builds one `Backend`, and a
line in `service.engines.registry.BACKENDS`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from service.config import CpuIsa
from service.device import DeviceChoice, EngineName, ModelTask, ResolvedPrecision, ThreadLayout
from service.engines.base import Seq2SeqEngine
from service.engines.loader import EngineSetting, ModelSource


@dataclass(frozen=True)
class LoadRequest:
    """Everything a backend needs to load one model, decided before it is asked."""

    source: ModelSource
    device: DeviceChoice
    precision: ResolvedPrecision
    threads: ThreadLayout
    offline: bool
    hub_timeout_s: float
    requested: EngineSetting
    """DEPECHE_ENGINE as set (`auto` or this backend's name), for the error messages."""
    vocabulary_map: bool = False
    """DEPECHE_TRANSLATION_VMAP for the translation model: score only its map's candidates."""
    cpu_isa: CpuIsa = "auto"
    """DEPECHE_CT2_CPU_ISA: CTranslate2's CPU kernels (process-wide; other engines ignore it)."""


ThreadPolicy = Callable[[ModelTask, str, int, int | None, int | None], ThreadLayout]
"""(task, device, cores, inter asked, intra asked) -> the layout of one model."""


@dataclass(frozen=True)
class Backend:
    """One inference engine, as the registry knows it."""

    name: EngineName
    precisions: Callable[[str], tuple[ResolvedPrecision, ...] | None]
    """What runs on a device (None: the engine cannot use that device at all)."""
    auto_precision: Callable[[str], ResolvedPrecision]
    """What DEPECHE_PRECISION=auto means on a device this engine supports."""
    why_not: Callable[[str, str], str]
    """(device, precision) -> why that precision cannot run, for the error message."""
    no_device: str
    """The end of the error for a device the engine cannot use at all: what to set instead."""
    threads: ThreadPolicy
    available: Callable[[], bool]
    """Whether its library is installed (without importing it)."""
    serves: Callable[[ModelSource], bool]
    """Whether DEPECHE_ENGINE=auto picks this engine for a source (asked in registry order)."""
    load: Callable[[LoadRequest], Seq2SeqEngine]
    """Load a model, every failure a ModelLoadError naming the fix."""
    accelerators: Callable[[], tuple[bool, bool]]
    """(CUDA present, MPS present) as this engine's library sees them; imports it."""
    share_threads: Callable[[int], None] | None = None
    """Set the process-wide thread pool when the engine has one (torch), to the largest intra
    count its models ask for; None when each model has its own (CTranslate2)."""
