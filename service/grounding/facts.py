"""Facts in one sentence, English or French: numbers, dates, names and negations (pure functions).

Every extractor works on the sentence as written (French or English typography: no-break and
narrow no-break spaces, `1,5 %`, `2 345`, `M€`, `1er`, `8e`) and returns facts in one
canonical form, so that `1,5 %` and `1.5%`, `dix-neuf` and `nineteen`, `2,5 milliards` and
`2.5 billion`, `4 septembre` and `September 4` compare equal. The rules and their blind spots
are in README "Grounding and checks".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Literal

Lang = Literal["en", "fr"]

# --------------------------------------------------------------------------------------------
# Text preparation
# --------------------------------------------------------------------------------------------

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "\u2011": "-", "\u2010": "-"})
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "Oe", "æ": "ae", "Æ": "Ae"})


@lru_cache(maxsize=16384)
def prepare(text: str) -> str:
    """NFKC (no-break, narrow no-break and thin spaces become plain spaces, `1ᵉʳ` becomes `1er`),
    typographic apostrophes as `'`, non-breaking hyphens as `-`."""
    return unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)


_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def strip_accents(text: str) -> str:
    """`Âmes` -> `Ames`, `Corée` -> `Coree`, `œuvre` -> `oeuvre`; case is kept."""
    if text.isascii():
        return text
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text.translate(_LIGATURES)))


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Case- and accent-insensitive form: `Élysée` and `elysee` fold alike."""
    return strip_accents(prepare(text)).casefold()


_TOKEN = re.compile(r"[^\W_]+")


def folded_tokens(text: str) -> list[str]:
    """The folded words and digit runs of `text` (hyphens and apostrophes split words)."""
    return _TOKEN.findall(fold(text))


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------

_SCALE_NAMES = {3: "thousand", 6: "million", 9: "billion", 12: "trillion"}
_CURRENCY_WORDS = {
    "euro": "€",
    "euros": "€",
    "dollar": "$",
    "dollars": "$",
    "pound": "£",
    "pounds": "£",
    "livre sterling": "£",
    "livres sterling": "£",
    "pound sterling": "£",
    "pounds sterling": "£",
    "yen": "¥",
    "yens": "¥",
    "yuan": "yuan",
    "yuans": "yuan",
    "rouble": "rouble",
    "roubles": "rouble",
    "ruble": "rouble",
    "rubles": "rouble",
    "franc": "franc",
    "francs": "franc",
}


@dataclass(frozen=True)
class Number:
    """A number as stated: its amount, and whether it is a percentage, a sum of money (the
    currency), an ordinal or a clock time (minutes after midnight)."""

    amount: Decimal
    percent: bool = False
    currency: str | None = None
    ordinal: bool = False
    minutes: int | None = None
    scale: int = 0
    """Power of ten of the scale word it was written with (`2.5 billion`: 9), for display."""
    year: bool = False
    """A year (from a date), shown without a thousands separator."""

    @property
    def value(self) -> str:
        """The canonical English form: `19`, `2,345`, `1.5%`, `€2.5 billion`, `8th`, `10:30`."""
        if self.minutes is not None:
            return f"{self.minutes // 60}:{self.minutes % 60:02d}"
        scale = self.scale if self.scale in _SCALE_NAMES else 0
        mantissa = self.amount / (Decimal(10) ** scale) if scale else self.amount
        text = str(int(self.amount)) if self.year else _format_amount(mantissa)
        if self.ordinal:
            text += _ordinal_suffix(self.amount)
        if scale:
            text += " " + _SCALE_NAMES[scale]
        if self.percent:
            text += "%"
        if self.currency:
            symbol = self.currency
            text = symbol + text if len(symbol) == 1 else f"{text} {symbol}"
        return text

    def matches(self, other: Number) -> bool:
        """Same number: equal amounts, both or neither a percentage, no conflicting currencies.
        An ordinal matches its cardinal (`8e` / `8`); a time on the hour matches the plain hour."""
        if (self.minutes is None) != (other.minutes is None):
            clock, plain = (self, other) if self.minutes is not None else (other, self)
            assert clock.minutes is not None
            return (
                clock.minutes % 60 == 0
                and not plain.percent
                and plain.currency is None
                and plain.amount == clock.minutes // 60
            )
        if self.minutes is not None:
            return self.minutes == other.minutes
        if self.amount != other.amount or self.percent != other.percent:
            return False
        return self.currency is None or other.currency is None or self.currency == other.currency


def _format_amount(amount: Decimal) -> str:
    normal = amount.normalize()
    if normal == normal.to_integral_value():
        return f"{int(normal):,}"
    exponent = normal.as_tuple().exponent
    assert isinstance(exponent, int)
    places = -exponent
    return f"{normal:,.{places}f}"


def _ordinal_suffix(amount: Decimal) -> str:
    n = int(amount)
    if 10 <= n % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


