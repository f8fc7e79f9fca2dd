"""The tokenizer of a converted CTranslate2 folder, without importing transformers.

Importing transformers and its tokenizer classes costs a CTranslate2 process about 0.8 s and
45 MB (on the full-size models: ready 1.57 s with it, 0.95 s without, 34 MiB less at load;
issue 10 §4 asks for ready within 3 s and 700 MB). The libraries
under them are small: `sentencepiece` for Marian, `tokenizers` for BART. So the converter,
which runs transformers anyway, writes `runtime_tokenizer.json` beside the weights: what the
transformers tokenizer it loaded does, spelled out (special tokens and their ids, the window,
which SentencePiece model decodes, whether spaces are cleaned up), and for a `tokenizers`
tokenizer the backend pipeline transformers built, saved as `runtime_tokenizer.backend.json`.
It writes them only when this module, reading them back, gives the same ids and the same text
as transformers on the converter's probes; `load_codec` falls back to transformers for a
folder without them (converted by an older version, or a tokenizer this module does not know).

What a codec does is what the CTranslate2 engine asked of transformers' tokenizers:
encode with special tokens (`tokenizer(texts)["input_ids"]`), ids to tokens and back, and
`batch_decode(..., skip_special_tokens=True)`. Marian follows transformers 5's
`MarianTokenizer` step for step: split on the added tokens, strip a leading `>>xx<<`
language code, SentencePiece pieces looked up in `vocab.json` (`<unk>` otherwise), `</s>`
appended; decoding drops the special ids and joins pieces with the source model when the
vocabulary is shared, as transformers does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from service.engines.base import token_ids

RECORD = "runtime_tokenizer.json"
"""Written by the converter beside the weights; read by `load_codec`."""
BACKEND = "runtime_tokenizer.backend.json"
"""A `tokenizers` pipeline, as transformers built it (kind `tokenizers` only)."""
FORMAT = 1

SPIECE_UNDERLINE = "▁"


class Codec(Protocol):
    """What the CTranslate2 engine needs of a tokenizer. Not thread-safe: callers lock."""

    eos_token: str
    model_max_length: int | None
    """The tokenizer's own window, when it states one."""

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's ids, special tokens included."""
        ...

    def ids_to_tokens(self, ids: Sequence[int]) -> list[str]: ...

    def tokens_to_ids(self, tokens: Sequence[str]) -> list[int]: ...

    def decode(self, sequences: Sequence[Sequence[int]]) -> list[str]:
        """Each sequence as text, special tokens dropped."""
        ...


def clean_up_tokenization(text: str) -> str:
    """transformers' `clean_up_tokenization`, for tokenizers whose config asks for it."""
    return (
        text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
    )


class _RecordCodec:
    """What both record codecs read the same way: the end token, the window, the clean-up."""

    def __init__(self, record: dict[str, Any]) -> None:
        window = record.get("model_max_length")
        self.eos_token = str(record["eos_token"])
        self.model_max_length = int(window) if isinstance(window, int) else None
        self._clean_up = bool(record.get("clean_up_tokenization_spaces", False))

    def _cleaned(self, text: str) -> str:
        return clean_up_tokenization(text) if self._clean_up else text


