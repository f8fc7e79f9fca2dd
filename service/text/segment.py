"""Article text to paragraphs and sentences, and translated sentences back into paragraphs."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
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
    """An article as translation sees it: headline, standfirst, paragraphs and captions, each as
    sentences (headline and standfirst are None when absent)."""

    title: list[str] | None
    paragraphs: list[list[str]] = field(default_factory=list)
    standfirst: list[str] | None = None
    captions: list[list[str]] = field(default_factory=list)

    def parts(self) -> list[list[str]]:
        """Sentences per part: title, standfirst, every paragraph, then every caption."""
        return [
            *([self.title] if self.title is not None else []),
            *([self.standfirst] if self.standfirst is not None else []),
            *self.paragraphs,
            *self.captions,
        ]

    def all_sentences(self) -> list[str]:
        """Title, standfirst, every paragraph's, then every caption's sentences, in that order."""
        return [s for part in self.parts() for s in part]

    @property
    def sentence_count(self) -> int:
        return len(self.all_sentences())

    def regroup(self, outputs: Sequence[str]) -> RegroupedText:
        """Put one output per sentence (in `all_sentences` order) back into the article's parts,
        sentences of a part joined by one space."""
        if len(outputs) != self.sentence_count:
            raise ValueError(f"{len(outputs)} outputs for {self.sentence_count} sentences")
        items = iter(outputs)

        def join(part: list[str]) -> str:
            return " ".join(next(items) for _ in part)

        title = join(self.title) if self.title is not None else None
        standfirst = join(self.standfirst) if self.standfirst is not None else None
        paragraphs = [join(p) for p in self.paragraphs]
        captions = [join(c) for c in self.captions]
        return RegroupedText(title, standfirst, paragraphs, captions)


@dataclass
class RegroupedText:
    """Text per part of a segmented article (one entry per paragraph and per caption)."""

    title: str | None
    standfirst: str | None
    paragraphs: list[str]
    captions: list[str]


def _one_paragraph(text: str | None, language: str) -> list[str] | None:
    """Sentences of a headline-like field, its lines joined; None when absent or blank."""
    if text is None or not text.strip():
        return None
    return split_sentences(" ".join(split_paragraphs(text)), language)


def segment_parts(
    paragraphs: Sequence[str],
    title: str | None = None,
    standfirst: str | None = None,
    captions: Sequence[str] = (),
    language: str = "fr",
) -> SegmentedArticle:
    """Split already separated paragraphs (e.g. HTML blocks), headline, standfirst and captions
    into sentences. Every paragraph and caption keeps its place, even when blank."""
    return SegmentedArticle(
        title=_one_paragraph(title, language),
        paragraphs=[split_sentences(p, language) for p in paragraphs],
        standfirst=_one_paragraph(standfirst, language),
        captions=[_one_paragraph(c, language) or [] for c in captions],
    )


def segment_article(text: str, title: str | None = None, language: str = "fr") -> SegmentedArticle:
    """Split an article's title and body into sentences, paragraph by paragraph."""
    return segment_parts(split_paragraphs(text), title, language=language)
