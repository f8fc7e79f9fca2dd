"""The engine backends, one line each, and the choices made across them: which engine serves
a model, in which precision, on how many threads; loading one model (`load_engine`) and both
(`load_models`, what `Pipeline.load` calls).

A new backend: a module that builds a `service.engines.backend.Backend` (see `ct2_backend`,
`hf_backend`), its name in `service.device.EngineName`, and its line in BACKENDS. The order of
BACKENDS is the order DEPECHE_ENGINE=auto asks them whether they serve a model.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from service.config import CpuIsa, DeviceName, Precision, Settings
from service.device import (
    DeviceChoice,
    EngineName,
    ModelTask,
    PrecisionUnavailableError,
    ResolvedPrecision,
    ThreadLayout,
    available_cores,
    choose_prober,
    resolve_device,
)
from service.engines import ct2_backend, hf_backend
from service.engines.backend import Backend, LoadRequest
from service.engines.base import Seq2SeqEngine, Task
from service.engines.ct2 import weights_quantization
from service.engines.loader import (
    TASKS,
    EngineSetting,
    ModelLoadError,
    ModelSource,
    auto_source,
    missing_folder,
    resolve_source,
)
from service.process import give_back_freed_memory

log = logging.getLogger(__name__)

BACKENDS: dict[EngineName, Backend] = {
    "ctranslate2": ct2_backend.BACKEND,
    "transformers": hf_backend.BACKEND,
}


def detect_device(requested: DeviceName, *, torch_needed: bool = True) -> DeviceChoice:
    """Ask the machine what it has (through a backend's probe) and resolve the requested device
    against it (`service.device.resolve_device`, pure).

    `torch_needed=False` (both models on CTranslate2): CTranslate2 answers for CUDA and torch is
    not imported; MPS, which CTranslate2 cannot use, is then asked of torch only when requested.
    """
    if requested == "cpu":
        return resolve_device("cpu", cuda_available=False, mps_available=False)
    prober = choose_prober(
        torch_needed=torch_needed or requested == "mps",
        torch_loaded="torch" in sys.modules,
        ctranslate2_installed=ct2_backend.available(),
    )
    backend = BACKENDS["ctranslate2" if prober == "ctranslate2" else "transformers"]
    cuda, mps = backend.accelerators()
    return resolve_device(requested, cuda_available=cuda, mps_available=mps, probed_by=prober)


def resolve_precision(engine: EngineName, device: str, requested: Precision) -> ResolvedPrecision:
    """Decide the precision of one engine on one device; refuse combinations that cannot run.

    auto: each backend's table (transformers in float32 on CPU and MPS and float16 on CUDA;
    CTranslate2 in int8 on CPU and float16 on CUDA).
    """
    backend = BACKENDS[engine]
    supported = backend.precisions(device)
    if supported is None:
        raise PrecisionUnavailableError(
            f"DEPECHE_ENGINE={engine} cannot run on {device}: {backend.no_device}"
        )
    if requested == "auto":
        return backend.auto_precision(device)
    if requested not in supported:
        raise PrecisionUnavailableError(
            f"DEPECHE_PRECISION={requested} is not available with the {engine} engine on "
            f"{device} ({backend.why_not(device, requested)}): set DEPECHE_PRECISION to "
            f"{', '.join(supported)} or auto, or change DEPECHE_ENGINE / DEPECHE_DEVICE."
        )
    return requested


def resolve_threads(
    task: ModelTask,
    engine: EngineName,
    device: str,
    cores: int,
    *,
    inter: int | None = None,
    intra: int | None = None,
) -> ThreadLayout:
    """The thread layout of one model: its backend's policy. `inter` / `intra` are what the
    settings ask for that model (None: derive it); `cores` is what this process may use."""
    return BACKENDS[engine].threads(task, device, max(1, cores), inter, intra)


def requested_threads(settings: Settings, task: ModelTask) -> tuple[int | None, int | None]:
    """(inter, intra) the settings ask of one model: its own settings, else the shared ones;
    None where nothing is set (`resolve_threads` derives it)."""
    if task == "translation":
        inter, intra = settings.translation_inter_threads, settings.translation_intra_threads
    else:
        inter, intra = settings.summary_inter_threads, settings.summary_intra_threads
    return (
        inter if inter is not None else settings.inter_threads,
        intra if intra is not None else settings.intra_threads,
    )


def choose_engine(requested: EngineSetting, source: ModelSource) -> EngineName:
    """auto: the first backend (BACKENDS order) that is installed and serves the source —
    CTranslate2 for a local folder with converted weights, else transformers; an explicit
    setting is taken as it is."""
    if requested != "auto":
        return requested
    for name, backend in BACKENDS.items():
        if backend.available() and backend.serves(source):
            return name
    return "transformers"


def load_engine(
    source: ModelSource,
    device: DeviceChoice,
    *,
    offline: bool,
    hub_timeout_s: float,
    engine: EngineSetting = "auto",
    precision: Precision = "auto",
    intra_threads: int | None = None,
    inter_threads: int | None = None,
    vocabulary_map: bool = False,
    cpu_isa: CpuIsa = "auto",
) -> Seq2SeqEngine:
    """Load one model with the engine and precision the settings ask for (auto: see
    `choose_engine` and `resolve_precision`), turning every failure into a ModelLoadError.

    `intra_threads` / `inter_threads` are what the settings ask of this model (None: derive
    it); `resolve_threads` decides the layout, which `info.threads` reports. A backend with a
    process-wide pool (transformers) has it set by `load_models`.
    """
    chosen = choose_engine(engine, source)
    try:
        resolved = resolve_precision(chosen, device.device, precision)
    except PrecisionUnavailableError as exc:
        raise ModelLoadError(str(exc)) from None
    threads = resolve_threads(
        source.task,
        chosen,
        device.device,
        available_cores(),
        inter=inter_threads,
        intra=intra_threads,
    )
    if source.is_local and not (Path(source.location) / "config.json").is_file():
        raise missing_folder(source)
    if vocabulary_map and chosen != "ctranslate2":
        raise ModelLoadError(
            f"DEPECHE_TRANSLATION_VMAP needs the {source.task} model on CTranslate2, and it "
            f"would run on {chosen}: convert it (scripts/convert_models.py) or turn the map off."
        )
    request = LoadRequest(
        source, device, resolved, threads, offline, hub_timeout_s, engine, vocabulary_map, cpu_isa
    )
    return BACKENDS[chosen].load(request)


@dataclass(frozen=True)
class PreparedModels:
    """Where both models load from, on which device, and what differs from what was asked."""

    device: DeviceChoice
    sources: dict[Task, ModelSource]
    warnings: tuple[str, ...] = field(default=())
    """One sentence per model that `auto` meant to serve on CTranslate2 but could not convert:
    it runs on transformers, and /health and every response's `meta.warnings` say so."""