class MarianCodec(_RecordCodec):
    """transformers 5's `MarianTokenizer` (shared vocabulary) on `sentencepiece` alone."""

    def __init__(self, folder: Path, record: dict[str, Any]) -> None:
        import sentencepiece

        super().__init__(record)
        vocab = json.loads((folder / record["vocab"]).read_text(encoding="utf-8"))
        self._encoder: dict[str, int] = {str(k): int(v) for k, v in vocab.items()}
        self._decoder: dict[int, str] = {v: k for k, v in self._encoder.items()}
        self._added: dict[str, int] = {str(k): int(v) for k, v in record["added_tokens"].items()}
        self._added_by_id: dict[int, str] = {v: k for k, v in self._added.items()}
        self._special_ids = frozenset(int(i) for i in record["special_ids"])
        self._special_tokens = frozenset(str(t) for t in record["special_tokens"])
        self._unk_token = str(record["unk_token"])
        self._unk_id = self._encoder[self._unk_token]
        self._eos_id = int(record["eos_id"])
        self._source = sentencepiece.SentencePieceProcessor(
            model_file=str(folder / record["source_spm"])
        )
        self._decoding = sentencepiece.SentencePieceProcessor(
            model_file=str(folder / record["decode_spm"])
        )
        # transformers' trie: the leftmost match, the longest one there.
        names = sorted(self._added, key=len, reverse=True)
        pattern = "(" + "|".join(re.escape(n) for n in names) + ")"
        self._split = re.compile(pattern) if names else None

    def _pieces(self, text: str) -> list[str]:
        code: list[str] = []
        if text.startswith(">>") and (end := text.find("<<")) != -1:
            code.append(text[: end + 2])
            text = text[end + 2 :]
        pieces: list[str] = self._source.encode(text, out_type=str)
        return code + pieces

    def _tokens(self, text: str) -> list[str]:
        parts = self._split.split(text) if self._split else [text]
        tokens: list[str] = []
        for part in parts:
            if not part:
                continue
            if part in self._added or part in self._special_tokens:
                tokens.append(part)
            else:
                tokens.extend(self._pieces(part))
        return tokens

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return [[*self.tokens_to_ids(self._tokens(text)), self._eos_id] for text in texts]

    def tokens_to_ids(self, tokens: Sequence[str]) -> list[int]:
        ids: list[int] = []
        for token in tokens:
            found = self._added.get(token)
            if found is None:
                found = self._encoder.get(token, self._unk_id)
            ids.append(found)
        return ids

    def _token(self, index: int) -> str:
        if index in self._added_by_id:
            return self._added_by_id[index]
        if index in self._decoder:
            return self._decoder[index]
        piece: str = self._decoding.id_to_piece(index)
        return piece if piece else self._unk_token

    def ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        return [self._token(int(i)) for i in ids]

    def _string(self, tokens: Sequence[str]) -> str:
        current: list[str] = []
        out = ""
        for token in tokens:
            if token in self._special_tokens:
                out += str(self._decoding.decode_pieces(current)) + token + " "
                current = []
            else:
                current.append(token)
        out += str(self._decoding.decode_pieces(current))
        return out.replace(SPIECE_UNDERLINE, " ").strip()

    def decode(self, sequences: Sequence[Sequence[int]]) -> list[str]:
        texts = []
        for ids in sequences:
            kept = [int(i) for i in ids if int(i) not in self._special_ids]
            text = self._string(self.ids_to_tokens(kept))
            texts.append(self._cleaned(text))
        return texts


class TokenizersCodec(_RecordCodec):
    """A fast tokenizer: the `tokenizers` pipeline transformers built, read back as it was."""

    def __init__(self, folder: Path, record: dict[str, Any]) -> None:
        from tokenizers import Tokenizer

        super().__init__(record)
        self._tokenizer = Tokenizer.from_file(str(folder / record["backend"]))
        # transformers encodes with truncation and padding off, whatever the file says.
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._unk_id: int | None = record.get("unk_id")

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=True)
        return [list(encoding.ids) for encoding in encodings]

    def tokens_to_ids(self, tokens: Sequence[str]) -> list[int]:
        ids: list[int] = []
        for token in tokens:
            found = self._tokenizer.token_to_id(token)
            if found is None:
                if self._unk_id is None:
                    raise KeyError(f"token {token!r} is not in the vocabulary")
                found = self._unk_id
            ids.append(found)
        return ids

    def ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        return [str(self._tokenizer.id_to_token(int(i))) for i in ids]

    def decode(self, sequences: Sequence[Sequence[int]]) -> list[str]:
        texts = self._tokenizer.decode_batch(
            [list(ids) for ids in sequences], skip_special_tokens=True
        )
        return [self._cleaned(text) for text in texts]


