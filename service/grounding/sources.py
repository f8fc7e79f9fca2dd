"""Which article sentences a key point rests on: a coverage score 0..1, best first (pure).

The score of a sentence for a point is the share of the point's content words that the
sentence's English also has: both are lower-cased, accent-folded, stripped of English function
words and stemmed with the Snowball (Porter2) English stemmer (PyStemmer), so `negotiations` and
`negotiating` count as one word. 1.0 means every content word of the point is in the
sentence; 0.5 half of them. Plain overlap is chosen over a fuzzy ratio (rapidfuzz's
`token_set_ratio`, for instance) because its value says something an editor can check by eye
("which of my words are in that sentence"), and a summarizer copies words rather than
misspelling them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import Stemmer  # PyStemmer: the Snowball stemmers, compiled

from service.grounding.facts import folded_tokens, word_set

MIN_SCORE = 0.3
"""A sentence must cover at least this share of a point's content words to be one of its
sources."""
MAX_SOURCES = 3
"""At most this many sources per point, best first."""

# English function words: they say nothing about which sentence a point comes from.
STOPWORDS = word_set(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not of off on once only or other
    our ours ourselves out over own same she should so some such than that the their theirs
    them themselves then there these they this those through to too under until up very was
    we were what when where which while who whom why will with would you your yours yourself
    yourselves s t d ll m o re ve y said says say according may might must shall"""
)

_stemmer = Stemmer.Stemmer("english")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    stem: str = _stemmer.stemWord(word)
    return stem


def content_word_list(text: str) -> list[str]:
    """The stemmed, folded content words of an English text, in order (digits as they are)."""
    return [
        _stem(token) if not token.isdigit() else token
        for token in folded_tokens(text)
        if token not in STOPWORDS
    ]


def content_words(text: str) -> frozenset[str]:
    """The set of `content_word_list(text)`."""
    return frozenset(content_word_list(text))


def coverage(point: frozenset[str], sentence: frozenset[str]) -> float:
    """Share of the point's content words the sentence has, rounded to 2 decimals."""
    if not point:
        return 0.0
    return round(len(point & sentence) / len(point), 2)


@dataclass(frozen=True)
class Ranked:
    """One source candidate: a sentence's position in the list given, and its score."""

    index: int
    score: float


def rank_sources(
    point: str,
    sentences: Sequence[frozenset[str]],
    min_score: float = MIN_SCORE,
    limit: int = MAX_SOURCES,
) -> list[Ranked]:
    """The sentences (by their content words) that cover at least `min_score` of the point,
    best first, ties in reading order, at most `limit`."""
    words = content_words(point)
    scored = [Ranked(i, coverage(words, sentence)) for i, sentence in enumerate(sentences)]
    kept = [r for r in scored if r.score >= min_score and r.score > 0]
    kept.sort(key=lambda r: (-r.score, r.index))
    return kept[:limit]
