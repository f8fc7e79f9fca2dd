"""Request bodies of the API and their documented examples (responses: `service.results`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_SAMPLE = Path(__file__).resolve().parents[2] / "scripts" / "examples" / "seed_article.fr.txt"
_SAMPLE_FALLBACK = (
    "Selon Washington, Vladimir Poutine et Kim Jong-Un pourraient se rencontrer prochainement en "
    "Russie. Il s’agirait d’un souhait du président russe, alors que les deux pays sont accusés "
    "de négocier des livraisons d’armes."
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


class TranslateOptions(BaseModel):
    """Per-request options of /translate (none yet); unknown options are refused with 422."""

    model_config = ConfigDict(extra="forbid")


class _ArticleBase(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    text: str = Field(
        description="The French article as plain text; a newline separates paragraphs.",
    )
    title: str | None = Field(None, description="The headline, translated too.")


class SummarizeRequest(_ArticleBase):
    """Body of POST /summarize."""

    options: SummarizeOptions = Field(default_factory=SummarizeOptions)


class TranslateRequest(_ArticleBase):
    """Body of POST /translate."""

    options: TranslateOptions = Field(default_factory=TranslateOptions)


def request_examples() -> dict[str, Any]:
    """OpenAPI examples for the article endpoints, built from the sample article."""
    return {
        "sample_article": {
            "summary": "The sample article (a Le Parisien-style wire story, 342 words)",
            "value": {
                "text": sample_article(),
                "title": "Poutine et Kim Jong-Un pourraient se rencontrer en Russie",
                "options": {"max_points": 4},
            },
        },
        "text_only": {
            "summary": "Only the text; defaults for everything else",
            "value": {"text": _SAMPLE_FALLBACK},
        },
    }
