"""POST /verify: the grounding and translation checks of /summarize on text an editor wrote."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.api.auth import require_api_key
from service.api.deps import SettingsDep
from service.api.errors import ErrorEnvelope
from service.api.examples import VERIFY_REQUEST, VERIFY_RESULT, example
from service.grounding.verify import MAX_POINTS, verify_text
from service.results import VerifyResult

router = APIRouter()
_EXAMPLES = {"edited": {"summary": "Key points an editor wrote", "value": VERIFY_REQUEST}}


class VerifyRequest(BaseModel):
    """Body of POST /verify; unknown fields are refused with 422."""

    model_config = ConfigDict(extra="forbid")

    translation: list[str] = Field(
        min_length=1,
        description="The English paragraphs, in order (as in the answer of "
        "/summarize, or as the editor changed them).",
    )
    source: list[str] | None = Field(
        None,
        description="The French paragraphs, one per English paragraph (422 "
        "`source_count_mismatch` otherwise); numbers, dates and names are also looked up in "
        "them, and the translation checks compare them with the English.",
    )
    key_points: list[str] = Field(
        default_factory=list,
        max_length=MAX_POINTS,
        description=f"The key points to check (at most {MAX_POINTS}); none to check only the "
        "translation.",
    )

    @field_validator("key_points")
    @classmethod
    def _no_blank_point(cls, points: list[str]) -> list[str]:
        for number, point in enumerate(points, start=1):
            if not point.strip():
                raise ValueError(f"key point {number} is empty")
        return points


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorEnvelope, "description": "Missing or invalid API key (keys on)."},
    413: {"model": ErrorEnvelope, "description": "Text over DEPECHE_MAX_CHARS."},
    422: {
        "model": ErrorEnvelope,
        "description": "Empty translation, a blank key point, `source` with another number of "
        "paragraphs (`source_count_mismatch`), malformed JSON, a wrong type, an unknown field.",
    },
}


@router.post(
    "/verify",
    tags=["articles"],
    responses={200: example(VERIFY_RESULT), **_ERRORS},
    dependencies=[Depends(require_api_key)],
)
def verify(
    settings: SettingsDep,
    body: Annotated[VerifyRequest, Body(openapi_examples=_EXAMPLES)],
) -> VerifyResult:
    """Check key points and a translation with no model: each point's source sentences and
    facts (numbers, dates, names, negation), and the numbers of each French sentence against
    its English. Works while the models load."""
    return verify_text(body.translation, body.source, body.key_points, settings.max_chars)