def prepare_models(settings: Settings) -> PreparedModels:
    """Resolve both models' sources and the device (ModelLoadError, DeviceUnavailableError).

    With DEPECHE_ENGINE=auto and ctranslate2 installed, a model in transformers format (a local
    folder, or a hub id once its snapshot is downloaded) is converted to CTranslate2 once,
    in the precision `auto` runs on the device (int8 on the CPU, float16 on CUDA), and served
    from the copy; later starts reuse it while its source is unchanged. A conversion that fails
    or times out leaves the model on transformers, with a warning. DEPECHE_ENGINE=transformers
    and =ctranslate2 convert nothing.
    """
    wants_ct2 = settings.engine == "ctranslate2" or (
        settings.engine == "auto" and ct2_backend.available()
    )
    if settings.engine == "auto" and not wants_ct2:
        log.warning("ctranslate2 is not installed: both models run on transformers, slower")
    # The device first: the copy's precision depends on it. CTranslate2 answers for CUDA when
    # both models are meant to run on it, so that a CTranslate2 service never imports torch.
    device = detect_device(settings.device, torch_needed=not wants_ct2)
    quantization: str | None = None
    if settings.engine == "auto" and wants_ct2:
        try:
            precision = resolve_precision("ctranslate2", device.device, settings.precision)
            quantization = weights_quantization(precision)
        except PrecisionUnavailableError as exc:  # e.g. bfloat16 on the CPU: transformers runs it
            log.info("DEPECHE_ENGINE=auto keeps transformers: %s", exc)
    sources: dict[Task, ModelSource] = {}
    warnings: list[str] = []
    for task in TASKS:
        source = resolve_source(task, settings, quantization=quantization)
        if quantization is not None:
            source, warning = auto_source(task, source, settings, quantization)
            if warning is not None:
                warnings.append(warning)
        sources[task] = source
    on_torch = any(choose_engine(settings.engine, s) == "transformers" for s in sources.values())
    if wants_ct2 and on_torch:  # a model fell back to transformers: torch decides the device
        device = detect_device(settings.device, torch_needed=True)
    return PreparedModels(device, sources, tuple(warnings))