# Digits: groups of three with one separator (space, comma or dot), then an optional decimal
# part with the other one. Which separator is which depends on the language (see _amount).
_DIGITS = re.compile(
    r"(?<![^\W_])(?<![^\W\d_]-)"  # not glued to a word: G7, A380, COVID-19, F-16
    r"(?P<int>\d{1,3}(?:(?P<sep>[ ,.])\d{3}(?!\d))(?:(?P=sep)\d{3}(?!\d))*|\d+)"
    r"(?:(?P<dec>[.,])(?P<frac>\d+))?"
)
_CURRENCY_BEFORE = re.compile(r"(?:US ?\$|[€$£¥])\s?$")
_TIME_AFTER = re.compile(
    r"\s?h\s?(?P<h>\d{2})?(?![^\W_])"
    r"|(?::(?P<colon>\d{2})(?!\d))?(?:\s?(?P<ampm>[ap])\.?\s?m\b\.?)?",
    re.IGNORECASE,
)
_ORDINAL_AFTER = re.compile(
    r"(?:ères?|ères|ers?|res?|èmes?|emes?|e|es|è|th|st|nd|rd)(?![^\W_])", re.IGNORECASE
)
_PERCENT_AFTER = re.compile(r"\s?(?:%|pour ?cent\b|per ?cent\b|pc\b)", re.IGNORECASE)
_SCALE_WORDS: dict[str, dict[str, int]] = {
    "en": {
        "thousand": 3,
        "million": 6,
        "millions": 6,
        "billion": 9,
        "billions": 9,
        "trillion": 12,
        "trillions": 12,
        "bn": 9,
        "mn": 6,
        "tn": 12,
    },
    "fr": {
        "mille": 3,
        "million": 6,
        "millions": 6,
        "milliard": 9,
        "milliards": 9,
        "billion": 12,  # a French billion is an English trillion
        "billions": 12,
        "md": 9,
        "mds": 9,
        "mrd": 9,
        "mrds": 9,
        "bn": 9,
    },
}
# Abbreviations that are scale words only next to a currency: `€3m`, `3 M€`, `5 k€`.
_MONEY_SCALES = {"m": 6, "k": 3, "md": 9, "mds": 9, "mrd": 9, "bn": 9, "mn": 6}
_SCALE_AFTER = re.compile(r"\s?(?P<word>[^\W\d_]+)\.?(?![^\W_])")
_CURRENCY_AFTER = re.compile(
    r"\s?(?:(?P<symbol>[€$£¥])|(?P<de>(?:de |d')?)(?P<word>euros?|dollars?|(?:pounds?|livres?) "
    r"sterling|pounds?|yens?|yuans?|roubles?|rubles?|francs?)\b)",
    re.IGNORECASE,
)
_ROMAN_CENTURY = re.compile(
    r"\b(?P<roman>[IVXL]{1,6})(?:e|er|ème|eme)\s+(?P<what>siècles?|siecles?|millénaires?)\b"
)
_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50}


def _roman_value(text: str) -> int | None:
    total = 0
    values = [_ROMAN[ch] for ch in text]
    for i, value in enumerate(values):
        total += -value if i + 1 < len(values) and values[i + 1] > value else value
    return total or None


def _amount(match: re.Match[str], lang: Lang) -> Decimal | None:
    """The value of a digit match, reading its separators the way `lang` writes them: in
    English `,` groups thousands and `.` marks decimals, in French `.` (or a space) groups and
    `,` marks decimals. A space always groups. The other language's decimal mark is still read
    as a decimal (`1.5` in French text is 1.5), and one group after a decimal mark is a decimal
    (`1,500` in French is 1.5; `1.500` in English too)."""
    whole, sep, dec, frac = match["int"], match["sep"], match["dec"], match["frac"]
    decimal = "." if lang == "en" else ","
    if sep is not None and sep == decimal and whole.count(sep) == 1 and dec is None:
        return Decimal(whole.replace(sep, "."))
    if sep is not None and dec == sep:
        return None  # `1,000,5`: no reading makes sense
    digits = whole if sep is None else whole.replace(sep, "")
    try:
        return Decimal(digits + ("." + frac if dec is not None else ""))
    except InvalidOperation:
        return None


@dataclass(frozen=True)
class Found:
    """A fact's place in the prepared text, so that one stretch of text is one fact only."""

    start: int
    end: int


def _overlaps(start: int, end: int, taken: Iterable[Found]) -> bool:
    return any(start < t.end and t.start < end for t in taken)


def _suffixes(
    text: str, pos: int, lang: Lang, number: Number, money_before: bool
) -> tuple[Number, int]:
    """Read a scale word, a percent sign and a currency after a number ending at `pos`; return
    the number they make and where they end."""
    amount, scale, percent, currency = number.amount, number.scale, False, None
    scale_match = _SCALE_AFTER.match(text, pos)
    if scale_match is not None:
        lowered = scale_match["word"].lower()
        exponent = _SCALE_WORDS[lang].get(lowered)
        # `m`, `k`, `M`, `Md` are scale words only next to a currency: `€3m`, `3 M€`
        if (
            exponent is None
            and lowered in _MONEY_SCALES
            and (money_before or _CURRENCY_AFTER.match(text, scale_match.end()) is not None)
        ):
            exponent = _MONEY_SCALES[lowered]
        if exponent is not None:
            amount *= Decimal(10) ** exponent
            scale, pos = exponent, scale_match.end()
    percent_match = _PERCENT_AFTER.match(text, pos)
    if percent_match is not None:
        percent, pos = True, percent_match.end()
    currency_match = None if percent else _CURRENCY_AFTER.match(text, pos)
    if currency_match is not None:
        if currency_match["symbol"]:
            currency = currency_match["symbol"]
        elif not currency_match["de"] or scale:
            # `2,5 milliards d'euros`; but `de` needs a scale word before it
            currency = _CURRENCY_WORDS.get(" ".join(currency_match["word"].lower().split()))
        if currency is not None:
            pos = currency_match.end()
    return (
        replace(number, amount=amount, percent=percent, currency=currency, scale=scale),
        pos,
    )


