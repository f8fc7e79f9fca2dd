"""One article request (text or HTML, headline, standfirst, captions): its parts, checked."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

from service.errors import (
    ArticleTooLongError,
    ConflictingFieldsError,
    EmptyArticleError,
    MissingArticleError,
    UnsupportedLanguageError,
)
from service.glossary.terms import check_request_terms
from service.text.html import Block, ParsedHtml, parse_html
from service.text.language import Detection, detect_language
from service.text.segment import split_paragraphs

SourceLanguage = Literal["fr", "en"]
OutputFormat = Literal["text", "html"]
SUPPORTED_LANGUAGES: tuple[SourceLanguage, ...] = ("fr", "en")


@dataclass(frozen=True)
class ArticleInput:
    """An article as sent: the body in `text` or in `html` (exactly one), plus optional parts.

    `source_lang` overrides language detection; `format="html"` asks for the translation as
    clean HTML too.
    """

    text: str | None = None
    html: str | None = None
    title: str | None = None
    standfirst: str | None = None
    captions: tuple[str, ...] = field(default_factory=tuple)
    source_lang: SourceLanguage | None = None
    format: OutputFormat = "text"
    extract_article: bool = True
    glossary: tuple[tuple[str, str], ...] = ()
    """(French term, English term) pairs the translation must use; a stored glossary named in
    the request is already merged in (`service.glossary.terms.merge_terms`)."""
    do_not_translate: tuple[str, ...] = ()
    """Terms the translation must keep as the article spells them."""

    @classmethod
    def of(cls, article: str | ArticleInput, title: str | None = None) -> ArticleInput:
        """`article` as an ArticleInput: plain text becomes `text`; `title` replaces the title."""
        if isinstance(article, ArticleInput):
            return article if title is None else replace(article, title=title)
        return cls(text=article, title=title)

    @cached_property
    def parsed_html(self) -> ParsedHtml | None:
        """The HTML body parsed (a whole page narrowed to its article unless
        `extract_article` is off); None for text."""
        if self.html is None:
            return None
        return parse_html(self.html, extract_article=self.extract_article)

    @cached_property
    def blocks(self) -> list[Block]:
        """The body's blocks: the HTML's, or one `p` per paragraph of the text."""
        if self.parsed_html is not None:
            return self.parsed_html.blocks
        return [Block("p", paragraph) for paragraph in split_paragraphs(self.text or "")]

    def input_warnings(self) -> list[str]:
        """What the response must say about the input as parsed (a page's chrome left out)."""
        parsed = self.parsed_html
        if parsed is None or not parsed.dropped:
            return []
        return [
            f"html is a whole page: kept its article ({parsed.scope}, {len(parsed.blocks)} "
            f"block(s)) and left out {parsed.dropped} block(s) of the rest of the page (menus, "
            "links, footer); send extract_article: false to translate the whole page"
        ]

    def size(self) -> int:
        """Characters that count against DEPECHE_MAX_CHARS: the body's text and every other
        part (for HTML, the text of its blocks, not its markup)."""
        body = len(self.text or "") if self.html is None else sum(len(b.text) for b in self.blocks)
        parts = (self.title or "", self.standfirst or "", *self.captions)
        return body + sum(len(part) for part in parts)

    def detection_text(self) -> str:
        """What language detection reads: the title and the body."""
        return "\n".join([self.title or "", *(b.text for b in self.blocks)])


def validate_article(article: ArticleInput, max_chars: int) -> None:
    """Reject ambiguous, empty and over-long articles before any model work."""
    if article.text is not None and article.html is not None:
        raise ConflictingFieldsError(
            "Send the article in `text` or in `html`, not both: they would be two articles."
        )
    if article.text is None and article.html is None:
        raise MissingArticleError(
            "The field `text` is required: send the article as plain text in `text`, "
            "or as HTML in `html`."
        )
    if article.html is not None and not article.blocks:
        raise EmptyArticleError(
            "The HTML holds no text: send the article's paragraphs in `html` "
            "(scripts, styles and embeds are ignored)."
        )
    if article.text is not None and not article.text.strip():
        raise EmptyArticleError("The article text is empty: send the French article in `text`.")
    check_request_terms(article.glossary, article.do_not_translate)
    size = article.size()
    if size > max_chars:
        raise ArticleTooLongError(
            f"The article has {size} characters, over the limit of {max_chars} "
            "(DEPECHE_MAX_CHARS): split it or raise the limit."
        )


@dataclass(frozen=True)
class SourceLanguageChoice:
    """The language the article is treated as, how it was chosen, and what to tell the caller."""

    language: SourceLanguage
    detection: Detection | None  # None when the request gave `source_lang`
    warnings: list[str] = field(default_factory=list)


def source_language(article: ArticleInput) -> SourceLanguageChoice:
    """`source_lang` when given; otherwise the detected language, if it is French or English.

    Raises UnsupportedLanguageError for any other language the classifier is confident about.
    """
    if article.source_lang is not None:
        return SourceLanguageChoice(article.source_lang, None)
    detection = detect_language(article.detection_text())
    language = detection.language
    if language not in SUPPORTED_LANGUAGES:
        raise UnsupportedLanguageError(
            f'The article looks like language "{language}" ({detection.probability:.0%} sure), '
            "not French or English: Dépêche translates French into English. If it is French "
            'or English after all, send "source_lang": "fr" or "en".'
        )
    warnings = []
    if detection.fallback and not detection.short and detection.guess not in (None, "fr"):
        warnings.append(
            f'language detection was unsure (best guess "{detection.guess}", '
            f"{detection.probability:.0%}): the article was treated as French"
        )
    return SourceLanguageChoice("en" if language == "en" else "fr", detection, warnings)
