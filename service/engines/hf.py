"""The transformers engine: a Hugging Face seq2seq model and tokenizer behind a lock.

Precision: float32; bfloat16 and float16 by casting the weights; int8 by torch's dynamic
quantization of every `nn.Linear` (CPU only). `service.engines.registry.resolve_precision` has
already refused the combinations that cannot run (the table is `hf_backend`'s).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from typing import Any

import torch

from service.device import DeviceChoice, ResolvedPrecision
from service.engines.base import (
    Encoded,
    Generated,
    GenerationSettings,
    ModelInfo,
    count_tokens_locked,
    encode_locked,
)

# Tokenizers count well past the window; the model only ever sees inputs already cut to fit.
_NO_LIMIT = 1_000_000_000

_LOAD_DTYPES: dict[ResolvedPrecision, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "int8": torch.float32,  # loaded in float32, then quantized
}


def load_dtype(precision: ResolvedPrecision) -> torch.dtype:
    """The dtype to pass to `from_pretrained` for a precision (int8: float32, then quantized)."""
    if precision not in _LOAD_DTYPES:
        raise ValueError(f"the transformers engine cannot run in {precision}")
    return _LOAD_DTYPES[precision]


def dtype_name(dtype: torch.dtype) -> str:
    """torch's name of a dtype without the module, as `DeviceChoice.dtype` holds it."""
    return str(dtype).removeprefix("torch.")


def apply_precision(model: Any, precision: ResolvedPrecision) -> Any:
    """Cast or quantize a loaded model; int8 replaces each `nn.Linear` by a dynamic int8 one."""
    if precision == "int8":
        quantize = getattr(getattr(torch.ao, "quantization", None), "quantize_dynamic", None)
        if quantize is None:
            raise ValueError(
                f"torch {torch.__version__} has no dynamic int8 quantization: set "
                "DEPECHE_PRECISION=float32, or convert the model for DEPECHE_ENGINE=ctranslate2"
            )
        with warnings.catch_warnings():
            # torch deprecates eager-mode quantization in favour of torchao, which we do not use.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
            return quantize(model, {torch.nn.Linear}, dtype=torch.qint8)
    dtype = load_dtype(precision)
    if model.dtype != dtype:
        model = model.to(dtype)
    return model


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

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        return encode_locked(self.tokenizer, self._lock, texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return count_tokens_locked(self.tokenizer, self._lock, texts)

    def _batch(self, inputs: Sequence[Encoded]) -> dict[str, torch.Tensor]:
        """The encoded inputs padded into one batch on the tokenizer's padding side, as
        `tokenizer(texts, padding=True)` would make it, without tokenizing again."""
        longest = max(item.size for item in inputs)
        if longest > self._window:
            raise ValueError(
                f"input of {longest} tokens exceeds the {self._window}-token window of "
                f"{self.info.id}"
            )
        pad_id = self.tokenizer.pad_token_id
        ids = torch.full((len(inputs), longest), pad_id if pad_id is not None else 0)
        mask = torch.zeros((len(inputs), longest), dtype=torch.long)
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        for row, item in enumerate(inputs):
            span = slice(longest - item.size, longest) if left else slice(0, item.size)
            ids[row, span] = torch.tensor(item.ids, dtype=torch.long)
            mask[row, span] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def generate(self, inputs: Sequence[Encoded], settings: GenerationSettings) -> Generated:
        if not inputs:
            return Generated([], 0, 0, ())
        kwargs: dict[str, Any] = {}
        if settings.num_beams is not None:
            kwargs["num_beams"] = settings.num_beams
        if settings.max_length is not None:
            kwargs["max_length"] = settings.max_length
        if settings.min_length is not None:
            kwargs["min_length"] = settings.min_length
        step = settings.sub_batch or len(inputs)
        texts: list[str] = []
        lengths: list[int] = []
        for start in range(0, len(inputs), step):
            group_texts, group_lengths = self._generate(inputs[start : start + step], kwargs)
            texts.extend(group_texts)
            lengths.extend(group_lengths)
        input_tokens = sum(item.size for item in inputs)
        return Generated(texts, input_tokens, sum(lengths), tuple(lengths))

    def _generate(
        self, inputs: Sequence[Encoded], kwargs: dict[str, Any]
    ) -> tuple[list[str], list[int]]:
        """One `model.generate` over `inputs`: their texts and output tokens each."""
        pad_id = self.tokenizer.pad_token_id
        batch = {
            name: tensor.to(self.device.device) for name, tensor in self._batch(inputs).items()
        }
        with self._lock, torch.inference_mode():
            output = self.model.generate(**batch, **kwargs)
            decoded = self.tokenizer.batch_decode(output, skip_special_tokens=True)
        generated = output[:, 1:]  # column 0 is the decoder start token, fed, not generated
        counts = (
            (generated != pad_id).sum(dim=1)
            if pad_id is not None
            else torch.full((generated.shape[0],), generated.shape[1])
        )
        return [text.strip() for text in decoded], [int(count) for count in counts.tolist()]

    def check(self) -> None:
        with torch.inference_mode():
            dtype = getattr(torch, self.device.dtype)
            probe = torch.ones(2, 2, device=self.device.device, dtype=dtype)
            value = float((probe @ probe).sum())
        if value != 8.0:
            raise RuntimeError(f"device check on {self.device.label} returned {value}, not 8")