def _clock(match: re.Match[str], text: str) -> tuple[int, Number] | None:
    """A clock time starting with the digits of `match` (10:30, 10h30, 10 h, 10 am, 10.30pm),
    with where it ends; None when the digits are not a time."""
    if match["sep"] is not None:
        return None
    after = _TIME_AFTER.match(text, match.end())
    if after is None or after.end() == match.end():
        return None
    hours = int(match["int"])
    if after["ampm"]:
        if match["dec"] is None:
            minutes = int(after["colon"] or 0)
        elif match["dec"] == "." and len(match["frac"]) == 2:
            minutes = int(match["frac"])
        else:
            return None
        if not 1 <= hours <= 12:
            return None
        hours = hours % 12 + (12 if after["ampm"].lower() == "p" else 0)
    else:
        if match["dec"] is not None:
            return None  # `2,5 h` is a duration
        minutes = int(after["colon"] or after["h"] or 0)
    if hours > 23 or minutes > 59:
        return None
    return after.end(), Number(Decimal(hours), minutes=hours * 60 + minutes)


def _currency_before(text: str, start: int) -> tuple[int, str] | None:
    """A currency symbol just before `start` (`€3`, `$ 5`, `US$5`): its start and symbol."""
    before = _CURRENCY_BEFORE.search(text, max(0, start - 4), start)
    if before is None:
        return None
    symbol = before.group(0).strip()
    return before.start(), "$" if symbol.endswith("$") else symbol


def _digit_numbers(text: str, lang: Lang, taken: list[Found]) -> list[tuple[Found, Number]]:
    found: list[tuple[Found, Number]] = []
    for match in _DIGITS.finditer(text):
        start, end = match.span()
        if _overlaps(start, end, taken) or (found and start < found[-1][0].end):
            continue
        amount = _amount(match, lang)
        if amount is None:
            continue
        money = _currency_before(text, start)
        clock = _clock(match, text) if money is None else None
        if clock is not None:
            found.append((Found(start, clock[0]), clock[1]))
            continue
        ordinal = False
        ordinal_match = _ORDINAL_AFTER.match(text, end)
        if ordinal_match is not None and match["sep"] is None and match["dec"] is None:
            ordinal = True
            end = ordinal_match.end()
        elif end < len(text) and text[end].isalpha() and text[end].isupper():
            # Digits glued to capitals (5G, 3D, 4K) are a code, unless the capitals are a money
            # scale before a currency (3M€, 2Md€).
            glued = _SCALE_AFTER.match(text, end)
            if glued is None or glued["word"].lower() not in _MONEY_SCALES:
                continue
            if _CURRENCY_AFTER.match(text, glued.end()) is None:
                continue
        number, end = _suffixes(
            text, end, lang, Number(amount, ordinal=ordinal), money_before=money is not None
        )
        if money is not None:
            number = replace(number, currency=money[1])
        found.append((Found(money[0] if money else start, end), number))
    return found


# Spelled-out numbers -------------------------------------------------------------------------

_UNITS_EN = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
_TEENS_EN = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS_EN = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_UNITS_FR = {
    "zero": 0,
    "un": 1,
    "une": 1,
    "deux": 2,
    "trois": 3,
    "quatre": 4,
    "cinq": 5,
    "six": 6,
    "sept": 7,
    "huit": 8,
    "neuf": 9,
}
_TEENS_FR = {
    "dix": 10,
    "onze": 11,
    "douze": 12,
    "treize": 13,
    "quatorze": 14,
    "quinze": 15,
    "seize": 16,
}
_TENS_FR = {
    "vingt": 20,
    "vingts": 20,
    "trente": 30,
    "quarante": 40,
    "cinquante": 50,
    "soixante": 60,
}
_HUNDRED = {"en": {"hundred"}, "fr": {"cent", "cents"}}
_BIG_WORDS = {
    "en": {"thousand": 3, "million": 6, "billion": 9, "trillion": 12},
    "fr": {
        "mille": 3,
        "million": 6,
        "millions": 6,
        "milliard": 9,
        "milliards": 9,
        "billion": 12,
        "billions": 12,
    },
}
_ONE_WORDS = {"en": {"one", "a", "an"}, "fr": {"un", "une"}}
_WORD = re.compile(r"[^\W\d_]+")


def _word_kind(word: str, lang: Lang) -> tuple[str, int] | None:
    units, teens, tens = (
        (_UNITS_EN, _TEENS_EN, _TENS_EN) if lang == "en" else (_UNITS_FR, _TEENS_FR, _TENS_FR)
    )
    if word in units:
        return "unit", units[word]
    if word in teens:
        return "teen", teens[word]
    if word in tens:
        return "tens", tens[word]
    if word in _HUNDRED[lang]:
        return "hundred", 100
    if word in _BIG_WORDS[lang]:
        return "scale", _BIG_WORDS[lang][word]
    return None


