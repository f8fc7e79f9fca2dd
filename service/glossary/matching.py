"""Finding terms in a sentence: glossary and do-not-translate terms (case and accents ignored,
whole words only, longest first), and the URLs, e-mail addresses, @handles and #hashtags every
article keeps as they are."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from service.glossary.terms import Term, fold

# A URL runs to the next space or angle bracket/quote; trailing punctuation is the sentence's.
_URL = re.compile(r"(?<![\w@/])(?:https?://|www\.)[^\s<>\"«»“”]+", re.IGNORECASE)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")
# A handle or hashtag starts after a non-word character; a hashtag needs one letter (#1 is a
# rank, not a tag).
_HANDLE = re.compile(r"(?<![\w@.])@[A-Za-z0-9_]{1,30}(?![\w@])")
_HASHTAG = re.compile(r"(?<![\w&#])#\w*[^\W\d_]\w*")
_TRAILING = ".,;:!?…'’\"»”)]}"


@dataclass(frozen=True)
class Match:
    """`term` found at `start:end` of the original sentence (`text` is what is there)."""

    start: int
    end: int
    term: Term
    text: str


def _trim_url(url: str) -> str:
    """A URL without the sentence punctuation glued to its end; a closing bracket stays when
    the URL opened it (`…/Paris_(France)`)."""
    while url and url[-1] in _TRAILING:
        closing = url[-1]
        opening = {")": "(", "]": "[", "}": "{"}.get(closing)
        if opening is not None and url.count(opening) >= url.count(closing):
            break
        url = url[:-1]
    return url


def protected_spans(sentence: str) -> list[Match]:
    """URLs, e-mail addresses, @handles and #hashtags in `sentence`, left to right, no overlap
    (a URL wins over the handle or address inside it)."""
    found: list[Match] = []

    def add(start: int, text: str) -> None:
        end = start + len(text)
        if text and not any(start < m.end and m.start < end for m in found):
            found.append(Match(start, end, Term(text, text, "protected"), text))

    for match in _URL.finditer(sentence):
        add(match.start(), _trim_url(match.group()))
    for pattern in (_EMAIL, _HANDLE, _HASHTAG):
        for match in pattern.finditer(sentence):
            add(match.start(), match.group())
    return sorted(found, key=lambda m: m.start)


def _first_word(key: str) -> str | None:
    """The leading run of letters and digits of a folded term, or None when it starts with
    something else (`#tag`, `(PS)`)."""
    end = 0
    while end < len(key) and key[end].isalnum():
        end += 1
    return key[:end] or None


class TermIndex:
    """Terms indexed by their first word, so a sentence is scanned once whatever the size of
    the glossary."""

    def __init__(self, terms: Sequence[Term]) -> None:
        self.terms = tuple(terms)
        # first word -> key length -> key -> term: a position is checked against each length
        # once, however many terms share their first word.
        self._by_word: dict[str, dict[int, dict[str, Term]]] = {}
        self._other: dict[str, Term] = {}
        for term in self.terms:
            key = term.key
            word = _first_word(key)
            if word is None:
                self._other.setdefault(key, term)
            else:
                lengths = self._by_word.setdefault(word, {})
                lengths.setdefault(len(key), {}).setdefault(key, term)

    def __bool__(self) -> bool:
        return bool(self.terms)

    def find(self, sentence: str, taken: Sequence[Match] = ()) -> list[Match]:
        """Every term in `sentence` on word boundaries (case, accents, apostrophe and dash
        styles ignored), longest first: a match that overlaps a longer one, or one of `taken`,
        is dropped. Returned left to right."""
        if not self.terms:
            return []
        folded, origin = fold(sentence)
        candidates: list[tuple[int, int, Term]] = []

        def consider(key: str, term: Term, start: int) -> None:
            end = start + len(key)
            if not folded.startswith(key, start):
                return
            if key[0].isalnum() and start > 0 and folded[start - 1].isalnum():
                return
            if key[-1].isalnum() and end < len(folded) and folded[end].isalnum():
                return
            candidates.append((start, end, term))

        position = 0
        while position < len(folded):
            if folded[position].isalnum() and (position == 0 or not folded[position - 1].isalnum()):
                end = position
                while end < len(folded) and folded[end].isalnum():
                    end += 1
                for length, keys in self._by_word.get(folded[position:end], {}).items():
                    term = keys.get(folded[position : position + length])
                    if term is not None:
                        consider(term.key, term, position)
                position = end
            else:
                position += 1
        for key, term in self._other.items():
            start = folded.find(key)
            while start != -1:
                consider(key, term, start)
                start = folded.find(key, start + 1)

        spans = [(m.start, m.end) for m in taken]
        chosen: list[Match] = []
        for start, end, term in sorted(candidates, key=lambda c: (c[0] - c[1], c[0])):
            first, last = origin[start], origin[end - 1] + 1
            while last < len(sentence) and unicodedata.combining(sentence[last]):
                last += 1  # a decomposed accent belongs to the letter before it
            if any(first < b and a < last for a, b in spans):
                continue
            spans.append((first, last))
            chosen.append(Match(first, last, term, sentence[first:last]))
        return sorted(chosen, key=lambda m: m.start)


@lru_cache(maxsize=8)  # the glossaries in use; a 10,000-term index is a few MB
def term_index(terms: tuple[Term, ...]) -> TermIndex:
    """The index of a set of terms, kept for the next request with the same glossary."""
    return TermIndex(terms)


def find_terms(sentence: str, index: TermIndex) -> list[Match]:
    """What protection keeps in `sentence`: its URLs, addresses, handles and hashtags, then
    the glossary's and do_not_translate's terms outside them; left to right."""
    protected = protected_spans(sentence)
    return sorted([*protected, *index.find(sentence, protected)], key=lambda m: m.start)
