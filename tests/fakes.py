"""Stand-in engines: a transparent one for the batching and chunking logic around a model, and
a real engine that fails on chosen inputs, for the failure paths."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from service.engines.base import (
    Encoded,
    Generated,
    GenerationSettings,
    ModelInfo,
    Seq2SeqEngine,
    Task,
)
from service.scheduler import BatchScheduler, OutputSink, Progress


class RecordingEngine:
    """Counts one token per word plus one, and 'generates' with a visible function of the input.

    It checks the window like a real model, and records every batch it receives (as texts).
    Its encoding is `count_tokens` ids, so a test that swaps in a real tokenizer's count gets
    real sizes everywhere.
    """

    def __init__(
        self,
        window: int,
        transform: Callable[[str], str] = lambda text: f"<{text}>",
        task: Task = "translation",
    ) -> None:
        self.info = ModelInfo(task, "fake/recording", "local", "transformers")
        self.window = window
        self.transform = transform
        self.batches: list[list[str]] = []
        self.encoded: list[str] = []
        """Every text encoded so far, in order (each once, where the callers are right)."""

    @property
    def max_input_tokens(self) -> int:
        return self.window

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(text.split()) + 1 for text in texts]

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        self.encoded.extend(texts)
        return [
            Encoded(text, tuple(range(n)))
            for text, n in zip(texts, self.count_tokens(texts), strict=True)
        ]

    def generate(self, inputs: Sequence[Encoded], settings: GenerationSettings) -> Generated:
        sizes = [item.size for item in inputs]
        assert max(sizes) <= self.window, "the engine received an input longer than its window"
        texts = [item.text for item in inputs]
        self.batches.append(texts)
        outputs = [self.transform(text) for text in texts]
        counts = tuple(self.count_tokens(outputs))
        return Generated(outputs, sum(sizes), sum(counts), counts)

    def check(self) -> None:
        return None

    @property
    def inputs(self) -> list[str]:
        return [text for batch in self.batches for text in batch]


def run_texts(
    scheduler: BatchScheduler,
    texts: Sequence[str],
    settings: GenerationSettings,
    progress: Progress | None = None,
    on_output: OutputSink | None = None,
) -> Generated:
    """`scheduler.run` on texts, encoded by its engine first (as translate and summarize do)."""
    return scheduler.run(scheduler.engine.encode(texts), settings, progress, on_output)


def scheduler_for(
    engine: Seq2SeqEngine, batch_tokens: int = 4096, max_queued: int = 10_000
) -> BatchScheduler:
    """A scheduler over `engine` that runs a batch as soon as work arrives."""
    return BatchScheduler(engine, batch_tokens=batch_tokens, wait_ms=0, max_queued=max_queued)


class RaisingEngine:
    """A real engine that fails on chosen inputs, as a device fault or an engine bug would.

    Every `generate` call whose batch holds a text containing one of `poison` raises
    RuntimeError (after waiting for `release` when `hold` is set, so a test can line other
    requests up meanwhile); every other batch runs on the wrapped engine. `broken` makes
    `check` raise, as an unusable device does.
    """

    def __init__(self, engine: Seq2SeqEngine, poison: Sequence[str], *, hold: bool = False) -> None:
        self.engine = engine
        self.info = engine.info
        self.poison = tuple(poison)
        self.hold = hold
        self.failing = threading.Event()
        """Set once a poisoned batch has reached the engine."""
        self.release = threading.Event()
        self.broken = False
        self.failed_batches: list[list[str]] = []
        self.served_batches: list[list[str]] = []

    @property
    def max_input_tokens(self) -> int:
        return self.engine.max_input_tokens

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        return self.engine.encode(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.engine.count_tokens(texts)

    def generate(self, inputs: Sequence[Encoded], settings: GenerationSettings) -> Generated:
        texts = [item.text for item in inputs]
        if any(word in text for text in texts for word in self.poison):
            self.failed_batches.append(list(texts))
            self.failing.set()
            if self.hold:
                self.release.wait(30)
            raise RuntimeError("simulated device fault: CUDA error: an illegal memory access")
        generated = self.engine.generate(inputs, settings)
        self.served_batches.append(list(texts))
        return generated

    def check(self) -> None:
        if self.broken:
            raise RuntimeError("simulated device fault: no CUDA-capable device is detected")
        self.engine.check()
