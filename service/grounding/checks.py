"""Key points checked against the article's sentences, and each sentence's English against its
French (pure functions; the rules are in README "Grounding and checks")."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, partial

from service.grounding.facts import (
    ACRONYM_ALIASES,
    DateFact,
    Negation,
    Number,
    TextFacts,
    capitalised_words,
    find_negation,
    fold,
    folded_tokens,
    names,
    prepare,
    strip_accents,
    text_facts,
)
from service.grounding.sentences import Pair, sentence_pairs
from service.grounding.sources import content_word_list, content_words, rank_sources
from service.results import (
    ArticleSentence,
    CheckKind,
    FactCheck,
    PointGrounding,
    SourceRef,
    TranslationCheck,
)

NEGATED_WORDS = 2
"""How many content words after a negation cue say what it negates."""
_DOTTED = re.compile(r"\b(?:[A-Z]\.){2,}")
_CAPITAL_TOKEN = re.compile(r"[^\W_]+")


def _acronym_tokens(text: str) -> frozenset[str]:
    """Words of `text` as written (accents dropped, `U.S.` as `US`), for acronyms."""
    plain = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), strip_accents(prepare(text)))
    return frozenset(_CAPITAL_TOKEN.findall(plain))


@dataclass(frozen=True)
class _Side:
    """What the checks need of one sentence in one language."""

    text: str
    lang: str

    @cached_property
    def facts(self) -> TextFacts:
        return text_facts(self.text, "fr" if self.lang == "fr" else "en")

    @cached_property
    def numbers(self) -> list[Number]:
        return self.facts.plain_numbers()

    @cached_property
    def tokens(self) -> frozenset[str]:
        return frozenset(folded_tokens(self.text))

    @cached_property
    def phrase(self) -> str:
        return " " + " ".join(folded_tokens(self.text)) + " "

    @cached_property
    def acronyms(self) -> frozenset[str]:
        return _acronym_tokens(self.text)

    @cached_property
    def negation(self) -> Negation | None:
        return find_negation(self.text, "fr" if self.lang == "fr" else "en")

    def has_number(self, number: Number) -> bool:
        return any(number.matches(other) for other in self.numbers)

    def has_date(self, date: DateFact) -> bool:
        return any(date.matches(other) for other in self.facts.dates)

    def has_name(self, tokens: Sequence[str], acronyms: Sequence[str]) -> bool:
        if not all(token in self.tokens for token in tokens):
            return False
        return all(
            acronym in self.acronyms
            or any(f" {alias} " in self.phrase for alias in ACRONYM_ALIASES.get(acronym, ()))
            for acronym in acronyms
        )


class ArticleIndex:
    """The article's sentences, read once, for checking any number of key points against them.

    `french` says whether `source` is French (False for English input and for /verify
    without `source`): only then are numbers, dates and names also looked up in it."""

    def __init__(self, sentences: Sequence[ArticleSentence], french: bool) -> None:
        self.sentences = list(sentences)
        self.french = french
        self.english = [_Side(s.text, "en") for s in self.sentences]
        self.source = [_Side(s.source, "fr") for s in self.sentences] if french else []
        self.words = [content_words(s.text) for s in self.sentences]
        # A sentence has its own French unless /verify could not pair its paragraph sentence by
        # sentence (then its sentences share the paragraph's French).
        shared = Counter(s.source for s in self.sentences)
        self.aligned = [shared[s.source] == 1 for s in self.sentences]
        known: set[str] = set()
        for side in (*self.english, *self.source):
            known |= capitalised_words(side.text)
            if side.lang == "fr":
                known |= side.tokens
        self.known = frozenset(known)

    def _sides(self, index: int) -> list[_Side]:
        return [self.english[index], *([self.source[index]] if self.french else [])]

    def _where(self, test: Callable[[_Side], bool]) -> list[int]:
        """Ids of the sentences whose English (or French) passes `test`."""
        return [
            sentence.id
            for index, sentence in enumerate(self.sentences)
            if any(test(side) for side in self._sides(index))
        ]

    def ground(self, point: str) -> PointGrounding:
        """The sources and checks of one key point."""
        ranked = rank_sources(point, self.words)
        sources = [
            SourceRef(
                sentence=self.sentences[r.index].id,
                paragraph=self.sentences[r.index].paragraph,
                score=r.score,
            )
            for r in ranked
        ]
        checks = self._fact_checks(point)
        if ranked:
            negation_check = self._negation_check(point, ranked[0].index)
            if negation_check is not None:
                checks.append(negation_check)
        return PointGrounding(
            text=point,
            sources=sources,
            checks=checks,
            supported=all(check.supported for check in checks),
        )

    def _fact_checks(self, point: str) -> list[FactCheck]:
        facts = text_facts(point, "en")
        checks: list[FactCheck] = []
        seen: set[tuple[str, str]] = set()

        def add(kind: CheckKind, value: str, found: list[int], note: str | None = None) -> None:
            if (kind, value) in seen:
                return
            seen.add((kind, value))
            supported = bool(found)
            checks.append(
                FactCheck(
                    kind=kind,
                    value=value,
                    supported=supported,
                    found_in=found,
                    note=None
                    if supported
                    else note or f'unsupported {kind} "{value}" (not in the article)',
                )
            )

        for number in facts.numbers:
            add("number", number.value, self._where(partial(_Side.has_number, number=number)))
        for date in facts.dates:
            found = self._where(partial(_Side.has_date, date=date))
            note = None
            # A full date: the year must be the article's too, not only the day and month.
            if (
                found
                and date.year is not None
                and date.month is not None
                and not self._where(partial(_Side.has_date, date=DateFact(year=date.year)))
            ):
                found = []
                note = f'unsupported date "{date.value}" (the article gives no {date.year})'
            add("date", date.value, found, note)
        known = self.known | capitalised_words(point)
        for name in names(point, known):
            add(
                "name",
                name.text,
                self._where(partial(_Side.has_name, tokens=name.tokens, acronyms=name.acronyms)),
            )
        return checks

    def _negation_check(self, point: str, best: int) -> FactCheck | None:
        """Compare the point's negation with its best source's English, and with its French
        when the sentence has its own (a translation that lost a `ne ... pas` makes the point
        suspect). A source's negation counts as dropped only when the point speaks of what it
        negates (one of the first NEGATED_WORDS content words after the cue is in the point):
        `not insignificant` in a clause the point leaves out is not dropped."""
        said = find_negation(point, "en")
        english = self.english[best].negation
        french = self.source[best].negation if self.french and self.aligned[best] else None
        if english is not None and said is None:
            negated = content_word_list(english.clause)[:NEGATED_WORDS]
            if negated and not set(negated) & content_words(point):
                english_cue = None  # the point leaves that clause out
            else:
                english_cue = english.cue
        else:
            english_cue = english.cue if english else None
        said_cue = said.cue if said else None
        french_cue = french.cue if french else None
        if english_cue is None and english is not None and french_cue is not None:
            french_cue = None  # both sides negate a clause the point leaves out
        if not (said_cue or english_cue or french_cue):
            return None
        sentence = self.sentences[best].id
        note = None
        if said_cue and not english:
            note = f'negation "{said_cue}" is not in its source sentence {sentence}'
        elif english_cue and not said_cue:
            note = f'drops the negation "{english_cue}" of its source sentence {sentence}'
        elif self.french and self.aligned[best] and bool(french) != bool(english):
            note = (
                f'its source sentence {sentence} is negated in the French ("{french_cue}") '
                "but not in the English"
                if french
                else f"its source sentence {sentence} is negated in the English "
                f'("{english_cue}") but not in the French'
            )
        return FactCheck(
            kind="negation",
            value=said_cue or english_cue or french_cue or "",
            supported=note is None,
            found_in=[sentence] if note is None else [],
            note=note,
        )


def ground_points(
    points: Sequence[str], sentences: Sequence[ArticleSentence], french: bool
) -> list[PointGrounding]:
    """One grounding entry per key point, in order."""
    index = ArticleIndex(sentences, french)
    return [index.ground(point) for point in points]


def check_pairs(pairs: Sequence[Pair]) -> list[TranslationCheck]:
    """Numbers of each pair's French missing from its English, and numbers of its English that
    its French lacks; a missing number is reported on the pair's first sentence, an added one
    on the sentence that has it."""
    checks: list[TranslationCheck] = []
    for pair in pairs:
        french = list(text_facts(pair.french, "fr").plain_numbers())
        english = [
            (sentence, number)
            for sentence, text in zip(pair.ids, pair.english, strict=True)
            for number in text_facts(text, "en").plain_numbers()
        ]
        unmatched = list(english)
        missing: list[Number] = []
        for number in french:
            match = next((item for item in unmatched if number.matches(item[1])), None)
            if match is None:
                missing.append(number)
            else:
                unmatched.remove(match)
        checks.extend(
            TranslationCheck(sentence=pair.ids[0], value=n.value, problem="missing")
            for n in missing
        )
        checks.extend(
            TranslationCheck(sentence=sentence, value=n.value, problem="added")
            for sentence, n in unmatched
        )
    return checks


def translation_warning(checks: Sequence[TranslationCheck]) -> str | None:
    """The `meta.warnings` line that counts the translation checks; None when there are none."""
    if not checks:
        return None
    sentences = len({check.sentence for check in checks})
    return (
        f"{len(checks)} number(s) differ between the French and the English in {sentences} "
        "sentence(s): see translation_checks"
    )


def folded(text: str) -> str:
    """Whitespace- and case-insensitive form of a key point, to spot duplicates."""
    return " ".join(fold(text).split())


def check_translation(sentences: Sequence[ArticleSentence], french: bool) -> list[TranslationCheck]:
    """The translation checks of the pipeline's sentences, one pair each; none when nothing
    was translated (English input)."""
    return check_pairs(sentence_pairs(sentences)) if french else []
