"""Cutting text into pieces that fit a model's input window, on the widest boundary that works."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

CountTokens = Callable[[Sequence[str]], list[int]]
"""Token counts of texts as the model will see them (special tokens included)."""

# Clause boundaries: after ; : , and dashes, the places a translator would cut a long sentence.
_CLAUSE = re.compile(r"(?<=[;:,])\s+|\s+(?=[–—-]\s)")


def pack(pieces: Sequence[str], count: CountTokens, limit: int) -> list[str]:
    """Join consecutive pieces with single spaces into chunks of at most `limit` tokens each.

    A chunk is measured as it will be encoded: `count` of its joined text. The pieces' own
    sizes only propose where a chunk ends. They miss what the join adds: a byte-level BPE
    encodes a word after a space as a different token than the same word at the start of a
    text, and a SentencePiece model may merge across the join. A proposal over the limit is
    therefore measured again, shorter, until its text fits. A piece that alone exceeds the
    limit is returned on its own; callers cut it further.
    """
    packer = Packer(count, limit)
    return packer.extend(pieces) + packer.finish()


class Packer:
    """`pack`, fed as the pieces come: `extend` returns the chunks its pieces made final,
    `finish` the rest; together they are `pack` of all the pieces, chunk for chunk.

    Packing is greedy left to right, so a chunk is final as soon as the next piece would not
    fit it by size: what follows can no longer change where it ends.
    """

    def __init__(self, count: CountTokens, limit: int) -> None:
        self.count = count
        self.limit = limit
        self._overhead: int | None = None  # what the tokenizer adds to any text
        self._pieces: list[str] = []  # not yet in a final chunk
        self._sizes: list[int] = []

    def extend(self, pieces: Sequence[str]) -> list[str]:
        if not pieces:
            return []
        if self._overhead is None:
            self._overhead = self.count([""])[0]
        self._pieces.extend(pieces)
        self._sizes.extend(n - self._overhead for n in self.count(pieces))
        return self._drain(final=False)

    def finish(self) -> list[str]:
        return self._drain(final=True)

    def _fits(self, end: int) -> bool:
        return self.count([" ".join(self._pieces[:end])])[0] <= self.limit

    def _drain(self, final: bool) -> list[str]:
        pieces, sizes, limit = self._pieces, self._sizes, self.limit
        chunks: list[str] = []
        while pieces:
            end, used = 1, (self._overhead or 0) + sizes[0]
            while end < len(pieces) and used + sizes[end] <= limit:
                used += sizes[end]
                end += 1
            if end == len(pieces) and not final:
                break  # the next piece may still join this chunk
            if end > 1 and not self._fits(end):
                # Longest prefix that fits: one piece always does (or is left for the caller).
                low, high = 1, end - 1
                while low < high:
                    middle = (low + high + 1) // 2
                    if self._fits(middle):
                        low = middle
                    else:
                        high = middle - 1
                end = low
            chunks.append(" ".join(pieces[:end]))
            del pieces[:end]
            del sizes[:end]
        return chunks


def _cut_characters(text: str, count: CountTokens, limit: int) -> list[str]:
    """Last resort for a 'word' longer than the window (a URL, a pasted table): halve it."""
    if len(text) <= 1 or count([text])[0] <= limit:
        return [text]
    middle = len(text) // 2
    return _cut_characters(text[:middle], count, limit) + _cut_characters(
        text[middle:], count, limit
    )


def split_to_fit(text: str, count: CountTokens, limit: int) -> list[str]:
    """Cut `text` into consecutive pieces of at most `limit` tokens each, losing nothing.

    Tries clause boundaries first, then words, then characters. Joining the pieces with single
    spaces gives back the text with its whitespace normalized.
    """
    if count([text])[0] <= limit:
        return [text]
    for splitter in (_CLAUSE.split, str.split):
        parts = [p for p in splitter(text) if p]
        if len(parts) < 2:
            continue
        chunks = pack(parts, count, limit)
        if len(chunks) > 1:
            return [piece for chunk in chunks for piece in split_to_fit(chunk, count, limit)]
    return _cut_characters(text, count, limit)
