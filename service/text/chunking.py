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
    if not pieces:
        return []
    overhead = count([""])[0]
    sizes = [n - overhead for n in count(pieces)]

    def fits(start: int, end: int) -> bool:
        return count([" ".join(pieces[start:end])])[0] <= limit

    chunks: list[str] = []
    start = 0
    while start < len(pieces):
        end, used = start + 1, overhead + sizes[start]
        while end < len(pieces) and used + sizes[end] <= limit:
            used += sizes[end]
            end += 1
        if end - start > 1 and not fits(start, end):
            # Longest prefix that fits: one piece always does (or is left for the caller).
            low, high = start + 1, end - 1
            while low < high:
                middle = (low + high + 1) // 2
                if fits(start, middle):
                    low = middle
                else:
                    high = middle - 1
            end = low
        chunks.append(" ".join(pieces[start:end]))
        start = end
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