# Which kind of number word may follow which inside one number (`twenty-one`, `two hundred`,
# `mille deux cents`); anything else starts a new number (`two three` is 2 and 3).
_FOLLOWS: dict[str | None, set[str]] = {
    None: {"unit", "teen", "tens", "hundred", "scale"},
    "unit": {"hundred", "scale"},
    "teen": {"hundred", "scale"},
    "tens": {"unit", "teen", "scale"},
    "hundred": {"unit", "teen", "tens", "scale"},
    "scale": {"unit", "teen", "tens", "hundred"},
}
# Words that are numbers only inside a longer number: `one`/`un`/`a` are articles far more
# often, `neuf` is also "new".
_NOT_ALONE = {"en": {"one", "a", "an"}, "fr": {"un", "une", "neuf"}}
_VAGUE = {"millions", "milliards", "billions", "trillions", "thousands", "hundreds", "cents"}
_PERCENT_WORDS = re.compile(r"\b(?:pour|per) ?cent\b", re.IGNORECASE)


@dataclass
class _Run:
    """A number being read word by word."""

    start: int
    end: int
    total: int = 0
    current: int = 0
    last: str | None = None
    last_word: str = ""
    alone_only: bool = True  # every word so far is one of _NOT_ALONE
    scale: int = 0  # the largest scale word's power of ten (million: 6)

    def add(self, word: str, category: str, value: int, lang: Lang) -> None:
        if category == "hundred":
            self.current = (self.current or 1) * 100
        elif category == "scale":
            self.total += (self.current or 1) * 10**value
            self.current = 0
            self.scale = max(self.scale, value)
        elif lang == "fr" and word in ("vingt", "vingts") and self.current % 100 == 4:
            self.current += 76  # quatre-vingt(s): the 4 becomes 80
        else:
            self.current += value
        self.last = "tens" if word in ("vingt", "vingts") else category
        self.last_word = word
        self.alone_only = self.alone_only and word in _NOT_ALONE[lang]

    def accepts(self, word: str, category: str, lang: Lang) -> bool:
        if category in _FOLLOWS[self.last]:
            return True
        if lang != "fr":
            return False
        # quatre-vingt: a unit then vingt; dix-sept, dix-huit, dix-neuf: a unit after dix
        if word in ("vingt", "vingts") and self.current % 100 == 4:
            return True
        return self.last_word == "dix" and word in ("sept", "huit", "neuf")


# Every word the spelled-number reader looks at, and short substrings that any text holding
# one of them contains (a quick test that skips most sentences).
_CANDIDATES: dict[str, frozenset[str]] = {
    "en": frozenset(
        [*_UNITS_EN, *_TEENS_EN, *_TENS_EN, *_HUNDRED["en"], *_BIG_WORDS["en"], "a", "an", "and"]
    ),
    "fr": frozenset([*_UNITS_FR, *_TEENS_FR, *_TENS_FR, *_HUNDRED["fr"], *_BIG_WORDS["fr"], "et"]),
}
_STEMS = {
    "en": (
        "zero",
        "two",
        "thre",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twel",
        "twent",
        "thirt",
        "fort",
        "fift",
        "hundred",
        "thousand",
        "illion",
    ),
    "fr": (
        "zero",
        "zéro",
        "deux",
        "trois",
        "quatre",
        "cinq",
        "six",
        "sept",
        "huit",
        "neuf",
        "dix",
        "onze",
        "douze",
        "treize",
        "quatorze",
        "quinze",
        "seize",
        "vingt",
        "trente",
        "quarante",
        "cinquante",
        "soixante",
        "cent",
        "mille",
        "illion",
        "illiard",
    ),
}


def _number_word(word: str, lang: Lang) -> tuple[str, int] | None:
    kind = _word_kind(word, lang)
    if kind is None and word in _ONE_WORDS[lang]:
        return "unit", 1
    return kind


def _spelled_numbers(text: str, lang: Lang, taken: list[Found]) -> list[tuple[Found, Number]]:
    """Numbers written in words: `nineteen`, `twenty-one`, `two hundred and fifty thousand`,
    `a million`, `dix-neuf`, `quatre-vingt-dix-sept`, `vingt et un`, `deux millions`. `one`,
    `un`, `une`, `a` and `neuf` alone are not numbers, nor are `millions` or `des milliards`."""
    lowered = text.lower()
    if not any(word in lowered for word in _STEMS[lang]):
        return []  # most sentences: no number word at all
    taken = taken + [Found(*m.span()) for m in _PERCENT_WORDS.finditer(text)]
    candidates = _CANDIDATES[lang]
    words = [
        (m.start(), m.end(), word)
        for m in _WORD.finditer(lowered)
        if (word := m.group(0)) in candidates and not _overlaps(m.start(), m.end(), taken)
    ]
    found: list[tuple[Found, Number]] = []
    run: _Run | None = None

    def close() -> None:
        nonlocal run
        if run is not None and not run.alone_only:
            phrase = text[run.start : run.end].lower()
            if phrase not in _VAGUE:
                # `deux millions` reads `2 million`; `deux cent mille` stays `200,000`
                scale = run.scale if run.scale >= 6 else 0
                amount = Decimal(run.total + run.current)
                found.append((Found(run.start, run.end), Number(amount, scale=scale)))
        run = None

    for i, (start, end, word) in enumerate(words):
        joined = run is not None and text[run.end : start] in (" ", "-")
        kind = _number_word(word, lang)
        if kind is None:
            if run is not None and joined and _joins(word, run, words, i, text, lang):
                run.end = end  # `and` in `two hundred and fifty`, `et` in `vingt et un`
                continue
            close()
            continue
        category, value = kind
        if run is not None and not (joined and run.accepts(word, category, lang)):
            close()
        if run is None:
            run = _Run(start=start, end=end)
        run.add(word, category, value, lang)
        run.end = end
    close()
    return found