class TransformersCodec:
    """A transformers tokenizer behind the same interface: the fallback for a folder without
    a runtime record."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.eos_token = str(tokenizer.eos_token)
        window = getattr(tokenizer, "model_max_length", None)
        self.model_max_length = window if isinstance(window, int) else None

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return token_ids(self.tokenizer, texts)

    def tokens_to_ids(self, tokens: Sequence[str]) -> list[int]:
        return list(self.tokenizer.convert_tokens_to_ids(list(tokens)))

    def ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        return list(self.tokenizer.convert_ids_to_tokens(list(ids)))

    def decode(self, sequences: Sequence[Sequence[int]]) -> list[str]:
        return list(
            self.tokenizer.batch_decode([list(s) for s in sequences], skip_special_tokens=True)
        )


# --- the record, written by the converter -------------------------------------------------------


class UnsupportedTokenizerError(Exception):
    """The tokenizer does something this module does not reproduce."""


def _plain_added_tokens(tokenizer: Any) -> dict[str, int]:
    added: dict[str, int] = {}
    for index, token in tokenizer.added_tokens_decoder.items():
        if token.lstrip or token.rstrip or token.single_word:
            raise UnsupportedTokenizerError(
                f"added token {token.content!r} strips spaces or is single-word"
            )
        added[str(token.content)] = int(index)
    return added


def describe(tokenizer: Any, folder: Path) -> tuple[dict[str, Any], str | None]:
    """The record for a loaded transformers tokenizer, and the backend pipeline to save beside
    it (kind `tokenizers`). Raises `UnsupportedTokenizerError` for one this module does not
    reproduce."""
    name = type(tokenizer).__name__
    window = getattr(tokenizer, "model_max_length", None)
    common: dict[str, Any] = {
        "format": FORMAT,
        "tokenizer_class": name,
        "eos_token": str(tokenizer.eos_token),
        # as transformers states it; `ct2.model_window` alone decides what counts as no limit
        "model_max_length": window if isinstance(window, int) else None,
        "clean_up_tokenization_spaces": bool(tokenizer.clean_up_tokenization_spaces),
    }
    if getattr(tokenizer, "split_special_tokens", False):
        raise UnsupportedTokenizerError("split_special_tokens is on")
    if name == "MarianTokenizer":
        if tokenizer.separate_vocabs or tokenizer.sp_model_kwargs:
            raise UnsupportedTokenizerError("separate vocabularies or SentencePiece options")
        if not all((folder / f).is_file() for f in ("source.spm", "vocab.json")):
            raise UnsupportedTokenizerError("source.spm or vocab.json is missing")
        record = {
            **common,
            "kind": "marian",
            "vocab": "vocab.json",
            "source_spm": "source.spm",
            # transformers decodes with the source model when the vocabulary is shared
            "decode_spm": "source.spm",
            "added_tokens": _plain_added_tokens(tokenizer),
            "special_ids": sorted(int(i) for i in tokenizer.all_special_ids),
            "special_tokens": sorted(str(t) for t in tokenizer.all_special_tokens),
            "unk_token": str(tokenizer.unk_token),
            "eos_id": int(tokenizer.eos_token_id),
        }
        return record, None
    backend = getattr(tokenizer, "_tokenizer", None)
    if getattr(tokenizer, "is_fast", False) and backend is not None and hasattr(backend, "to_str"):
        unk = tokenizer.unk_token_id
        record = {
            **common,
            "kind": "tokenizers",
            "backend": BACKEND,
            "unk_id": int(unk) if unk is not None else None,
        }
        return record, str(backend.to_str())
    raise UnsupportedTokenizerError(f"{name} is neither MarianTokenizer nor a fast tokenizer")


def read_record(folder: Path) -> dict[str, Any] | None:
    """The runtime record beside converted weights, or None (none, or another format)."""
    path = folder / RECORD
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        return None
    return record


def codec_from_record(folder: Path, record: dict[str, Any]) -> Codec:
    kind = record.get("kind")
    if kind == "marian":
        return MarianCodec(folder, record)
    if kind == "tokenizers":
        return TokenizersCodec(folder, record)
    raise UnsupportedTokenizerError(f"unknown tokenizer kind {kind!r} in {folder / RECORD}")


def load_codec(folder: Path) -> Codec:
    """The folder's tokenizer: from its runtime record when there is one, else transformers."""
    record = read_record(folder)
    if record is not None:
        return codec_from_record(folder, record)
    from service.engines.ct2 import load_tokenizer

    return TransformersCodec(load_tokenizer(folder))


def mismatch(codec: Codec, tokenizer: Any, texts: Sequence[str]) -> str | None:
    """How `codec` differs from the transformers `tokenizer` on `texts` (ids, and the decoded
    text of those ids), or None when it does not."""
    ours = codec.encode(texts)
    theirs = token_ids(tokenizer, texts)
    for text, a, b in zip(texts, ours, theirs, strict=True):
        if a != b:
            return f"{text!r} encodes to {a[:12]}… here and {b[:12]}… in transformers"
    decoded = codec.decode(theirs)
    expected = tokenizer.batch_decode(theirs, skip_special_tokens=True)
    for a_text, b_text in zip(decoded, expected, strict=True):
        if a_text != b_text:
            return f"decodes to {a_text!r} here and {b_text!r} in transformers"
    for ids in theirs:
        tokens = list(tokenizer.convert_ids_to_tokens(ids))
        if codec.ids_to_tokens(ids) != tokens:
            return f"ids {ids[:12]}… map to other tokens here than in transformers"
        if codec.tokens_to_ids(tokens) != list(tokenizer.convert_tokens_to_ids(tokens)):
            return f"tokens {tokens[:12]}… map to other ids here than in transformers"
    return None


def write_record(tokenizer: Any, folder: Path, probes: Sequence[str]) -> str | None:
    """Write the runtime record for `tokenizer` into the converted `folder` when it reproduces
    transformers on `probes`; return why not otherwise (the folder then keeps transformers)."""
    for stale in (RECORD, BACKEND):
        (folder / stale).unlink(missing_ok=True)
    try:
        record, backend = describe(tokenizer, folder)
    except UnsupportedTokenizerError as exc:
        return str(exc)
    if backend is not None:
        (folder / BACKEND).write_text(backend, encoding="utf-8")
    codec = codec_from_record(folder, record)
    why = mismatch(codec, tokenizer, probes)
    if why is not None:
        (folder / BACKEND).unlink(missing_ok=True)
        return why
    (folder / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return None
