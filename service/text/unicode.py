"""The Unicode rule for everything that comes in: UTF-8 only, and no unpaired surrogates.

A lone UTF-16 surrogate (`"\\ud800"`) is valid JSON syntax but no character at all: it cannot
be encoded in UTF-8, so no tokenizer, log or database can take it. Bytes that are not UTF-8 are
not JSON text (RFC 8259, section 8.1). Both are refused with `invalid_unicode` (422) and a
message that says where, rather than repaired: a replacement character in a published
translation is worse than an error the sender can fix at its source.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from service.errors import InvalidUnicodeError

# The JSON escape of a surrogate code unit (U+D800 to U+DFFF). A well-paired one is fine; only
# parsing tells the two apart, so only a body that has one is parsed here.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_FIX = "send each character whole (as itself, or as a \\uXXXX\\uXXXX surrogate pair)"


@dataclass(frozen=True)
class LoneSurrogate:
    """Where a parsed JSON value holds an unpaired surrogate."""

    path: str
    """Dotted path of the string (`captions.1`, `articles.0.text`); "" for the value itself."""
    index: int
    """Position of the surrogate in that string (or in the key, when `in_key`)."""
    code_point: int
    in_key: bool = False


def decode_utf8(data: bytes, what: str = "The request body") -> str:
    """`data` as text; InvalidUnicodeError naming the first bad byte when it is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidUnicodeError(
            f"{what} is not valid UTF-8 (byte 0x{data[exc.start]:02X} at offset {exc.start}): "
            "send it encoded in UTF-8."
        ) from None


def _surrogate_in(text: str) -> tuple[int, int] | None:
    found = _SURROGATE.search(text)
    return None if found is None else (found.start(), ord(found.group()))


def find_lone_surrogate(value: Any) -> LoneSurrogate | None:
    """The first string or key of a parsed JSON value, in document order, that holds an
    unpaired surrogate; None when there is none. Iterative: deep nesting cannot exhaust the
    stack."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            hit = _surrogate_in(item)
            if hit is not None:
                return LoneSurrogate(path, *hit)
        elif isinstance(item, dict):
            children: list[tuple[str, Any]] = []
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                hit = _surrogate_in(key)
                if hit is not None:
                    return LoneSurrogate(path, *hit, in_key=True)
                children.append((child_path, child))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            prefix = f"{path}." if path else ""
            stack.extend(reversed([(f"{prefix}{i}", child) for i, child in enumerate(item)]))
    return None


def describe(found: LoneSurrogate, what: str = "the body") -> str:
    """The error message for `found`; it names the field, never echoes its text."""
    place = f"`{found.path}`" if found.path else what
    if found.in_key:
        place = f"a field name in {place}"
    return (
        f"{place[0].upper()}{place[1:]} holds an unpaired UTF-16 surrogate "
        f"(U+{found.code_point:04X}) at character {found.index}: {_FIX}."
    )


def check_text(text: str, what: str) -> None:
    """InvalidUnicodeError when `text` holds an unpaired surrogate; `what` names the text."""
    hit = _surrogate_in(text)
    if hit is not None:
        raise InvalidUnicodeError(describe(LoneSurrogate("", *hit), what))


def check_json_body(body: bytes) -> None:
    """Apply the rule to a raw JSON body before anything parses it for real.

    Raises InvalidUnicodeError. A body that is not JSON at all is left for the JSON parser to
    refuse; a body with no surrogate escape (nearly every one) is not parsed here.
    """
    text = decode_utf8(body)
    if not _SURROGATE_ESCAPE.search(text):
        return
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return
    found = find_lone_surrogate(value)
    if found is not None:
        raise InvalidUnicodeError(describe(found))