LOAD_ORDER: tuple[Task, ...] = ("summary", "translation")
"""The order `load_models` loads in: the larger model first, what its load freed handed back
before the next. CTranslate2 packs a model's linear weights for Intel MKL as it loads and frees
the unpacked ones only once all are packed, so a load peaks about a copy of its matrices above
where it settles (232 MiB for distilbart-cnn-12-6 at int8, 33 MiB for opus-mt-fr-en). Loaded
second, the summarizer's peak stood on top of the translator (the process's high-water mark,
725 MiB, above 700 MB before any request); loaded first, and trimmed, it passes before the
translator is there (634 MiB). The price: the translator's weights then land in glibc's heap,
and the peaks under load are 50-100 MiB higher, still under 1 GB at 16 clients
(docs/benchmarks/cpu-2026-12-02-memory.md, eleventh-session addendum). The summarizer is the
larger model in every preset."""

OnLoaded = Callable[[Task, Seq2SeqEngine], None]


@dataclass(frozen=True)
class LoadedModels:
    """Both models loaded, the device they run on, and what loading did otherwise than asked."""

    translator: Seq2SeqEngine
    summarizer: Seq2SeqEngine
    device: DeviceChoice
    warnings: tuple[str, ...] = ()


def load_models(settings: Settings, on_loaded: OnLoaded | None = None) -> LoadedModels:
    """Resolve the device and load both models (ModelLoadError, DeviceUnavailableError).

    With DEPECHE_ENGINE=auto this converts a model to CTranslate2 first if it needs it
    (`prepare_models`). A backend with one thread pool per process (torch) gets the larger of
    its models' intra-op wishes, and both its models report that count. The models load in
    LOAD_ORDER, each followed by `malloc_trim`; `on_loaded` hears each one as it is loaded
    (scripts/memory_profile.py measures between them).
    """
    prepared = prepare_models(settings)
    sources, device = prepared.sources, prepared.device
    chosen = {task: choose_engine(settings.engine, sources[task]) for task in TASKS}
    requested = {task: requested_threads(settings, task) for task in TASKS}
    cores = available_cores()
    for name in dict.fromkeys(chosen.values()):
        share = BACKENDS[name].share_threads
        tasks = [task for task in TASKS if chosen[task] == name]
        if share is None:
            continue
        pool = max(
            resolve_threads(task, name, device.device, cores, intra=requested[task][1]).intra
            for task in tasks
        )
        share(pool)
        for task in tasks:
            requested[task] = (requested[task][0], pool)
    engines: dict[Task, Seq2SeqEngine] = {}
    for task in LOAD_ORDER:
        source = sources[task]
        inter, intra = requested[task]
        started = time.perf_counter()
        engine = load_engine(
            source,
            device,
            offline=settings.offline,
            hub_timeout_s=settings.hub_timeout_s,
            engine=settings.engine,
            precision=settings.precision,
            intra_threads=intra,
            inter_threads=inter,
            vocabulary_map=settings.translation_vmap and task == "translation",
            cpu_isa=settings.ct2_cpu_isa,
        )
        engines[task] = engine
        threads = engine.info.threads
        log.info(
            "loaded %s model %s@%s on %s, %s, in %.1f s (%s%s)",
            task,
            source.location,
            source.revision,
            device.device,
            engine.info.label,  # the precision it runs in, not the device's torch default
            time.perf_counter() - started,
            f"{threads.inter} x {threads.intra} threads" if threads else "threads unknown",
            ", vocabulary map" if settings.translation_vmap and task == "translation" else "",
        )
        give_back_freed_memory()  # the load's own buffers, before the next model is placed
        if on_loaded is not None:
            on_loaded(task, engine)
    return LoadedModels(engines["translation"], engines["summary"], device, prepared.warnings)