def _joins(
    word: str, run: _Run, words: Sequence[tuple[int, int, str]], i: int, text: str, lang: Lang
) -> bool:
    """Whether `word` joins the number `run` to the next word: `and` after hundred or a scale
    word (`two hundred and fifty`), `et` between tens and `un`/`onze` (`vingt et un`)."""
    if i + 1 >= len(words) or text[words[i][1] : words[i + 1][0]] not in (" ", "-"):
        return False
    following = words[i + 1][2]
    if lang == "en":
        kind = _word_kind(following, lang)
        return (
            word == "and"
            and run.last in ("hundred", "scale")
            and kind is not None
            and kind[0] in ("unit", "teen", "tens")
        )
    return word == "et" and run.last == "tens" and following in ("un", "une", "onze")


def _with_suffixes(
    text: str, lang: Lang, found: list[tuple[Found, Number]]
) -> list[tuple[Found, Number]]:
    """Spelled numbers with what follows them: `nineteen percent`, `deux milliards d'euros`."""
    out = []
    for where, number in found:
        money = _currency_before(text, where.start)
        updated, end = _suffixes(text, where.end, lang, number, money_before=money is not None)
        if money is not None and updated.currency is None:
            updated = replace(updated, currency=money[1])
        out.append((Found(money[0] if money else where.start, end), updated))
    return out


def _roman_centuries(text: str) -> list[tuple[Found, Number]]:
    found = []
    for match in _ROMAN_CENTURY.finditer(text):
        value = _roman_value(match["roman"])
        if value is not None:
            found.append(
                (Found(match.start(), match.end("roman") + 1), Number(Decimal(value), ordinal=True))
            )
    return found


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS_FR = (
    ("janvier", "janv"),
    ("février", "fevrier", "févr", "fevr"),
    ("mars",),
    ("avril", "avr"),
    ("mai",),
    ("juin",),
    ("juillet", "juil"),
    ("août", "aout"),
    ("septembre", "sept"),
    ("octobre", "oct"),
    ("novembre", "nov"),
    ("décembre", "decembre", "déc", "dec"),
)
_MONTHS_EN_ABBR = (
    ("Jan",),
    ("Feb",),
    ("Mar",),
    ("Apr",),
    (),
    ("Jun",),
    ("Jul",),
    ("Aug",),
    ("Sep", "Sept"),
    ("Oct",),
    ("Nov",),
    ("Dec",),
)
_WEEKDAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")

# Month names by language: English ones are capitalised (`march` and `may` are verbs), French
# ones are looked up in lower case.
_MONTH_NUMBER: dict[str, dict[str, int]] = {
    "en": {
        name: number
        for number, (full, abbreviations) in enumerate(
            zip(MONTHS, _MONTHS_EN_ABBR, strict=True), start=1
        )
        for name in (full, *abbreviations)
    },
    "fr": {name: number for number, names in enumerate(_MONTHS_FR, start=1) for name in names},
}
# A month on its own (no day): full names only, since `Jan`, `oct`, `mars`... alone are too
# often something else; `May` only with a year (`may` is a verb), French months in lower case
# (capitalised, `Mars` is the planet).
_MONTH_ALONE_NAMES = {
    "en": [m for m in MONTHS if m != "May"],
    "fr": [
        n
        for names in _MONTHS_FR
        for n in names
        if len(n) > 4 or names[0] in ("mars", "mai", "juin", "août")
    ],
}


def _alternation(names: Iterable[str]) -> str:
    return "|".join(sorted((re.escape(n) for n in names), key=len, reverse=True))


_YEAR = r"(?P<year>1[89]\d\d|20\d\d)"
_DAY_EN = r"(?P<{g}>[0-3]?\d)(?:st|nd|rd|th)?"
_MONTH_EN = rf"(?P<month>{_alternation(_MONTH_NUMBER['en'])})\.?"
_RANGE_EN = r"\s*(?:-|–|—|to|and|through|until)\s*"
_DATE_PATTERNS: dict[str, list[re.Pattern[str]]] = {
    "en": [
        # September 4, Sept. 4th, September 10-13, September 4, 2023
        re.compile(
            rf"\b{_MONTH_EN}\s+{_DAY_EN.format(g='day')}\b(?![:.]\d)"
            rf"(?:{_RANGE_EN}{_DAY_EN.format(g='day2')}\b)?(?:,?\s+{_YEAR}\b)?"
        ),
        # 4 September, the 4th of September, 10-13 September 2023
        re.compile(
            rf"\b(?:the\s+)?{_DAY_EN.format(g='day')}(?:{_RANGE_EN}(?:the\s+)?"
            rf"{_DAY_EN.format(g='day2')})?\s+(?:of\s+)?{_MONTH_EN}(?![^\W_])(?:,?\s+{_YEAR}\b)?"
        ),
    ],
    "fr": [
        # 4 septembre, 1er septembre, 10 au 13 septembre, 4 sept. 2023
        re.compile(
            r"\b(?P<day>1er|[0-3]?\d)(?:\s*(?:-|–|—|au|à|et)\s*(?P<day2>[0-3]?\d))?\s+"
            rf"(?P<month>{_alternation(_MONTH_NUMBER['fr'])})\.?(?![^\W_])(?:\s+{_YEAR}\b)?",
            re.IGNORECASE,
        ),
    ],
}
_MONTH_ALONE = {
    "en": re.compile(
        rf"\b(?P<month>{_alternation(_MONTH_ALONE_NAMES['en'])}|May(?=,?\s+(?:1[89]|20)\d\d\b))"
        rf"\b(?:,?\s+{_YEAR}\b)?"
    ),
    "fr": re.compile(rf"\b(?P<month>{_alternation(_MONTH_ALONE_NAMES['fr'])})\b(?:\s+{_YEAR}\b)?"),
}
_WEEKDAY = {
    "en": re.compile(rf"\b(?P<weekday>{_alternation(WEEKDAYS)})s?\b"),
    "fr": re.compile(rf"\b(?P<weekday>{_alternation(_WEEKDAYS_FR)})s?\b", re.IGNORECASE),
}
# A year: 1800-2099 written alone (not `2 023`, `2023,5`, `2023 %` or `COVID-2019`).
_YEAR_ALONE = re.compile(rf"(?<![\w.,:/])(?<![^\W\d_]-){_YEAR}(?:s\b|(?![\w%€$£]|[.,]\d| ?%))")


