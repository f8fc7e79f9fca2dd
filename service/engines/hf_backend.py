"""The transformers backend: its precision table, its thread policy (one torch pool per
process), its availability probe and loading with `from_pretrained` (local folder, Hugging Face
cache, then the hub). torch is imported only when a model loads here."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
from pathlib import Path
from typing import Any

from service.device import ModelTask, ResolvedPrecision, ThreadLayout
from service.engines import ct2_backend
from service.engines.backend import Backend, LoadRequest
from service.engines.base import ModelInfo, Seq2SeqEngine
from service.engines.ct2 import CT2_WEIGHTS, is_converted
from service.engines.loader import (
    ENV_NAME,
    ModelLoadError,
    could_not_load,
    offline_error,
    probe_hub,
)

log = logging.getLogger(__name__)

# float16 on CUDA only (the CPU has no fast half kernels), int8 through torch's dynamic
# quantization, which is CPU-only, and never int8_float16.
_PRECISIONS: dict[str, tuple[ResolvedPrecision, ...]] = {
    "cpu": ("float32", "bfloat16", "int8"),
    "cuda": ("float32", "bfloat16", "float16"),
    "mps": ("float32",),
}
_AUTO: dict[str, ResolvedPrecision] = {"cpu": "float32", "cuda": "float16", "mps": "float32"}


def why_not(device: str, precision: str) -> str:
    if precision in ("int8_float16", "int8_bfloat16"):
        return f"{precision} is a CTranslate2 compute type"
    if precision == "int8":
        return "torch's dynamic int8 quantization runs on the CPU only"
    return f"{precision} needs CUDA" if device != "cuda" else "not supported"


def threads(
    task: ModelTask, device: str, cores: int, inter: int | None, intra: int | None
) -> ThreadLayout:
    """One call at a time, always (the model lock serializes calls, so parallel calls gain
    nothing); intra = the setting, else cores (torch's intra-op threads)."""
    del task, device, inter
    return ThreadLayout(1, intra or cores)


def configure_torch_threads(count: int) -> None:
    """Set torch's intra-op threads (one pool for the whole process); imports torch."""
    import torch

    torch.set_num_threads(count)


def accelerators() -> tuple[bool, bool]:
    """CUDA and Apple's MPS as torch sees them; imports torch."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available(), bool(mps is not None and mps.is_available())


def available() -> bool:
    return (
        importlib.util.find_spec("torch") is not None
        and importlib.util.find_spec("transformers") is not None
    )


def _load_pretrained(request: LoadRequest, *, local_only: bool) -> Seq2SeqEngine:
    # torch comes in here, with the first transformers model, and not before.
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from service.engines.hf import HFSeq2SeqEngine, apply_precision, dtype_name, load_dtype

    source = request.source
    kwargs: dict[str, Any] = {"local_files_only": local_only}
    if not source.is_local:
        kwargs["revision"] = source.revision
    dtype = load_dtype(request.precision)
    tokenizer = AutoTokenizer.from_pretrained(source.location, **kwargs)
    model = AutoModelForSeq2SeqLM.from_pretrained(source.location, dtype=dtype, **kwargs)
    model.to(request.device.device)
    model.eval()
    model = apply_precision(model, request.precision)
    info = ModelInfo(
        source.task,
        source.hub_id or source.location,
        source.revision,
        "transformers",
        request.precision,
        request.threads,
    )
    # The device check runs in the dtype of the weights (float32 around int8 kernels).
    weights = dataclasses.replace(request.device, dtype=dtype_name(dtype))
    return HFSeq2SeqEngine(model, tokenizer, info, weights)


def load(request: LoadRequest) -> Seq2SeqEngine:
    source = request.source
    if source.is_local and is_converted(Path(source.location)):
        if request.requested == "auto":  # chose transformers because ctranslate2 does not import
            raise ct2_backend.missing(source)
        raise ModelLoadError(
            f"The {source.task} model folder {source.location} holds CTranslate2 weights "
            f"({CT2_WEIGHTS}), which DEPECHE_ENGINE={request.requested} cannot load: set "
            f"DEPECHE_ENGINE=auto or ctranslate2, or set {ENV_NAME[source.task]} to the "
            "unconverted folder."
        )
    try:
        if source.is_local:
            return _load_pretrained(request, local_only=True)
        try:  # the local Hugging Face cache first: no network when the model is already there
            return _load_pretrained(request, local_only=True)
        except OSError:
            if request.offline:
                raise offline_error(source) from None
        probe_hub(source, request.hub_timeout_s)
        log.info("downloading %s model %s@%s", source.task, source.location, source.revision)
        return _load_pretrained(request, local_only=False)
    except ModelLoadError:
        raise
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError... for bad folders
        raise could_not_load(source, exc, "a seq2seq model saved with save_pretrained") from exc


BACKEND = Backend(
    name="transformers",
    precisions=_PRECISIONS.get,
    auto_precision=_AUTO.__getitem__,
    why_not=why_not,
    no_device="set DEPECHE_DEVICE=cpu, cuda or mps.",
    threads=threads,
    available=available,
    serves=lambda source: True,
    load=load,
    accelerators=accelerators,
    share_threads=configure_torch_threads,
)
