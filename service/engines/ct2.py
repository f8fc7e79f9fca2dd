"""The CTranslate2 engine: a model converted by scripts/convert_models.py and its tokenizer.

The converted folder holds `model.bin` and CTranslate2's own `config.json`, the source model's
tokenizer files and `generation_config.json`, and the source's transformers config as
`hf_config.json`. Decoding follows the model's generation config the way `generate` reads it,
so that greedy decoding gives the same tokens as the transformers engine in float32:

- the source is the tokenizer's tokens, special tokens included (`</s>` at the end);
- a `forced_bos_token_id` (BART: `<s>`) becomes the target prefix, and is dropped from the text;
- transformers' `max_length`/`min_length` count the decoder start token, CTranslate2's decoding
  lengths do not; a `forced_eos_token_id` takes the last position when the length runs out;
- `bad_words_ids` (Marian: `<pad>`) become suppressed sequences.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.engines.base import Encoded, Generated, GenerationSettings, ModelInfo
from service.engines.codec import Codec, load_codec

CT2_WEIGHTS = "model.bin"
"""The file that marks a folder as a converted CTranslate2 model."""

HF_CONFIG = "hf_config.json"
"""The source model's transformers `config.json`, kept under this name by the converter
(CTranslate2 writes its own `config.json`)."""

GENERATION_CONFIG = "generation_config.json"

_VOCABULARY_FILES = ("shared_vocabulary.json", "target_vocabulary.json")

# Tokenizers count well past the window; the model only ever sees inputs already cut to fit.
_NO_LIMIT = 1_000_000_000


def ct2_installed() -> bool:
    """Whether the ctranslate2 package is installed (without importing it)."""
    return importlib.util.find_spec("ctranslate2") is not None


def weights_quantization(precision: str) -> str:
    """The converted copy a CTranslate2 precision runs from: int8_bfloat16 computes with the
    int8 weights (bfloat16 activations), every other precision has a copy of its own name."""
    return "int8" if precision == "int8_bfloat16" else precision


def is_converted(folder: Path) -> bool:
    """True when `folder` holds CTranslate2 weights."""
    return (folder / CT2_WEIGHTS).is_file()


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _target_vocabulary(folder: Path) -> set[str] | None:
    for name in _VOCABULARY_FILES:
        path = folder / name
        if path.is_file():
            return set(json.loads(path.read_text(encoding="utf-8")))
    return None


# Names that AutoTokenizer maps to something else, or that need its remote-code handling.
_AUTO_ONLY_TOKENIZERS = frozenset({"PythonBackend"})


def load_tokenizer(folder: Path) -> Any:
    """The tokenizer saved beside converted weights, as the class its `tokenizer_config.json`
    names (scripts/convert_models.py always records it).

    Not AutoTokenizer: it reads the folder's `config.json` through transformers' configuration
    module, which imports torch whenever torch is installed (`transformers.configuration_utils`
    imports `modeling_rope_utils`, which does `import torch`), and a CTranslate2 model needs no
    torch. The tokenizer class itself loads without it. A folder that names no class, an
    unknown one, or remote code falls back to AutoTokenizer.
    """
    import transformers

    config = _read_json(folder / "tokenizer_config.json")
    name = config.get("tokenizer_class")
    cls: Any = None
    if (
        isinstance(name, str)
        and name.isidentifier()
        and name not in _AUTO_ONLY_TOKENIZERS
        and "auto_map" not in config
    ):
        cls = getattr(transformers, name, None)
        if cls is None and name.endswith("Fast"):  # saved by transformers 4
            cls = getattr(transformers, name.removesuffix("Fast"), None)
    if cls is None or not hasattr(cls, "from_pretrained"):
        cls = transformers.AutoTokenizer
    return cls.from_pretrained(str(folder), local_files_only=True)


@dataclass(frozen=True)
class DecodingDefaults:
    """The model's own generation config, with transformers' defaults where it says nothing."""

    num_beams: int = 1
    max_length: int = 20
    min_length: int = 0
    length_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    repetition_penalty: float = 1.0
    prefix: tuple[str, ...] = ()
    """Tokens the decoder is forced to start with (BART: `<s>`)."""
    forced_eos: bool = False
    """transformers forces `</s>` at the last position when `max_length` is reached."""
    suppress: tuple[tuple[str, ...], ...] = ()
    """Token sequences never generated (Marian: `<pad>`)."""


def read_decoding_defaults(folder: Path, codec: Codec) -> DecodingDefaults:
    """Read `generation_config.json` (else `hf_config.json`) beside a converted model."""
    config = _read_json(folder / GENERATION_CONFIG) or _read_json(folder / HF_CONFIG)
    base = DecodingDefaults()
    forced_bos = config.get("forced_bos_token_id")
    prefix = tuple(codec.ids_to_tokens([int(forced_bos)])) if forced_bos is not None else ()
    vocabulary = _target_vocabulary(folder)
    suppress: list[tuple[str, ...]] = []
    for ids in config.get("bad_words_ids") or []:
        tokens = tuple(codec.ids_to_tokens([int(i) for i in ids]))
        # A token the converter left out of the vocabulary (stock Marian conversion drops <pad>)
        # can never be generated; naming it would suppress <unk> instead.
        if vocabulary is None or all(token in vocabulary for token in tokens):
            suppress.append(tokens)
    return DecodingDefaults(
        num_beams=int(config.get("num_beams") or base.num_beams),
        max_length=int(config.get("max_length") or base.max_length),
        min_length=int(config.get("min_length") or base.min_length),
        length_penalty=float(config.get("length_penalty", base.length_penalty)),
        no_repeat_ngram_size=int(config.get("no_repeat_ngram_size") or 0),
        repetition_penalty=float(config.get("repetition_penalty") or base.repetition_penalty),
        prefix=prefix,
        forced_eos=config.get("forced_eos_token_id") is not None,
        suppress=tuple(suppress),
    )


def model_window(folder: Path, codec: Codec) -> int:
    """The input window: the source config's `max_position_embeddings` and the tokenizer's."""
    windows = [_read_json(folder / HF_CONFIG).get("max_position_embeddings")]
    tokenizer_window = codec.model_max_length
    if isinstance(tokenizer_window, int) and tokenizer_window < _NO_LIMIT:
        windows.append(tokenizer_window)
    known = [w for w in windows if isinstance(w, int) and w > 0]
    if not known:
        raise ValueError(
            f"{folder} says nothing about the model's input window: convert it with "
            f"scripts/convert_models.py, which keeps the source config as {HF_CONFIG}"
        )
    return min(known)


class CT2Seq2SeqEngine:
    """MarianMT and BART through `ctranslate2.Translator`, which is safe to call from several
    threads at once; only the tokenizer (a `Codec`), which is not, sits behind a lock."""

    def __init__(
        self,
        translator: Any,
        codec: Codec,
        info: ModelInfo,
        *,
        window: int,
        defaults: DecodingDefaults,
        vocabulary_map: bool = False,
    ) -> None:
        self.translator = translator
        self.codec = codec
        self.info = info
        self.defaults = defaults
        self.vocabulary_map = vocabulary_map
        """Whether calls score only the folder's `vmap.txt` candidates (`service.engines.vmap`)."""
        self._window = window
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        folder: Path,
        info: ModelInfo,
        *,
        device: str,
        compute_type: str,
        intra_threads: int,
        inter_threads: int,
        vocabulary_map: bool = False,
    ) -> CT2Seq2SeqEngine:
        """Load a converted folder: the translator on `device`, the tokenizer beside it (without
        transformers when the converter wrote its runtime record: `service.engines.codec`);
        with `vocabulary_map`, its `vmap.txt`, checked (`service.engines.vmap.check_vmap`)."""
        import ctranslate2  # type: ignore[import-untyped]

        if vocabulary_map:
            from service.engines.vmap import check_vmap

            check_vmap(folder)
        codec = load_codec(folder)
        translator = ctranslate2.Translator(
            str(folder),
            device=device,
            compute_type=compute_type,
            intra_threads=intra_threads,
            inter_threads=inter_threads,
        )
        return cls(
            translator,
            codec,
            info,
            window=model_window(folder, codec),
            defaults=read_decoding_defaults(folder, codec),
            vocabulary_map=vocabulary_map,
        )

    @property
    def max_input_tokens(self) -> int:
        return self._window

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        if not texts:
            return []
        with self._lock:
            ids = self.codec.encode(texts)
        return [Encoded(text, tuple(item)) for text, item in zip(texts, ids, strict=True)]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [item.size for item in self.encode(texts)]

    def _options(self, settings: GenerationSettings) -> dict[str, Any]:
        d = self.defaults
        max_length = settings.max_length if settings.max_length is not None else d.max_length
        min_length = settings.min_length if settings.min_length is not None else d.min_length
        # transformers counts the decoder start token in both lengths, and spends the last
        # position on the forced </s>; CTranslate2 counts generated tokens, prefix included.
        max_decoding = max(1, max_length - 1 - (1 if d.forced_eos else 0))
        options: dict[str, Any] = {
            "beam_size": settings.num_beams or d.num_beams,
            "max_decoding_length": max_decoding,
            "min_decoding_length": min(max(0, min_length - 1), max_decoding),
            "length_penalty": d.length_penalty,
            "no_repeat_ngram_size": d.no_repeat_ngram_size,
            "repetition_penalty": d.repetition_penalty,
            "max_input_length": 0,  # never truncate: inputs already fit the window
            "return_end_token": True,  # counted in the output tokens, then dropped
        }
        if self.vocabulary_map:
            options["use_vmap"] = True
        if settings.sub_batch:
            options["max_batch_size"] = settings.sub_batch
            options["batch_type"] = "examples"
        if d.suppress:
            options["suppress_sequences"] = [list(tokens) for tokens in d.suppress]
        return options

    def generate(self, inputs: Sequence[Encoded], settings: GenerationSettings) -> Generated:
        if not inputs:
            return Generated([], 0, 0, ())
        longest = max(item.size for item in inputs)
        if longest > self._window:
            raise ValueError(
                f"input of {longest} tokens exceeds the {self._window}-token window of "
                f"{self.info.id}"
            )
        with self._lock:  # the ids as CTranslate2's tokens: a vocabulary lookup, no tokenizing
            sources = [self.codec.ids_to_tokens(item.ids) for item in inputs]
        prefix = [list(self.defaults.prefix) for _ in sources] if self.defaults.prefix else None
        results = self.translator.translate_batch(
            sources, target_prefix=prefix, **self._options(settings)
        )
        hypotheses: list[list[str]] = [result.hypotheses[0] for result in results]
        with self._lock:
            ids = [self.codec.tokens_to_ids(tokens) for tokens in hypotheses]
            decoded = self.codec.decode(ids)
        lengths = tuple(len(tokens) for tokens in hypotheses)
        return Generated(
            [text.strip() for text in decoded],
            sum(item.size for item in inputs),
            sum(lengths),
            lengths,
        )

    def check(self) -> None:
        eos = self.codec.eos_token
        results = self.translator.translate_batch([[eos]], beam_size=1, max_decoding_length=1)
        if len(results) != 1 or len(results[0].hypotheses) != 1:
            raise RuntimeError(f"device check of {self.info.id} returned no hypothesis")
