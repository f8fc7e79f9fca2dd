"""What /summarize does with unsupported key points: flag, drop or replace them (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from service.grounding.checks import ArticleIndex, folded
from service.results import ArticleSentence, PointGrounding

Unsupported = Literal["flag", "drop", "replace"]
MIN_POINTS = 3
"""Below this many key points, `meta.warnings` says so."""


@dataclass
class GroundedSummary:
    """The key points after the policy, one grounding entry each, and what to warn about."""

    key_points: list[str]
    grounding: list[PointGrounding]
    warnings: list[str] = field(default_factory=list)


def reasons(entry: PointGrounding) -> str:
    """Why a point is unsupported, in plain words: its failed checks' notes joined."""
    return "; ".join(check.note or check.value for check in entry.checks if not check.supported)


def ground_summary(
    points: Sequence[str],
    sentences: Sequence[ArticleSentence],
    unsupported: Unsupported = "flag",
    french: bool = True,
    index: ArticleIndex | None = None,
) -> GroundedSummary:
    """Ground every key point, then keep, drop or replace the unsupported ones.

    - `flag`: every point stays; unsupported ones have `supported: false`.
    - `drop`: unsupported points are left out, each named in the warnings.
    - `replace`: an unsupported point gives way to the English of its best source sentence
      (`replaced: true`, `original` the point), grounded in turn; a point with no source, or
      whose best source is already a key point, is left out instead.
    When points were left out and fewer than MIN_POINTS remain, a warning says so.
    """
    index = index or ArticleIndex(sentences, french)
    entries = [index.ground(point) for point in points]
    result = GroundedSummary(key_points=[], grounding=[])
    bad = [entry for entry in entries if not entry.supported]
    if unsupported == "flag":
        result.key_points = list(points)
        result.grounding = entries
        if bad:
            result.warnings.append(
                f"{len(bad)} of {len(entries)} key point(s) state a fact the article does not "
                "support (grounding[].supported is false)"
            )
        return result

    by_id = {sentence.id: sentence for sentence in sentences}
    taken = {folded(entry.text) for entry in entries if entry.supported}
    for number, entry in enumerate(entries, start=1):
        if entry.supported:
            result.key_points.append(entry.text)
            result.grounding.append(entry)
            continue
        why = reasons(entry)
        if unsupported == "replace" and entry.sources:
            best = by_id[entry.sources[0].sentence]
            text = best.text.strip()
            if text and folded(text) not in taken:
                taken.add(folded(text))
                replacement = index.ground(text)
                replacement.replaced = True
                replacement.original = entry.text
                result.key_points.append(text)
                result.grounding.append(replacement)
                result.warnings.append(
                    f"key point {number} replaced by sentence {best.id}, its best source: {why}"
                )
                continue
            why += (
                f"; its best source, sentence {best.id}, is already a key point"
                if text
                else f"; its best source, sentence {best.id}, has no English"
            )
        elif unsupported == "replace":
            why += "; no sentence of the article covers it"
        result.warnings.append(f"key point {number} left out as unsupported: {why}")
    if len(result.key_points) < len(entries) and len(result.key_points) < MIN_POINTS:
        result.warnings.append(
            f"only {len(result.key_points)} key point(s) remain after leaving out unsupported "
            f"ones, fewer than {MIN_POINTS}"
        )
    return result
