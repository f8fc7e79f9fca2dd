"""Glossary entries and do-not-translate terms: the limits, the checks, the matching key, and
how a stored glossary and a request's own terms combine."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from service.errors import GlossaryTooLargeError, InvalidGlossaryError

TermKind = Literal["glossary", "do_not_translate", "protected"]
EntriesFormat = Literal["tsv", "csv"]

MAX_ENTRIES = 10_000
"""Entries of one glossary: sent in a request, stored, or the two merged."""
MAX_DO_NOT_TRANSLATE = 1_000
"""Terms of one request's `do_not_translate`."""
MAX_TERM_CHARS = 256
"""Characters of one source or target term."""
MAX_NAME_CHARS = 200
"""Characters of a stored glossary's name."""
MAX_GLOSSARIES = 1_000
"""Stored glossaries in all, per jobs store."""

Entries = tuple[tuple[str, str], ...]
"""(source, target) pairs in the order given."""

_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_APOSTROPHES = frozenset("'’‘ʼ`´")
_DASHES = frozenset("-‐‑‒–—―−")


@lru_cache(maxsize=8192)
def _fold_char(char: str) -> str:
    """One character as matching sees it: no accents, case folded, one apostrophe, one dash,
    one space."""
    if char in _APOSTROPHES:
        return "'"
    if char in _DASHES:
        return "-"
    if char.isspace():
        return " "
    decomposed = unicodedata.normalize("NFKD", char)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def fold(text: str) -> tuple[str, list[int]]:
    """`text` folded for matching (see `_fold_char`; runs of spaces become one), and for each
    folded character the index of the original character it comes from."""
    out: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = _fold_char(char)
        if folded == " " and out and out[-1] == " ":
            continue
        for piece in folded:
            out.append(piece)
            origin.append(index)
    return "".join(out), origin


_ASCII_MARKS = str.maketrans(dict.fromkeys("'`", "'"))


@lru_cache(maxsize=65536)
def match_key(term: str) -> str:
    """The key terms are compared by: case, accents, apostrophe and dash styles ignored; the
    same folding as `fold`, spaces trimmed."""
    if term.isascii():  # the common case, without a Unicode lookup per character
        text = term.translate(_ASCII_MARKS).lower()
    else:
        text = "".join(_fold_char(char) for char in term)
    return " ".join(text.split())


@dataclass(frozen=True)
class Term:
    """One term to keep: the source as given, the English it must become, and its kind."""

    source: str
    target: str
    kind: TermKind

    @property
    def key(self) -> str:
        return match_key(self.source)


def _term_problem(term: str) -> str | None:
    """Why `term` cannot be a term, or None."""
    if not term:
        return "is empty"
    if term != term.strip():
        return "starts or ends with whitespace"
    if _ASCII_CONTROL.search(term) or (
        not term.isascii() and any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in term)
    ):
        return "holds a control character (tab, newline…)"
    if len(term) > MAX_TERM_CHARS:
        return f"is longer than {MAX_TERM_CHARS} characters"
    if not any(c.isalnum() for c in term):
        return "holds no letter or digit"
    return None


def _quoted(term: str) -> str:
    shown = term if len(term) <= 60 else term[:57] + "..."
    return '"' + shown.replace("\n", "\\n").replace("\t", "\\t") + '"'


def check_entries(
    entries: Sequence[tuple[str, str]], where: Sequence[str] | None = None, field: str = "glossary"
) -> None:
    """Refuse a glossary the way DeepL does: an empty, whitespace-padded or duplicate source
    term (duplicates as matching sees them: case and accents ignored), an empty or padded
    target, or more than MAX_ENTRIES entries. The message names the entry; `where` gives each
    entry's place in the caller's terms (`line 3`), else the source term names it."""
    if len(entries) > MAX_ENTRIES:
        raise GlossaryTooLargeError(
            f"The {field} has {len(entries)} entries, over the limit of {MAX_ENTRIES}: split it."
        )
    seen: dict[str, str] = {}
    for index, (source, target) in enumerate(entries):
        place = f"{where[index]} " if where is not None else ""
        name = f"{field} entry {place}{_quoted(source)}"
        problem = _term_problem(source)
        if problem is not None:
            raise InvalidGlossaryError(f"In the {name}: the source term {problem}.")
        problem = _term_problem(target)
        if problem is not None:
            raise InvalidGlossaryError(f"In the {name}: the target term {problem}.")
        key = match_key(source)
        if key in seen:
            raise InvalidGlossaryError(
                f"The {name} duplicates {_quoted(seen[key])}: terms match without regard to "
                "case, accents, apostrophes or dashes, so keep one."
            )
        seen[key] = source


