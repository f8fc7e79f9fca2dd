"""Cutting text into pieces that fit a model's input window, on the widest boundary that works."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

CountTokens = Callable[[Sequence[str]], list[int]]
"""Token counts of texts as the model will see them (special tokens included)."""

# Clause boundaries: after ; : , and dashes, the places a translator would cut a long sentence.
_CLAUSE = re.compile(r"(?<=[;:,])\s+|\s+(?=[–—-]\s)")


def pack(pieces: Sequence[str], sizes: Sequence[int], limit: int, overhead: int) -> list[str]:
    """Greedily join consecutive pieces with spaces while their total stays within `limit`.

    `sizes` are the pieces' token counts without the model's special tokens (`overhead`).
    A piece that alone exceeds the limit is returned on its own; callers cut it further.
    """
    chunks: list[str] = []
    current: list[str] = []
    used = overhead
    for piece, size in zip(pieces, sizes, strict=True):
        if current and used + size > limit:
            chunks.append(" ".join(current))
            current, used = [], overhead
        current.append(piece)
        used += size
    if current:
        chunks.append(" ".join(current))
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
    overhead = count([""])[0]
    for splitter in (_CLAUSE.split, str.split):
        parts = [p for p in splitter(text) if p]
        if len(parts) < 2:
            continue
        sizes = [n - overhead for n in count(parts)]
        chunks = pack(parts, sizes, limit, overhead)
        if len(chunks) > 1:
            return [piece for chunk in chunks for piece in split_to_fit(chunk, count, limit)]
    return _cut_characters(text, count, limit)
