"""The article's sentences, French and English, numbered: from the pipeline or from /verify."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from service.results import ArticleSentence, PartName
from service.text.segment import SegmentedArticle, normalize_text, split_sentences


def build_sentences(segmented: SegmentedArticle, english: Sequence[str]) -> list[ArticleSentence]:
    """One entry per source sentence in `SegmentedArticle.all_sentences()` order (headline,
    standfirst, body paragraphs, captions), with `english[i]` the English of sentence i (for
    English input, the sentence itself)."""
    parts: list[tuple[int | PartName, int | None, list[str]]] = []
    if segmented.title is not None:
        parts.append(("title", None, segmented.title))
    if segmented.standfirst is not None:
        parts.append(("standfirst", None, segmented.standfirst))
    parts.extend((i, None, sentences) for i, sentences in enumerate(segmented.paragraphs))
    parts.extend(("caption", i, sentences) for i, sentences in enumerate(segmented.captions))
    total = sum(len(sentences) for _, _, sentences in parts)
    if len(english) != total:
        raise ValueError(f"{len(english)} English sentences for {total} source sentences")
    out: list[ArticleSentence] = []
    for paragraph, caption, sentences in parts:
        for source in sentences:
            out.append(
                ArticleSentence(
                    id=len(out),
                    paragraph=paragraph,
                    caption=caption,
                    source=source,
                    text=english[len(out)],
                )
            )
    return out


@dataclass(frozen=True)
class Pair:
    """French and English that translate each other: one sentence, or a whole paragraph whose
    French and English do not have the same number of sentences."""

    ids: tuple[int, ...]
    french: str
    english: tuple[str, ...]  # one per id


def sentence_pairs(sentences: Sequence[ArticleSentence]) -> list[Pair]:
    """Each sentence as its own pair (the pipeline translates sentence by sentence)."""
    return [Pair((s.id,), s.source, (s.text,)) for s in sentences]


def _clean(paragraph: str) -> str:
    return " ".join(normalize_text(paragraph).split())


@lru_cache(maxsize=4096)
def _split(paragraph: str, language: str) -> tuple[str, ...]:
    """Sentences of one paragraph, kept: an editor re-verifies the same paragraphs often, and
    the Moses splitter is the slowest step of /verify."""
    return tuple(split_sentences(_clean(paragraph), language))


def verify_sentences(
    translation: Sequence[str], source: Sequence[str] | None
) -> tuple[list[ArticleSentence], list[Pair]]:
    """Sentences of English paragraphs (and their French, same count) as /verify numbers them,
    and the pairs the translation checks compare.

    A paragraph whose French has as many sentences as its English is paired sentence by
    sentence. Otherwise the paragraph is one pair and each of its sentences carries the whole
    French paragraph as `source`. A paragraph with French but no English gets one sentence
    with empty `text`, so that its French stays addressable. Without `source`, `source` is the
    English itself (as for English input)."""
    sentences: list[ArticleSentence] = []
    pairs: list[Pair] = []
    for index, paragraph in enumerate(translation):
        english = list(_split(paragraph, "en"))
        french_text = _clean(source[index]) if source is not None else None
        if french_text is None:
            for text in english:
                sentences.append(
                    ArticleSentence(id=len(sentences), paragraph=index, source=text, text=text)
                )
            continue
        french = list(_split(french_text, "fr"))
        if not english and not french:
            continue
        if not english:
            english = [""]
        if len(french) == len(english):
            for fr, en in zip(french, english, strict=True):
                pairs.append(Pair((len(sentences),), fr, (en,)))
                sentences.append(
                    ArticleSentence(id=len(sentences), paragraph=index, source=fr, text=en)
                )
            continue
        first = len(sentences)
        for en in english:
            sentences.append(
                ArticleSentence(id=len(sentences), paragraph=index, source=french_text, text=en)
            )
        pairs.append(Pair(tuple(range(first, len(sentences))), french_text, tuple(english)))
    return sentences, pairs