@dataclass(frozen=True)
class DateFact:
    """A date as stated: a weekday, a day and month (and year), a month (and year) or a year."""

    day: int | None = None
    month: int | None = None
    year: int | None = None
    weekday: int | None = None

    @property
    def value(self) -> str:
        """`Monday`, `September 4`, `September 4, 2023`, `August`, `August 2023`, `2023`."""
        if self.weekday is not None:
            return WEEKDAYS[self.weekday]
        if self.month is None:
            return str(self.year)
        text = MONTHS[self.month - 1]
        if self.day is not None:
            text += f" {self.day}"
            return f"{text}, {self.year}" if self.year else text
        return f"{text} {self.year}" if self.year else text

    def matches(self, other: DateFact) -> bool:
        """Whether `other` says this date: the same weekday; the same day and month (years, where
        both give one, equal); the same month; the same year (alone or in a full date)."""
        if self.weekday is not None:
            return other.weekday == self.weekday
        if self.month is None:
            return self.year is not None and other.year == self.year
        if other.month != self.month:
            return False
        if self.day is not None and other.day != self.day:
            return False
        return self.year is None or other.year is None or other.year == self.year


def _dates(text: str, lang: Lang) -> list[tuple[Found, DateFact]]:
    found: list[tuple[Found, DateFact]] = []
    months = _MONTH_NUMBER[lang]

    def month_of(name: str) -> int | None:
        return months.get(name.lower() if lang == "fr" else name)

    def free(start: int, end: int) -> bool:
        return not _overlaps(start, end, [where for where, _ in found])

    for pattern in _DATE_PATTERNS[lang]:
        for match in pattern.finditer(text):
            month = month_of(match["month"])
            day = int(match["day"].lower().removesuffix("er"))
            if month is None or not 1 <= day <= 31 or not free(*match.span()):
                continue
            year = int(match["year"]) if match["year"] else None
            days = [day]
            if match["day2"] and day < int(match["day2"]) <= 31:
                days.append(int(match["day2"]))
            found.extend((Found(*match.span()), DateFact(d, month, year)) for d in days)
    for match in _MONTH_ALONE[lang].finditer(text):
        month = month_of(match["month"])
        if month is not None and free(*match.span()):
            year = int(match["year"]) if match["year"] else None
            found.append((Found(*match.span()), DateFact(month=month, year=year)))
    names = _WEEKDAYS_FR if lang == "fr" else WEEKDAYS
    for match in _WEEKDAY[lang].finditer(text):
        name = match["weekday"].lower() if lang == "fr" else match["weekday"]
        found.append((Found(*match.span()), DateFact(weekday=names.index(name))))
    for match in _YEAR_ALONE.finditer(text):
        start, end = match.span()
        if not free(start, end) or _currency_before(text, start) or _is_scale(text, end, lang):
            continue
        found.append((Found(start, end), DateFact(year=int(match["year"]))))
    return found


def _is_scale(text: str, pos: int, lang: Lang) -> bool:
    match = _SCALE_AFTER.match(text, pos)
    return match is not None and match["word"].lower() in _SCALE_WORDS[lang]


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------

_NAME_WORD = re.compile(r"(?<!\d)(?:(?:[A-Z]\.){2,}|[^\W\d_]+(?:['-][^\W\d_]+)*)(?!\d)")
_ELISION = re.compile(r"^[dlDLjJnNsScCmMtT]'(?=[^\W\d_])|^[qQ]u'(?=[^\W\d_])")


def word_set(words: str) -> frozenset[str]:
    """The words of a space-separated list."""
    return frozenset(words.split())


_CONNECTORS = word_set("of de du des la le les van von der den al el bin ben da di del y d l the")
# Titles and roles before a name: `Mr Peskov`, `President Putin` are checked as `Peskov`, `Putin`.
_TITLES = word_set(
    """mr mrs ms dr prof sir dame mme mlle mmes m st president prime minister chancellor
    senator governor mayor general king queen pope prince princess secretary spokesman
    spokeswoman spokesperson"""
)
# Capitalised words that are not names even inside a sentence (pronouns, determiners...).
_NOT_NAMES = word_set(
    """i a an the this that these those he she it we they you his her its our their my your
    in on at for but and or if when while after before as of to from by with without
    there here then so yet however also according since because although though
    le la les un une des du de ce cet cette ces il elle ils elles on nous vous je
    selon mais et ou donc or ni car dans sur avec pour par sans après avant"""
)
_OPENERS = '«"“‘([{—–-'
_ENDERS = ".!?:;…"


