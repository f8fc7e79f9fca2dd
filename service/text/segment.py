"""Plain-text articles to paragraphs and sentences (French in, English for key points)."""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from sentence_splitter import SentenceSplitter

_LINE_BREAK = re.compile(r"\r\n?|[\u2028\u2029\x0b\x0c\x85]")
_SPACES = re.compile(r"[^\S\n]+")
# The Moses splitter keeps no state, but it is cheap to give each thread its own instance.
_local = threading.local()


def normalize_text(text: str) -> str:
    """NFC-normalize, unify line breaks, turn tabs and no-break spaces into plain spaces."""
    text = unicodedata.normalize("NFC", text)
    text = _LINE_BREAK.sub("\n", text)
    return _SPACES.sub(" ", text)


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of a plain-text article.

    Blank lines separate paragraphs, and so does a single newline between two non-empty lines
    (the way CMS exports and the sample article are written).
    """
    return [line.strip() for line in normalize_text(text).split("\n") if line.strip()]


@lru_cache(maxsize=4)
def _language_supported(language: str) -> bool:
    try:
        SentenceSplitter(language=language)
    except Exception:  # the library raises a bare Exception for unknown languages
        return False
    return True


def _splitter(language: str) -> SentenceSplitter:
    cache: dict[str, SentenceSplitter] = getattr(_local, "splitters", {})
    _local.splitters = cache
    if language not in cache:
        cache[language] = SentenceSplitter(
            language=language if _language_supported(language) else "en"
        )
    return cache[language]


def split_sentences(paragraph: str, language: str = "fr") -> list[str]:
    """Sentences of one paragraph, with the Moses rules and non-breaking prefixes of `language`."""
    return [s.strip() for s in _splitter(language).split(paragraph) if s.strip()]


@dataclass
class SegmentedArticle:
    """An article as translation sees it: an optional title, then paragraphs, as sentences."""

    title: list[str] | None
    paragraphs: list[list[str]] = field(default_factory=list)

    def all_sentences(self) -> list[str]:
        """Title sentences first, then every paragraph's, in reading order."""
        head = self.title or []
        return head + [s for p in self.paragraphs for s in p]

    @property
    def sentence_count(self) -> int:
        return len(self.all_sentences())


def segment_article(text: str, title: str | None = None, language: str = "fr") -> SegmentedArticle:
    """Split an article's title and body into sentences, paragraph by paragraph."""
    title_sentences = None
    if title is not None and title.strip():
        title_text = " ".join(split_paragraphs(title))
        title_sentences = split_sentences(title_text, language)
    return SegmentedArticle(
        title=title_sentences,
        paragraphs=[split_sentences(p, language) for p in split_paragraphs(text)],
    )
