"""POST /summarize/batch: several articles in one request, run together, answered in order."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema

from service.api.auth import record_usage
from service.api.deps import ResultsDep, StateDep, UsageDep
from service.api.errors import ErrorBody, ErrorEnvelope, describe_validation, request_id_of
from service.api.examples import SUMMARIZE_RESULT, example
from service.api.glossaries import resolved_article
from service.api.schemas import SummarizeRequest, request_examples
from service.api.state import ServiceState
from service.articles import ResultCache, summarize_article
from service.errors import BatchTooLargeError, DepecheError
from service.results import SummarizeResult
from service.usage import UsageStore

log = logging.getLogger(__name__)

router = APIRouter(tags=["articles"])


class BatchRequest(BaseModel):
    """Body of POST /summarize/batch."""

    model_config = ConfigDict(extra="forbid")

    articles: Annotated[
        list[dict[str, Any]],
        WithJsonSchema(
            {"type": "array", "items": {"$ref": "#/components/schemas/SummarizeRequest"}}
        ),
    ] = Field(
        min_length=1,
        description="Articles, each the body of POST /summarize; at most "
        "DEPECHE_BATCH_MAX_ARTICLES (20 by default). Each is checked on its own: a bad one "
        "fails alone.",
    )


class BatchSuccess(BaseModel):
    """One article of the batch, done."""

    ok: Literal[True] = True
    result: SummarizeResult


class BatchFailure(BaseModel):
    """One article of the batch, refused or failed; its error has the usual envelope fields,
    its request id is the batch's with `.<index>` appended."""

    ok: Literal[False] = False
    error: ErrorBody


class BatchResponse(BaseModel):
    """Answer of POST /summarize/batch: one item per article, in the order sent."""

    results: list[BatchSuccess | BatchFailure]


def _examples() -> dict[str, Any]:
    examples = request_examples()
    return {
        "two_articles": {
            "summary": "Two articles, the second one empty (it fails alone)",
            "value": {
                "articles": [
                    examples["text_only"]["value"],
                    {"text": "", "title": "Un article vide"},
                ]
            },
        },
        "with_options": {
            "summary": "An article with options next to an HTML article",
            "value": {
                "articles": [examples["sample_article"]["value"], examples["html_article"]["value"]]
            },
        },
    }


def _one(
    request: Request,
    state: ServiceState,
    cache: ResultCache,
    usage: UsageStore,
    index: int,
    raw: dict[str, Any],
) -> BatchSuccess | BatchFailure:
    item_id = f"{request_id_of(request)}.{index}"
    try:
        body = SummarizeRequest.model_validate(raw)
        article = resolved_article(request, body)
        result, _ = summarize_article(
            state.require_pipeline(),
            cache,
            body.summary_request(article),
            count=lambda answered: record_usage(request, usage, answered),
        )
    except ValidationError as exc:
        code, message = describe_validation(list(exc.errors()))
    except DepecheError as exc:
        code, message = exc.code, exc.message
    except Exception:
        log.exception("article %s failed", item_id)
        code = "internal_error"
        message = f"The article failed unexpectedly; quote request id {item_id} when reporting it."
    else:
        return BatchSuccess(result=result)
    return BatchFailure(error=ErrorBody(code=code, message=message, request_id=item_id))


@router.post(
    "/summarize/batch",
    responses={
        200: example(
            BatchResponse(
                results=[
                    BatchSuccess(result=SUMMARIZE_RESULT),
                    BatchFailure(
                        error=ErrorBody(
                            code="empty_text",
                            message="The article text is empty: send the French article in `text`.",
                            request_id="3b1f0c2a9d8e4f7a.1",
                        )
                    ),
                ]
            )
        ),
        401: {"model": ErrorEnvelope, "description": "Missing or invalid API key."},
        413: {"model": ErrorEnvelope, "description": "More than DEPECHE_BATCH_MAX_ARTICLES."},
        422: {"model": ErrorEnvelope, "description": "No `articles` list, or an empty one."},
        503: {"model": ErrorEnvelope, "description": "Models not loaded (yet); see Retry-After."},
    },
)
def summarize_batch(
    request: Request,
    state: StateDep,
    cache: ResultsDep,
    usage: UsageDep,
    body: Annotated[BatchRequest, Body(openapi_examples=_examples())],
) -> BatchResponse:
    """Summarize several articles at once. They run concurrently, so the models batch their
    sentences together; the results come back in the order sent, each either
    `{"ok": true, "result": <the /summarize response>}` or `{"ok": false, "error": {...}}`."""
    limit = state.settings.batch_max_articles
    if len(body.articles) > limit:
        raise BatchTooLargeError(
            f"The batch has {len(body.articles)} articles, over the limit of {limit} "
            "(DEPECHE_BATCH_MAX_ARTICLES): send several batches."
        )
    state.require_pipeline()  # 503 for the whole batch while the models load
    with ThreadPoolExecutor(len(body.articles), thread_name_prefix="batch") as pool:
        results = list(
            pool.map(
                lambda item: _one(request, state, cache, usage, *item),
                enumerate(body.articles),
            )
        )
    return BatchResponse(results=results)
