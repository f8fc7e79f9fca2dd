"""The engine interface: what the pipeline needs from a sequence-to-sequence model."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from service.device import EngineName, ResolvedPrecision, ThreadLayout

Task = Literal["translation", "summary"]


@dataclass(frozen=True)
class ModelInfo:
    """Which model an engine runs, as reported in every response's meta."""

    task: Task
    id: str
    revision: str
    engine: EngineName
    precision: ResolvedPrecision | None = None
    """The precision the weights run in; None when unknown (test doubles)."""
    threads: ThreadLayout | None = None
    """How the engine uses the CPU; None when unknown (test doubles)."""

    @property
    def label(self) -> str:
        """The public engine label, `ctranslate2 (int8)`: `meta.models[].engine`, cache keys,
        metrics. Just the engine's name when the precision is unknown."""
        if self.precision is None:
            return self.engine
        return f"{self.engine} ({self.precision})"


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding knobs; None means the model's own generation config."""

    num_beams: int | None = None
    max_length: int | None = None
    min_length: int | None = None


@dataclass(frozen=True)
class Generated:
    """Outputs of one `generate` call, in input order, with token counts for the meta."""

    texts: list[str]
    input_tokens: int
    output_tokens: int


class Seq2SeqEngine(Protocol):
    """A loaded encoder-decoder model with its tokenizer; safe to call from several threads."""

    info: ModelInfo

    @property
    def max_input_tokens(self) -> int:
        """The model's input window in tokens, special tokens included."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token count of each text as the model would see it (special tokens included)."""
        ...

    def generate(self, texts: Sequence[str], settings: GenerationSettings) -> Generated:
        """Generate one output per input text, in order. Inputs must fit the window."""
        ...

    def check(self) -> None:
        """Run a tiny tensor operation on the model's device; raise if the device is unusable."""
        ...


def count_tokens_locked(tokenizer: Any, lock: threading.Lock, texts: Sequence[str]) -> list[int]:
    """Token count of each text, special tokens included, under the engine's lock: fast
    tokenizers are not safe to share across threads."""
    if not texts:
        return []
    with lock:
        encoded = tokenizer(list(texts), truncation=False, verbose=False)
    return [len(ids) for ids in encoded["input_ids"]]
