"""Every call the bench makes into the service's engines and scheduler, in one place.

The engine rows load their models with the service's loader and run them through its
`BatchScheduler`, so they measure the code the service runs. Text is tokenized once, as in the
service: `prepare` encodes (`engine.encode`) before any timing starts, and `generate` and
`run` hand those encodings to the engine and the scheduler. When the engine interface changes,
this module is the one to change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.common import BATCH_WAIT_MS, batch_tokens

Inputs = list[Any]
"""What the engines and the scheduler take: `service.engines.base.Encoded` items."""


@dataclass
class Loaded:
    """One model loaded by the service's loader, and the scheduler that runs it."""

    engine: Any
    """A `service.engines.base.Seq2SeqEngine`."""
    scheduler: Any
    """A `service.scheduler.BatchScheduler` over `engine`, with the service's defaults."""
    engine_name: str
    """`transformers` or `ctranslate2`."""

    def close(self) -> None:
        self.scheduler.close()


def load(
    task: str, folder: Path, engine: str, precision: str, intra: int, inter: int, device: str
) -> Loaded:
    """Load `folder` as the service would with DEPECHE_ENGINE=`engine`, DEPECHE_PRECISION=
    `precision` and the given threads; a scheduler with `inter` workers runs it."""
    from service.engines.loader import ModelSource
    from service.engines.registry import detect_device, load_engine
    from service.scheduler import BatchScheduler

    chosen = detect_device(device, torch_needed=engine == "transformers")  # type: ignore[arg-type]
    if engine == "transformers":
        import torch

        torch.set_num_threads(intra)  # the loader leaves torch's threads to its caller
    source = ModelSource(task, str(folder), "local", True, None)  # type: ignore[arg-type]
    loaded = load_engine(
        source,
        chosen,
        offline=True,
        hub_timeout_s=1.0,
        engine=engine,  # type: ignore[arg-type]
        precision=precision,  # type: ignore[arg-type]
        intra_threads=intra,
        inter_threads=inter,
    )
    workers = loaded.info.threads.inter if loaded.info.threads else inter
    scheduler = BatchScheduler(
        loaded,
        batch_tokens=batch_tokens(task),
        wait_ms=BATCH_WAIT_MS,
        max_queued=1_000_000,
        workers=workers,
    )
    return Loaded(loaded, scheduler, engine)


def count(model: Loaded, texts: Sequence[str]) -> list[int]:
    """Tokens of each text as the model sees it, special tokens included."""
    counts: list[int] = model.engine.count_tokens(list(texts))
    return counts


def prepare(model: Loaded, texts: Sequence[str]) -> Inputs:
    """The engine's input for `texts` (their encodings), made before any timing starts."""
    encoded: Inputs = model.engine.encode(list(texts))
    return encoded


def forced(model: Loaded, steps: int, beams: int) -> Any:
    """GenerationSettings under which every output is exactly `steps` tokens (</s> and a forced
    <s> prefix included): `steps` decoder steps per hypothesis on either engine.

    transformers counts the decoder start token in `max_length` and forces </s> at its last
    position; `min_length` one below lets that </s> come. The CTranslate2 engine turns
    `max_length` into a decoding length one shorter, and one shorter again when the model
    forces </s> (it does not spend a step on it), so it gets one more.
    """
    from service.engines.base import GenerationSettings

    if model.engine_name == "ctranslate2":
        forced_eos = 1 if model.engine.defaults.forced_eos else 0
        return GenerationSettings(
            num_beams=beams, max_length=steps + 1 + forced_eos, min_length=steps + 1
        )
    return GenerationSettings(num_beams=beams, max_length=steps + 1, min_length=steps)


def generate(model: Loaded, inputs: Inputs, settings: Any) -> int:
    """One engine call, no scheduler (the naive baseline); output tokens."""
    tokens: int = model.engine.generate(inputs, settings).output_tokens
    return tokens


def run(model: Loaded, inputs: Inputs, settings: Any) -> int:
    """One caller's items through the scheduler, blocking until done; output tokens."""
    tokens: int = model.scheduler.run(inputs, settings).output_tokens
    return tokens


def torch_model(model: Loaded) -> Any:
    """The torch module of a transformers engine (for profiling hooks), else None."""
    return getattr(model.engine, "model", None) if model.engine_name == "transformers" else None