@dataclass(frozen=True)
class Name:
    """A capitalised name: as written, and its folded words that must be found."""

    text: str
    tokens: tuple[str, ...]
    acronyms: tuple[str, ...] = ()
    """Words written in capitals (`UN`, `US`, `NATO`), matched with their case."""


def _initial_positions(text: str, words: Sequence[re.Match[str]]) -> set[int]:
    """Starts of the words that begin a sentence or a quotation: their capital says nothing."""
    starts: set[int] = set()
    previous_end = 0
    for match in words:
        gap = text[previous_end : match.start()].rstrip()
        first = previous_end == 0 and not gap
        if first or (gap and (gap[-1] in _ENDERS or gap[-1] in _OPENERS)):
            starts.add(match.start())
        previous_end = match.end()
    return starts


def _name_words(text: str) -> tuple[list[tuple[int, int, str]], set[int]]:
    """Words as names see them (`d'Âmes` and `l'Élysée` give `Âmes` and `Élysée`), and the
    starts of those that begin a sentence or a quotation."""
    matches = list(_NAME_WORD.finditer(text))
    initial = _initial_positions(text, matches)
    out = []
    for match in matches:
        word, start = match.group(0), match.start()
        elided = _ELISION.match(word) if "'" in word else None
        if elided is not None:
            word, start = word[elided.end() :], start + elided.end()
        out.append((start, match.end(), word))
    return out, initial


def capitalised_words(text: str) -> set[str]:
    """Folded words written with a capital inside a sentence (not at its start)."""
    words, initial = _name_words(prepare(text))
    return {fold(word) for start, _, word in words if word[:1].isupper() and start not in initial}


def _strip_possessive(word: str) -> str:
    for ending in ("'s", "'S"):
        if word.endswith(ending):
            return word[: -len(ending)]
    return word.rstrip("'")


_DATE_WORDS = frozenset(MONTHS) | frozenset(WEEKDAYS) | {a for g in _MONTHS_EN_ABBR for a in g}
_Word = tuple[int, int, str]


def _capital_runs(text: str, words: Sequence[_Word]) -> list[list[_Word]]:
    """Runs of capitalised words separated by single spaces, with connectors (`of`, `de`...)
    inside them: `Ministry of Unification`, `Kim Jong-Un`."""
    runs: list[list[_Word]] = []
    current: list[_Word] = []
    pending: list[_Word] = []  # connectors waiting for the next capitalised word
    for word in words:
        start, _, surface = word
        gap_ok = bool(current) and text[(pending or current)[-1][1] : start] == " "
        if surface[:1].isupper():
            if not gap_ok and current:
                runs.append(current)
                current = []
            current.extend(pending if current else [])
            current.append(word)
            pending = []
        elif gap_ok and surface.lower() in _CONNECTORS:
            pending.append(word)
        else:
            if current:
                runs.append(current)
            current, pending = [], []
    if current:
        runs.append(current)
    return runs


def _not_a_name(surface: str) -> bool:
    word = _strip_possessive(surface)
    plain = word.replace(".", "")
    if len(plain) >= 2 and plain.isupper():
        return False  # an acronym (`UN`, `US`), whatever lower-case word it spells
    folded = fold(word).replace(".", "")
    return folded in _TITLES or folded in _NOT_NAMES or word in _DATE_WORDS


def names(text: str, known: set[str] | frozenset[str] = frozenset()) -> list[Name]:
    """Capitalised names of one or several words (`Kim Jong-Un`, `National Security Council`,
    `Ministry of Unification`, `UN`). A word that starts the sentence or a quotation counts only
    when `known` (folded words capitalised elsewhere, or found in the French) holds it; titles
    (`Mr`, `Mme`), function words and month or weekday names are never names."""
    text = prepare(text)
    words, initial = _name_words(text)
    found: list[Name] = []
    for run in _capital_runs(text, words):
        # Split at what is not a name: `Monday Putin`, `Mr Peskov`, `President Macron`.
        parts: list[list[_Word]] = [[]]
        for word in run:
            if _not_a_name(word[2]) and fold(word[2]) not in _CONNECTORS:
                parts.append([])
            else:
                parts[-1].append(word)
        for part in parts:
            while part and fold(part[0][2]) in _CONNECTORS:
                part = part[1:]
            while part and fold(part[-1][2]) in _CONNECTORS:
                part = part[:-1]
            if not part:
                continue
            # One capitalised word at the start of a sentence is a name only when known;
            # several in a row (`Xi Jinping`, `New York Post`) are one whatever their place.
            single = sum(1 for w in part if fold(w[2]) not in _CONNECTORS) == 1
            if (
                single
                and part[0][0] in initial
                and fold(_strip_possessive(part[0][2])) not in known
            ):
                continue
            tokens: list[str] = []
            acronyms: list[str] = []
            for _, _, surface in part:
                raw = _strip_possessive(surface)
                plain = raw.replace(".", "")
                if fold(plain) in _CONNECTORS:
                    continue
                if len(plain) >= 2 and plain.isupper() and plain.isalpha():
                    acronyms.append(strip_accents(plain))
                else:
                    tokens.extend(folded_tokens(raw))
            if tokens or acronyms:
                name = _strip_possessive(text[part[0][0] : part[-1][1]])
                found.append(Name(name, tuple(tokens), tuple(acronyms)))
    return found


