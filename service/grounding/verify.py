"""POST /verify without the web: the checks of /summarize on text an editor wrote, no model."""

from __future__ import annotations

from collections.abc import Sequence

from service.errors import ArticleTooLongError, EmptyArticleError, SourceCountMismatchError
from service.grounding.checks import ArticleIndex, check_pairs
from service.grounding.sentences import verify_sentences
from service.results import VerifyResult

MAX_POINTS = 50
"""Key points one /verify request may check."""


def verify_text(
    translation: Sequence[str],
    source: Sequence[str] | None,
    key_points: Sequence[str],
    max_chars: int,
) -> VerifyResult:
    """Number the sentences of `translation` (paired with `source`, the French paragraphs,
    when given), ground every key point in them and check each translation's numbers.

    Raises SourceCountMismatchError when `source` has another number of paragraphs,
    EmptyArticleError when `translation` holds no text, ArticleTooLongError past `max_chars`.
    """
    if source is not None and len(source) != len(translation):
        raise SourceCountMismatchError(
            f"`source` has {len(source)} paragraph(s) and `translation` {len(translation)}: "
            "send one French paragraph per English paragraph, in the same order."
        )
    if not any(paragraph.strip() for paragraph in translation):
        raise EmptyArticleError("`translation` holds no text: send the English paragraphs.")
    size = sum(map(len, translation)) + sum(map(len, source or ())) + sum(map(len, key_points))
    if size > max_chars:
        raise ArticleTooLongError(
            f"The text sent has {size} characters; /verify takes at most {max_chars} "
            "(DEPECHE_MAX_CHARS), translation, source and key points together."
        )
    sentences, pairs = verify_sentences(translation, source)
    index = ArticleIndex(sentences, french=source is not None)
    return VerifyResult(
        grounding=[index.ground(point) for point in key_points],
        translation_checks=check_pairs(pairs),
        sentences=sentences,
    )
