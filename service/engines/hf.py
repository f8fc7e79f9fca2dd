"""The transformers engine: a Hugging Face seq2seq model and tokenizer behind a lock."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import torch

from service.device import DeviceChoice
from service.engines.base import Generated, GenerationSettings, ModelInfo

# Tokenizers count well past the window; the model only ever sees inputs already cut to fit.
_NO_LIMIT = 1_000_000_000


class HFSeq2SeqEngine:
    """MarianMT, BART and kin through `generate`; one lock per model makes calls thread-safe."""

    def __init__(self, model: Any, tokenizer: Any, info: ModelInfo, device: DeviceChoice) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self.device = device
        self._lock = threading.Lock()
        windows = [getattr(model.config, "max_position_embeddings", None)]
        tokenizer_window = getattr(tokenizer, "model_max_length", None)
        if isinstance(tokenizer_window, int) and tokenizer_window < _NO_LIMIT:
            windows.append(tokenizer_window)
        self._window = min(w for w in windows if isinstance(w, int) and w > 0)

    @property
    def max_input_tokens(self) -> int:
        return self._window

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        with self._lock:  # fast tokenizers are not safe to share across threads
            encoded = self.tokenizer(list(texts), truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def generate(self, texts: Sequence[str], settings: GenerationSettings) -> Generated:
        if not texts:
            return Generated([], 0, 0)
        kwargs: dict[str, Any] = {}
        if settings.num_beams is not None:
            kwargs["num_beams"] = settings.num_beams
        if settings.max_length is not None:
            kwargs["max_length"] = settings.max_length
        if settings.min_length is not None:
            kwargs["min_length"] = settings.min_length
        pad_id = self.tokenizer.pad_token_id
        with self._lock, torch.inference_mode():
            batch = self.tokenizer(list(texts), return_tensors="pt", padding=True, truncation=False)
            if batch["input_ids"].shape[1] > self._window:
                raise ValueError(
                    f"input of {batch['input_ids'].shape[1]} tokens exceeds the "
                    f"{self._window}-token window of {self.info.id}"
                )
            batch = batch.to(self.device.device)
            output = self.model.generate(**batch, **kwargs)
            decoded = self.tokenizer.batch_decode(output, skip_special_tokens=True)
        input_tokens = int(batch["attention_mask"].sum())
        output_tokens = int((output != pad_id).sum()) if pad_id is not None else output.numel()
        return Generated([text.strip() for text in decoded], input_tokens, output_tokens)

    def check(self) -> None:
        with torch.inference_mode():
            probe = torch.ones(2, 2, device=self.device.device, dtype=self.device.dtype)
            value = float((probe @ probe).sum())
        if value != 8.0:
            raise RuntimeError(f"device check on {self.device.label} returned {value}, not 8")
