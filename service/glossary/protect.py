"""Protecting terms through the translation model: each term found in a sentence becomes a
number-like placeholder the model copies through, and its English goes back in place of the
placeholder afterwards; then the check of what the English really holds (`meta.glossary`)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from service.glossary.matching import TermIndex, find_terms
from service.glossary.terms import Term
from service.results import GlossaryUse

PLACEHOLDERS = range(801, 900)
"""Placeholder numbers. Three digits: the model copies a number (it is in every vocabulary and
never translated), and a number under 1,000 gets no thousands separator in English. A number
the sentence already holds is skipped, so a placeholder in the output can only be ours."""

# French elision before a term: `l’ONU` becomes `le 801`, since `l’801` reads as no French.
_ELIDED = re.compile(r"(?:^|(?<=[\s(«“\"]))(l|d|qu|jusqu|lorsqu|puisqu)['’]$", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")
_MAX_WARNINGS = 10


@dataclass(frozen=True)
class Occurrence:
    """One term found in a sentence: `text` is the article's spelling of it."""

    term: Term
    text: str
    placeholder: str | None
    """None when the sentence had more terms than placeholders: it is only checked."""

    @property
    def expected(self) -> str:
        """The English the output must hold: the glossary's target, else the term verbatim."""
        return self.term.target if self.term.kind == "glossary" else self.text


@dataclass(frozen=True)
class ProtectedSentence:
    """A source sentence, what the model is given instead, and the terms it holds."""

    source: str
    text: str
    occurrences: tuple[Occurrence, ...] = ()

    @property
    def protected(self) -> bool:
        return any(o.placeholder is not None for o in self.occurrences)


def protect_sentence(sentence: str, index: TermIndex) -> ProtectedSentence:
    """`sentence` with every term (and URL, address, handle, hashtag) replaced by a placeholder."""
    matches = find_terms(sentence, index)
    if not matches:
        return ProtectedSentence(sentence, sentence)
    present = set(_DIGITS.findall(sentence))
    free = (str(n) for n in PLACEHOLDERS if str(n) not in present)
    pieces: list[str] = []
    occurrences: list[Occurrence] = []
    cursor = 0
    for match in matches:
        placeholder = next(free, None)
        occurrences.append(Occurrence(match.term, match.text, placeholder))
        before = sentence[cursor : match.start]
        if placeholder is None:
            pieces.append(before + match.text)
        else:
            elided = _ELIDED.search(before)
            if elided is not None:
                before = before[: elided.end() - 1] + "e "
            if before and before[-1].isalnum():
                before += " "
            after = sentence[match.end : match.end + 1]
            pieces.append(before + placeholder + (" " if after.isalnum() else ""))
        cursor = match.end
    pieces.append(sentence[cursor:])
    return ProtectedSentence(sentence, "".join(pieces), tuple(occurrences))


def protect_sentences(sentences: Sequence[str], index: TermIndex) -> list[ProtectedSentence]:
    return [protect_sentence(sentence, index) for sentence in sentences]


@lru_cache(maxsize=128)
def _placeholder_pattern(placeholder: str) -> re.Pattern[str]:
    # The number alone: not part of a longer number, a decimal or a thousands group.
    return re.compile(rf"(?<!\d)(?<!\d[.,]){placeholder}(?!\d)(?![.,]\d)")


def restore(sentence: ProtectedSentence, output: str) -> str | None:
    """`output` with each placeholder replaced by its English; None when one of them is not
    in the output exactly once (the model dropped, changed or repeated it)."""
    spans: list[tuple[int, int, str]] = []
    for occurrence in sentence.occurrences:
        if occurrence.placeholder is None:
            continue
        found = list(_placeholder_pattern(occurrence.placeholder).finditer(output))
        if len(found) != 1:
            return None
        spans.append((found[0].start(), found[0].end(), occurrence.expected))
    # All at once, from the output as the model wrote it: a target holding a number that is
    # another placeholder cannot be taken for it.
    pieces: list[str] = []
    cursor = 0
    for start, end, text in sorted(spans):
        pieces.append(output[cursor:start] + text)
        cursor = end
    pieces.append(output[cursor:])
    return "".join(pieces)


def count_in(english: str, expected: str) -> int:
    """How many times `expected` is in `english` as written (Unicode NFC), on word boundaries
    where it starts or ends with a letter or digit."""
    english = unicodedata.normalize("NFC", english)
    expected = unicodedata.normalize("NFC", expected)
    head = r"(?<!\w)" if expected[:1].isalnum() else ""
    tail = r"(?!\w)" if expected[-1:].isalnum() else ""
    return len(re.findall(head + re.escape(expected) + tail, english))


def _identity(occurrence: Occurrence) -> tuple[str, str]:
    term = occurrence.term
    return (term.kind, term.key if term.kind != "protected" else occurrence.text)


def report(
    sentences: Sequence[ProtectedSentence], english: Sequence[str]
) -> tuple[list[GlossaryUse], list[str]]:
    """`meta.glossary` (one entry per term found, in order of first appearance) and the
    warnings for terms that are not in the English. A term counts as applied only when, in
    every sentence that holds it, the English holds its expected text at least as many times
    as the French holds the term."""
    found: dict[tuple[str, str], tuple[Occurrence, list[int], list[bool]]] = {}
    for sid, (sentence, output) in enumerate(zip(sentences, english, strict=True)):
        wanted: dict[str, int] = {}
        for occurrence in sentence.occurrences:
            wanted[occurrence.expected] = wanted.get(occurrence.expected, 0) + 1
        for occurrence in sentence.occurrences:
            first, ids, oks = found.setdefault(_identity(occurrence), (occurrence, [], []))
            if sid not in ids:
                ids.append(sid)
                expected = occurrence.expected
                oks.append(count_in(output, expected) >= wanted[expected])
    uses: list[GlossaryUse] = []
    warnings: list[str] = []
    for first, ids, oks in found.values():
        term = first.term
        target = term.target if term.kind == "glossary" else term.source
        use = GlossaryUse(
            source=term.source, target=target, kind=term.kind, sentences=ids, applied=all(oks)
        )
        uses.append(use)
        if not use.applied:
            missing = ", ".join(str(sid) for sid, ok in zip(ids, oks, strict=True) if not ok)
            warnings.append(_warning(use, missing))
    if len(warnings) > _MAX_WARNINGS:
        more = len(warnings) - _MAX_WARNINGS
        warnings = [*warnings[:_MAX_WARNINGS], f"{more} more term(s) not applied (meta.glossary)"]
    return uses, warnings


def _warning(use: GlossaryUse, missing: str) -> str:
    if use.kind == "glossary":
        return (
            f'glossary: "{use.source}" is not translated as "{use.target}" in sentence(s) '
            f"{missing}: the translation model did not keep it"
        )
    what = "do_not_translate term" if use.kind == "do_not_translate" else "protected text"
    return f'{what} "{use.source}" did not come through unchanged in sentence(s) {missing}'
