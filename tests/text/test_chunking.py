"""Cutting to a window: every piece fits, nothing is lost, the widest boundary is used."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from service.text.chunking import pack, split_to_fit


def count_words(texts: Sequence[str]) -> list[int]:
    """One token per word plus one end-of-sequence token, like a tokenizer would add."""
    return [len(text.split()) + 1 for text in texts]


def test_short_text_is_untouched() -> None:
    assert split_to_fit("trois petits mots", count_words, 10) == ["trois petits mots"]


def test_prefers_clause_boundaries() -> None:
    text = "un deux trois, quatre cinq six; sept huit neuf"
    assert split_to_fit(text, count_words, 5) == [
        "un deux trois,",
        "quatre cinq six;",
        "sept huit neuf",
    ]


def test_falls_back_to_words() -> None:
    text = " ".join(f"mot{i}" for i in range(10))
    pieces = split_to_fit(text, count_words, 4)
    assert pieces == ["mot0 mot1 mot2", "mot3 mot4 mot5", "mot6 mot7 mot8", "mot9"]


def test_pack_respects_limit() -> None:
    assert pack(["a", "b", "c"], [2, 2, 2], limit=5, overhead=1) == ["a b", "c"]


@given(
    st.lists(st.text(alphabet="abc ,;:", min_size=1, max_size=12), min_size=1, max_size=30),
    st.integers(min_value=2, max_value=8),
)
def test_lossless_and_within_limit(words: list[str], limit: int) -> None:
    text = " ".join(w for w in words if w.strip()) or "x"
    pieces = split_to_fit(text, count_words, limit)
    assert " ".join(pieces).split() == text.split()
    assert all(count_words([p])[0] <= limit or len(p.split()) == 1 for p in pieces)