# Acronyms and the spelled-out names an article may use for them instead (English and French).
ACRONYM_ALIASES: dict[str, tuple[str, ...]] = {
    "US": ("united states", "usa", "etats unis", "amerique"),
    "USA": ("united states", "us", "etats unis"),
    "UK": ("united kingdom", "britain", "royaume uni"),
    "UN": ("united nations", "onu", "nations unies"),
    "ONU": ("united nations", "un", "nations unies"),
    "EU": ("european union", "ue", "union europeenne"),
    "UE": ("european union", "eu", "union europeenne"),
    "NATO": ("otan",),
    "OTAN": ("nato",),
}


# --------------------------------------------------------------------------------------------
# Negation
# --------------------------------------------------------------------------------------------

_NEGATION_EN = re.compile(
    r"\b(?P<cue>not|never|cannot|nobody|nothing|none|neither|nor|nowhere|without|no(?!\.?\s*\d))\b"
    r"(?!\s+only\b)|(?P<nt>n't)\b",
    re.IGNORECASE,
)
_NEGATION_FR = re.compile(
    r"\b(?:ne\s+|n')(?:[^\s.!?;]+\s+){0,4}?(?:[«\"“]\s*)?"
    r"(?P<cue>pas|plus|jamais|rien|personne|guère|aucune?|nulle?)\b"
    r"|\b(?P<alone>aucune?|sans(?!\s+(?:doute|cesse)\b)|jamais)\b",
    re.IGNORECASE,
)


_CLAUSE_END = re.compile(r"[,;:.!?«»\"“”()\[\]—–]")


@dataclass(frozen=True)
class Negation:
    """A negation cue (`not`, `n't`, `ne ... pas`, `sans`...) and the rest of its clause."""

    cue: str
    clause: str
    """The text after the cue up to the next punctuation: what is negated."""


def find_negation(text: str, lang: Lang) -> Negation | None:
    """The first negation of `text`, or None when the sentence has none. English: `not`,
    `n't`, `never`, `no` (not `No. 10`), `nothing`, `nobody`, `none`, `neither`, `nor`,
    `without`, `cannot` (not `not only`). French: `ne`/`n'` with `pas`, `plus`, `jamais`,
    `rien`, `personne`, `guère`, `aucun`, `nul` within five words, and `aucun`, `jamais`,
    `sans` (not `sans doute`, `sans cesse`) alone."""
    text = prepare(text)
    if lang == "en":
        match = _NEGATION_EN.search(text)
        if match is None:
            return None
        cue = "n't" if match["nt"] else match["cue"].lower()
    else:
        match = _NEGATION_FR.search(text)
        if match is None:
            return None
        cue = f"ne ... {match['cue'].lower()}" if match["cue"] else match["alone"].lower()
    rest = text[match.end() :]
    end = _CLAUSE_END.search(rest)
    return Negation(cue, rest[: end.start()] if end else rest)


def negation(text: str, lang: Lang) -> str | None:
    """The first negation cue of `text` (see `find_negation`), or None."""
    found = find_negation(text, lang)
    return found.cue if found else None


# --------------------------------------------------------------------------------------------
# All facts of one text
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextFacts:
    """Numbers and dates of one sentence, in order of appearance."""

    numbers: tuple[Number, ...]
    dates: tuple[DateFact, ...]

    def plain_numbers(self) -> list[Number]:
        """Every number a translation must carry over: the numbers, plus the day and year of
        each date (`1er septembre` gives 1, `September 1st` too); months and weekdays are left
        out, since they are words."""
        out = list(self.numbers)
        seen_years: set[int] = set()
        for date in self.dates:
            if date.day is not None:
                out.append(Number(Decimal(date.day)))
            if date.year is not None and date.year not in seen_years:
                out.append(Number(Decimal(date.year), year=True))
                seen_years.add(date.year)
        return out


@lru_cache(maxsize=4096)
def text_facts(text: str, lang: Lang) -> TextFacts:
    """The numbers and dates of `text`, read with `lang`'s conventions."""
    text = prepare(text)
    dated = _dates(text, lang)
    taken = [where for where, _ in dated]
    numbers = _roman_centuries(text) if lang == "fr" else []
    taken += [where for where, _ in numbers]
    numbers += _digit_numbers(text, lang, taken)
    taken += [where for where, _ in numbers]
    numbers += _with_suffixes(text, lang, _spelled_numbers(text, lang, taken))
    numbers.sort(key=lambda item: item[0].start)
    dated.sort(key=lambda item: item[0].start)
    return TextFacts(
        numbers=tuple(number for _, number in numbers),
        dates=tuple(date for _, date in dated),
    )


def find_numbers(text: str, lang: Lang) -> list[Number]:
    """The numbers of `text` (dates and years left out: see `find_dates`)."""
    return list(text_facts(text, lang).numbers)


def find_dates(text: str, lang: Lang) -> list[DateFact]:
    """The dates of `text`: day and month (with year), month, weekday, year."""
    return list(text_facts(text, lang).dates)


def unique(values: Sequence[str]) -> list[str]:
    """`values` without repeats, first occurrence kept."""
    return list(dict.fromkeys(values))
