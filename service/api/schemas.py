"""Request bodies of the API and their documented examples (responses: `service.results`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.article import ArticleInput
from service.articles import SummaryRequest
from service.glossary.terms import MAX_DO_NOT_TRANSLATE, MAX_ENTRIES, MAX_TERM_CHARS

_SAMPLE = Path(__file__).resolve().parents[2] / "scripts" / "examples" / "seed_article.fr.txt"
_SAMPLE_FALLBACK = (
    "Selon Washington, Vladimir Poutine et Kim Jong-Un pourraient se rencontrer prochainement en "
    "Russie. Il s’agirait d’un souhait du président russe, alors que les deux pays sont accusés "
    "de négocier des livraisons d’armes."
)

_HTML_EXAMPLE = (
    "<h2>Une rencontre en Russie</h2>\n"
    "<p>Selon Washington, Vladimir Poutine et Kim Jong-Un pourraient se rencontrer "
    "prochainement en Russie.</p>\n"
    "<blockquote>Il s’agirait d’un souhait du président russe.</blockquote>\n"
    "<ul><li>Les deux pays sont accusés de négocier des livraisons d’armes.</li></ul>"
)


@lru_cache(maxsize=1)
def sample_article() -> str:
    """The sample article shipped for the curl script, used as the docs' worked example."""
    return _SAMPLE.read_text(encoding="utf-8") if _SAMPLE.is_file() else _SAMPLE_FALLBACK


class SummarizeOptions(BaseModel):
    """Per-request options of /summarize; unknown options are refused with 422."""

    model_config = ConfigDict(extra="forbid")

    max_points: int | None = Field(
        None, ge=3, le=6, description="How many key points at most (3 to 6; default 5)."
    )
    unsupported: Literal["flag", "drop", "replace"] = Field(
        "flag",
        description="What to do with a key point whose facts (numbers, dates, names, "
        "negation) the article does not state: `flag` keeps it with `supported: false`; "
        "`drop` leaves it out and says so in `meta.warnings`; `replace` puts the English of its "
        "best source sentence in its place (`replaced: true` in `grounding`).",
    )


class TranslateOptions(BaseModel):
    """Per-request options of /translate (none yet); unknown options are refused with 422."""

    model_config = ConfigDict(extra="forbid")


class _ArticleBase(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    text: str | None = Field(
        None,
        description="The French article as plain text; a newline separates paragraphs. "
        "Send `text` or `html`, not both.",
    )
    html: str | None = Field(
        None,
        description="The article as HTML. `p`, `h1`–`h6`, `li`, `blockquote` and `figcaption` "
        "become blocks, translated one by one; scripts, styles, embeds and attributes are "
        "dropped.",
    )
    title: str | None = Field(None, description="The headline, translated too.")
    standfirst: str | None = Field(
        None, description="The standfirst (chapô) under the headline, translated too."
    )
    captions: list[str] = Field(
        default_factory=list, description="Photo captions, translated and returned in order."
    )
    source_lang: Literal["fr", "en"] | None = Field(
        None,
        description="The article's language; detected when absent. `en` skips translation.",
    )
    format: Literal["text", "html"] = Field(
        "text",
        description="`html` also returns the translation as clean HTML in `translation.html`.",
    )
    extract_article: bool = Field(
        True,
        description="When `html` is a whole page (it has `<html>` or `<body>`) with one "
        "article (`itemprop=articleBody`, `<article>` or `<main>`, with the page's `<h1>`), "
        "keep only that article; `meta.warnings` says how many blocks were left out. `false` "
        "keeps the whole page. A fragment is always kept whole.",
    )
    glossary: dict[str, str] = Field(
        default_factory=dict,
        description="French term -> the English the translation must use, e.g. "
        '`{"Conseil de sécurité nationale": "National Security Council"}`. Terms match '
        "whole words without regard to case or accents, the longest first. At most "
        f"{MAX_ENTRIES:,} entries of {MAX_TERM_CHARS} characters; no empty, whitespace-padded "
        "or duplicate terms. `meta.glossary` says where each was found and whether it was "
        "applied.",
        json_schema_extra={"maxProperties": MAX_ENTRIES},
    )
    do_not_translate: list[str] = Field(
        default_factory=list,
        description="Terms to keep exactly as the article spells them (names, titles), e.g. "
        f'`["Kim Jong-Un", "Libération"]`; at most {MAX_DO_NOT_TRANSLATE:,}.',
        json_schema_extra={"maxItems": MAX_DO_NOT_TRANSLATE},
    )
    glossary_id: str | None = Field(
        None,
        max_length=64,
        description="A glossary stored with POST /glossaries; `glossary` and "
        "`do_not_translate` add to it and win over its entries with the same source term.",
    )

    def article(self) -> ArticleInput:
        """The request as the pipeline takes it (`glossary_id` is resolved by
        `service.api.glossaries.resolved_article`, which has the store)."""
        return ArticleInput(
            text=self.text,
            html=self.html,
            title=self.title,
            standfirst=self.standfirst,
            captions=tuple(self.captions),
            source_lang=self.source_lang,
            format=self.format,
            extract_article=self.extract_article,
            glossary=tuple(self.glossary.items()),
            do_not_translate=tuple(self.do_not_translate),
        )


class SummarizeRequest(_ArticleBase):
    """Body of POST /summarize."""

    options: SummarizeOptions = Field(default_factory=SummarizeOptions)

    def summary_request(self, article: ArticleInput) -> SummaryRequest:
        """The request as the article service takes it, with `article` (this body's, its
        glossary resolved)."""
        return SummaryRequest(article, self.options.max_points, self.options.unsupported)


class TranslateRequest(_ArticleBase):
    """Body of POST /translate."""

    options: TranslateOptions = Field(default_factory=TranslateOptions)


def request_examples(summary_options: bool = True) -> dict[str, Any]:
    """OpenAPI examples for the article endpoints, built from the sample article.

    `summary_options=False` leaves out `options.max_points`, which /translate refuses.
    """
    sample: dict[str, Any] = {
        "text": sample_article(),
        "title": "Poutine et Kim Jong-Un pourraient se rencontrer en Russie",
    }
    if summary_options:
        sample["options"] = {"max_points": 4}
    return {
        "sample_article": {
            "summary": "The sample article (a wire story, 342 words)",
            "value": sample,
        },
        "text_only": {
            "summary": "Only the text; defaults for everything else",
            "value": {"text": _SAMPLE_FALLBACK},
        },
        "html_article": {
            "summary": "An HTML article with standfirst and caption, translation back as HTML",
            "value": {
                "html": _HTML_EXAMPLE,
                "title": "Poutine et Kim Jong-Un pourraient se rencontrer en Russie",
                "standfirst": "Selon Washington, une rencontre pourrait avoir lieu prochainement.",
                "captions": ["Vladimir Poutine à Moscou, le 5 septembre."],
                "format": "html",
            },
        },
    }
