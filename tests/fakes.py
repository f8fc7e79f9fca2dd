"""Stand-in engines: a transparent one for the batching and chunking logic around a model, and
a real engine that fails on chosen inputs, for the failure paths."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from service.engines.base import Generated, GenerationSettings, ModelInfo, Seq2SeqEngine, Task
from service.scheduler import BatchScheduler


class RecordingEngine:
    """Counts one token per word plus one, and 'generates' with a visible function of the input.

    It checks the window like a real model, and records every batch it receives.
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

    @property
    def max_input_tokens(self) -> int:
        return self.window

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(text.split()) + 1 for text in texts]

    def generate(self, texts: Sequence[str], settings: GenerationSettings) -> Generated:
        sizes = self.count_tokens(texts)
        assert max(sizes) <= self.window, "the engine received an input longer than its window"
        self.batches.append(list(texts))
        outputs = [self.transform(text) for text in texts]
        return Generated(outputs, sum(sizes), sum(self.count_tokens(outputs)))

    def check(self) -> None:
        return None

    @property
    def inputs(self) -> list[str]:
        return [text for batch in self.batches for text in batch]


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

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.engine.count_tokens(texts)

    def generate(self, texts: Sequence[str], settings: GenerationSettings) -> Generated:
        if any(word in text for text in texts for word in self.poison):
            self.failed_batches.append(list(texts))
            self.failing.set()
            if self.hold:
                self.release.wait(30)
            raise RuntimeError("simulated device fault: CUDA error: an illegal memory access")
        generated = self.engine.generate(texts, settings)
        self.served_batches.append(list(texts))
        return generated

    def check(self) -> None:
        if self.broken:
            raise RuntimeError("simulated device fault: no CUDA-capable device is detected")
        self.engine.check()
