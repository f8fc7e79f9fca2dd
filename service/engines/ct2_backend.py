"""The CTranslate2 backend: its precision table (with the CPU's compute types), its thread
policy, its availability probe and loading a converted folder into `CT2Seq2SeqEngine`."""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Collection, Mapping
from functools import cache
from pathlib import Path

from service.config import CpuIsa
from service.device import ModelTask, ResolvedPrecision, ThreadLayout
from service.engines.backend import Backend, LoadRequest
from service.engines.base import ModelInfo, Seq2SeqEngine
from service.engines.ct2 import CT2_WEIGHTS, CT2Seq2SeqEngine, is_converted
from service.engines.loader import ENV_NAME, ModelLoadError, ModelSource, could_not_load
from service.engines.vmap import VocabularyMapError

log = logging.getLogger(__name__)

SUMMARY_CALLS = 2
"""Summaries CTranslate2 runs at once on the CPU by default. On 2 AVX2 cores, 2 x 1 beat 1 x 2
both for one article (7.4 s against 8.0 s) and at 16 clients (13.3 against 11.4 articles/min):
a second thread barely speeds one int8 call up (docs/benchmarks/cpu-2026-11-28-summary-2x1.md).
On more cores each call keeps cores // 2 threads, so one article stays fast."""

# CTranslate2 has no bfloat16, float16 or int8_float16 kernels on the CPU. int8_bfloat16 (int8
# weights, bfloat16 activations) runs where the CPU has AVX-512 BF16 or AMX and this build
# offers it; see `cpu_precisions`.
_CPU: tuple[ResolvedPrecision, ...] = ("float32", "int8")
_CUDA: tuple[ResolvedPrecision, ...] = ("float32", "bfloat16", "float16", "int8", "int8_float16")
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""CPU flags (Linux /proc/cpuinfo names) with fast bfloat16 arithmetic."""


def cpu_precisions(
    flags: Collection[str], supported: Collection[str]
) -> tuple[ResolvedPrecision, ...]:
    """What CTranslate2 runs on this CPU: float32 and int8, plus int8_bfloat16 when the CPU
    has AVX-512 BF16 or AMX (`flags`) and this build of CTranslate2 offers it (`supported`:
    `ctranslate2.get_supported_compute_types("cpu")`). Pure: the probe is `machine_cpu`."""
    if BF16_FLAGS & set(flags) and "int8_bfloat16" in supported:
        return (*_CPU, "int8_bfloat16")
    return _CPU


def cpu_auto_precision(flags: Collection[str], supported: Collection[str]) -> ResolvedPrecision:
    """DEPECHE_PRECISION=auto on the CPU: int8, also where int8_bfloat16 runs. Nothing in
    CTranslate2's documentation or our benchmarks shows int8_bfloat16 faster than int8 for
    these models yet, so it is offered as an explicit setting only (`cpu_precisions`); `flags`
    and `supported` are taken so that a measured win can change this one function."""
    del flags, supported
    return "int8"


@cache
def machine_cpu() -> tuple[frozenset[str], frozenset[str]]:
    """(CPU flags, CTranslate2's CPU compute types) of this machine; empty where unknown."""
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags.update(line.partition(":")[2].split())
                    break
    except OSError:
        pass
    supported: set[str] = set()
    if available():
        import ctranslate2  # type: ignore[import-untyped]

        supported = set(ctranslate2.get_supported_compute_types("cpu"))
    return frozenset(flags), frozenset(supported)


AVX512_FLAGS = frozenset({"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"})
"""CPU flags (Linux /proc/cpuinfo names) CTranslate2's AVX512 kernels are built for."""

ISA_FLAGS: dict[str, frozenset[str]] = {
    "AVX512": AVX512_FLAGS,
    "AVX2": frozenset({"avx2", "fma"}),
    "AVX": frozenset({"avx"}),
    "GENERIC": frozenset(),
}
"""What each of CTranslate2's kernel sets needs of the CPU."""

ISA_ENV = "CT2_FORCE_CPU_ISA"


def cpu_isa(setting: CpuIsa, flags: Collection[str], environ: Mapping[str, str]) -> str | None:
    """The CT2_FORCE_CPU_ISA this process should set for DEPECHE_CT2_CPU_ISA (None: set
    nothing). CTranslate2 4.8.5 runs its own kernels as AVX2 on AVX-512 CPUs, Intel and AMD
    alike; on a 2-core Intel Xeon with AMX its AVX512 kernels took 5-9 % off a one-thread
    summary call, three interleaved pairs (docs/benchmarks/cpu-2026-12-02-memory.md, tenth
    session). auto: AVX512 where the CPU has `AVX512_FLAGS`, unless the variable is already
    set; library: leave CTranslate2's choice; a name: that one, refused (ModelLoadError) on a
    CPU known to lack it. Pure: `apply_cpu_isa` acts."""
    if setting == "library":
        return None
    if setting != "auto":
        lacking = ISA_FLAGS.get(setting, frozenset()) - set(flags)
        if flags and lacking:
            raise ModelLoadError(
                f"DEPECHE_CT2_CPU_ISA={setting}, but this CPU lacks {', '.join(sorted(lacking))}: "
                "set it to auto or library."
            )
        return setting
    if ISA_ENV in environ or not set(flags) >= AVX512_FLAGS:
        return None
    return "AVX512"


def apply_cpu_isa(setting: CpuIsa) -> None:
    """Set CT2_FORCE_CPU_ISA for this process before CTranslate2 runs a model (it reads it
    once, at its first CPU kernel); a later different setting has no effect."""
    chosen = cpu_isa(setting, machine_cpu()[0], os.environ)
    if chosen is not None and os.environ.get(ISA_ENV) != chosen:
        os.environ[ISA_ENV] = chosen
        log.info("CTranslate2 CPU kernels: %s (DEPECHE_CT2_CPU_ISA=%s)", chosen, setting)


def precisions(device: str) -> tuple[ResolvedPrecision, ...] | None:
    if device == "cpu":
        return cpu_precisions(*machine_cpu())
    return _CUDA if device == "cuda" else None


def auto_precision(device: str) -> ResolvedPrecision:
    return cpu_auto_precision(*machine_cpu()) if device == "cpu" else "float16"


def why_not(device: str, precision: str) -> str:
    if precision == "int8_bfloat16":
        return "int8_bfloat16 needs AVX-512 BF16 or AMX and a CTranslate2 build that offers it"
    return "CTranslate2 has no 16-bit kernels on the CPU"


def threads(
    task: ModelTask, device: str, cores: int, inter: int | None, intra: int | None
) -> ThreadLayout:
    """On the CPU, nothing set: the translation model runs `cores` one-thread calls at once
    (an article is many short sentence batches, which parallelize better than they thread),
    the summary model SUMMARY_CALLS calls on cores // SUMMARY_CALLS threads each (one long
    input per article, but concurrent articles overlap). When only one of the two is set, the
    other fills the cores: inter = cores // intra for translation (1 for the summary),
    intra = cores // inter. On CUDA: one call at a time unless set, intra = cores (CPU-side
    threads)."""
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


def available() -> bool:
    """Whether the ctranslate2 package is installed (without importing it)."""
    return importlib.util.find_spec("ctranslate2") is not None


def accelerators() -> tuple[bool, bool]:
    """CUDA as CTranslate2 sees it (it cannot use MPS); imports ctranslate2, not torch."""
    import ctranslate2

    return int(ctranslate2.get_cuda_device_count()) > 0, False


def serves(source: ModelSource) -> bool:
    """auto: a local folder with converted weights."""
    return source.is_local and is_converted(Path(source.location))


def missing(source: ModelSource) -> ModelLoadError:
    """A converted folder, and no ctranslate2 to run it."""
    return ModelLoadError(
        f"The {source.task} model {source.location} is a CTranslate2 conversion, but the "
        "ctranslate2 package is not installed: run `pip install -r requirements.txt`."
    )


def load(request: LoadRequest) -> Seq2SeqEngine:
    source = request.source
    folder = Path(source.location)
    if not source.is_local or not is_converted(folder):
        raise ModelLoadError(
            f"DEPECHE_ENGINE=ctranslate2 needs converted weights, and the {source.task} model "
            f"{source.location} has no {CT2_WEIGHTS}: run `python scripts/convert_models.py`, "
            f"set {ENV_NAME[source.task]} to a converted folder, or set DEPECHE_ENGINE=auto."
        )
    if not available():
        raise missing(source)
    info = ModelInfo(
        source.task,
        source.hub_id or source.location,
        source.revision,
        "ctranslate2",
        request.precision,
        request.threads,
    )
    if request.device.device == "cpu":
        apply_cpu_isa(request.cpu_isa)
    try:
        return CT2Seq2SeqEngine.load(
            folder,
            info,
            device=request.device.device,
            compute_type=request.precision,
            intra_threads=request.threads.intra,
            inter_threads=request.threads.inter,
            vocabulary_map=request.vocabulary_map,
        )
    except VocabularyMapError as exc:
        raise ModelLoadError(f"DEPECHE_TRANSLATION_VMAP is on, but {exc}.") from None
    except Exception as exc:  # ctranslate2 raises RuntimeError/ValueError for bad folders
        raise could_not_load(source, exc, "a folder written by scripts/convert_models.py") from exc


BACKEND = Backend(
    name="ctranslate2",
    precisions=precisions,
    auto_precision=auto_precision,
    why_not=why_not,
    no_device="CTranslate2 supports cpu and cuda only; set DEPECHE_DEVICE=cpu or cuda, or "
    "DEPECHE_ENGINE=transformers.",
    threads=threads,
    available=available,
    serves=serves,
    load=load,
    accelerators=accelerators,
)
