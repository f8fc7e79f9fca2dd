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
    sub_batch: int | None = None
    """The most inputs the engine decodes at once within one call, one group after another
    (shortest first on CTranslate2); None: all at once. The scheduler sets it on batches
    taken at low load (see `BatchScheduler`): the same outputs, less working memory."""


@dataclass(frozen=True)
class Encoded:
    """One input as the model sees it: tokenized once, then batched and generated from."""

    text: str
    """The text as given (kept for logs, tests and test doubles)."""
    ids: tuple[int, ...]
    """Token ids as the model sees them, special tokens included."""

    @property
    def size(self) -> int:
        """Tokens the model reads: what the window and the batch budget count."""
        return len(self.ids)


@dataclass(frozen=True)
class Generated:
    """Outputs of one `generate` call, in input order, with token counts for the meta."""

    texts: list[str]
    input_tokens: int
    output_tokens: int
    per_output: tuple[int, ...]
    """Output tokens of each text, in input order, summing to `output_tokens`: each caller
    of a shared batch is counted its own."""

    def __post_init__(self) -> None:
        if len(self.per_output) != len(self.texts) or sum(self.per_output) != self.output_tokens:
            raise ValueError(
                f"{len(self.texts)} outputs of {self.output_tokens} tokens counted as "
                f"{self.per_output}"
            )


class Seq2SeqEngine(Protocol):
    """A loaded encoder-decoder model with its tokenizer; safe to call from several threads."""

    info: ModelInfo

    @property
    def max_input_tokens(self) -> int:
        """The model's input window in tokens, special tokens included."""
        ...

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        """Each text tokenized as the model will read it (special tokens included), once."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token count of each text as the model would see it (special tokens included)."""
        ...

    def generate(self, inputs: Sequence[Encoded], settings: GenerationSettings) -> Generated:
        """Generate one output per encoded input, in order. Inputs must fit the window."""
        ...

    def check(self) -> None:
        """Run a tiny tensor operation on the model's device; raise if the device is unusable."""
        ...


class TokenCounter(Protocol):
    """What measuring text against a window needs: the window and the token counts."""

    @property
    def max_input_tokens(self) -> int: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


class Encoder(Protocol):
    """What cutting text to a window needs: the window and the encoding."""

    @property
    def max_input_tokens(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> list[Encoded]: ...


class EncodingMemo:
    """One job's encodings, each distinct text encoded once: `count_tokens` for
    `split_to_fit` and `pack`, then `encode` hands the scheduler the very same `Encoded`, so
    what was measured is what runs and nothing is tokenized twice. Lives for one call."""

    def __init__(self, engine: Encoder, known: Sequence[Encoded] = ()) -> None:
        self.engine = engine
        self._seen: dict[str, Encoded] = {item.text: item for item in known}

    @property
    def max_input_tokens(self) -> int:
        return self.engine.max_input_tokens

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        missing = [text for text in dict.fromkeys(texts) if text not in self._seen]
        if missing:
            for item in self.engine.encode(missing):
                self._seen[item.text] = item
        return [self._seen[text] for text in texts]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [item.size for item in self.encode(texts)]


def token_ids(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """A transformers tokenizer's ids for each text, special tokens included, never truncated:
    how every engine (and the runtime tokenizer's check) asks transformers to tokenize."""
    encoded = tokenizer(list(texts), truncation=False, verbose=False)
    return [list(ids) for ids in encoded["input_ids"]]


def encode_locked(tokenizer: Any, lock: threading.Lock, texts: Sequence[str]) -> list[Encoded]:
    """Each text's token ids, special tokens included, under the engine's lock: fast
    tokenizers are not safe to share across threads."""
    if not texts:
        return []
    with lock:
        ids = token_ids(tokenizer, texts)
    return [Encoded(text, tuple(item)) for text, item in zip(texts, ids, strict=True)]


def count_tokens_locked(tokenizer: Any, lock: threading.Lock, texts: Sequence[str]) -> list[int]:
    """Token count of each text, special tokens included (`encode_locked`'s sizes)."""
    return [item.size for item in encode_locked(tokenizer, lock, texts)]