def check_do_not_translate(terms: Sequence[str], glossary: Sequence[tuple[str, str]]) -> None:
    """Refuse a bad, duplicate or over-long `do_not_translate` list, and a term that is also a
    glossary source (the two would disagree about its English)."""
    if len(terms) > MAX_DO_NOT_TRANSLATE:
        raise GlossaryTooLargeError(
            f"do_not_translate has {len(terms)} terms, over the limit of {MAX_DO_NOT_TRANSLATE}."
        )
    sources = {match_key(source): source for source, _ in glossary}
    seen: dict[str, str] = {}
    for term in terms:
        problem = _term_problem(term)
        if problem is not None:
            raise InvalidGlossaryError(f"The do_not_translate term {_quoted(term)} {problem}.")
        key = match_key(term)
        if key in seen:
            raise InvalidGlossaryError(
                f"The do_not_translate term {_quoted(term)} duplicates {_quoted(seen[key])}."
            )
        if key in sources:
            raise InvalidGlossaryError(
                f"The do_not_translate term {_quoted(term)} is also the glossary source "
                f"{_quoted(sources[key])}: keep it in one of the two."
            )
        seen[key] = term


@lru_cache(maxsize=16)  # bounded: a 10,000-entry glossary is a few MB
def check_request_terms(glossary: Entries, do_not_translate: tuple[str, ...]) -> None:
    """Both checks for a request's terms (cached: the pipeline checks again what the API
    checked, and stored glossaries come back often)."""
    check_entries(glossary)
    check_do_not_translate(do_not_translate, glossary)


def check_name(name: str) -> None:
    if not name.strip():
        raise InvalidGlossaryError("The glossary name is empty: give it a name.")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidGlossaryError(
            f"The glossary name has {len(name)} characters, over the limit of {MAX_NAME_CHARS}."
        )


def parse_entries(text: str, entries_format: EntriesFormat) -> tuple[Entries, list[str]]:
    """Entries from TSV or CSV text (Python's `csv` module: quoting as Excel writes it), one
    `source<sep>target` row per line; blank lines are skipped. Returns the entries and each
    one's place (`line N`) for error messages. A row without exactly two fields is refused."""
    delimiter = "\t" if entries_format == "tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    entries: list[tuple[str, str]] = []
    places: list[str] = []
    try:
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != 2:
                raise InvalidGlossaryError(
                    f"Line {reader.line_num} of the {entries_format.upper()} entries has "
                    f"{len(row)} field(s), not 2 (source{'<TAB>' if delimiter == chr(9) else ','}"
                    "target)."
                )
            entries.append((row[0], row[1]))
            places.append(f"line {reader.line_num}")
    except csv.Error as exc:
        raise InvalidGlossaryError(
            f"Line {reader.line_num} of the {entries_format.upper()} entries cannot be read: {exc}."
        ) from exc
    return tuple(entries), places


def merge_terms(
    stored: Iterable[tuple[str, str]],
    glossary: Entries,
    do_not_translate: tuple[str, ...],
) -> tuple[Entries, tuple[str, ...]]:
    """A stored glossary with a request's own terms on top: a request entry replaces the stored
    entry with the same source (as matching sees it), and a request's do_not_translate term
    removes the stored entry with that source."""
    own = {match_key(source) for source, _ in glossary} | {
        match_key(term) for term in do_not_translate
    }
    kept = tuple((source, target) for source, target in stored if match_key(source) not in own)
    return kept + glossary, do_not_translate


def request_terms(glossary: Entries, do_not_translate: tuple[str, ...]) -> tuple[Term, ...]:
    """The terms of a request, glossary entries first."""
    return (
        *(Term(source, target, "glossary") for source, target in glossary),
        *(Term(term, term, "do_not_translate") for term in do_not_translate),
    )
