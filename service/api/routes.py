"""Thin routes: validate, hand the article to the pipeline in a worker thread, return its result."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response

from service import __version__
from service.api.auth import record_usage, require_api_key
from service.api.deps import PipelineDep, ResultsDep, StateDep, UsageDep
from service.api.errors import ErrorEnvelope
from service.api.examples import HEALTH, READY, SUMMARIZE_RESULT, TRANSLATE_RESULT, example
from service.api.glossaries import resolved_article
from service.api.schemas import SummarizeRequest, TranslateRequest, request_examples
from service.api.state import ServiceState
from service.api.streaming import error_maker, requested_framing, streamed
from service.article import ArticleInput, validate_article
from service.articles import (
    Count,
    stream_summary,
    stream_translation,
    summarize_article,
    translate_article,
)
from service.errors import ModelsNotReadyError
from service.pipeline import Pipeline
from service.results import SummarizeResult, TranslateResult
from service.usage import UsageStore

log = logging.getLogger(__name__)

router = APIRouter()


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorEnvelope, "description": "Missing or invalid API key (keys on)."},
    413: {"model": ErrorEnvelope, "description": "Article over DEPECHE_MAX_CHARS."},
    422: {
        "model": ErrorEnvelope,
        "description": "Empty text, both or neither of text and html, malformed JSON, wrong "
        "type, unknown field, a language other than French or English.",
    },
    429: {"model": ErrorEnvelope, "description": "A model's queue is full; see Retry-After."},
    503: {"model": ErrorEnvelope, "description": "Models not loaded (yet); see Retry-After."},
}


_X_CACHE = {"X-Cache": {"description": "`hit` when the result came from the cache, else `miss`."}}


def _ok(value: Any) -> dict[int | str, dict[str, Any]]:
    return {200: {**example(value), "headers": _X_CACHE}}


def _ready_pipeline(state: ServiceState, article: ArticleInput) -> Pipeline:
    validate_article(article, state.settings.max_chars)
    return state.require_pipeline()


def _counter(request: Request, usage: UsageStore) -> Count:
    return lambda article: record_usage(request, usage, article)


def _answered(response: Response, hit: bool) -> None:
    response.headers["X-Cache"] = "hit" if hit else "miss"


@router.get("/health", tags=["operations"], responses={200: example(HEALTH)})
def health(state: StateDep) -> dict[str, Any]:
    """Liveness: the process answers. Says whether models are loaded and on which device."""
    pipeline = state.pipeline
    return {
        "status": "ok",
        "version": __version__,
        "ready": pipeline is not None,
        "device": pipeline.device.label if pipeline else None,
        "requested_device": state.settings.device,
        # DEPECHE_PRESET: which pair of models and decoding this service was started with.
        "preset": state.settings.preset,
        "load_error": state.load_error,
        # A model that DEPECHE_ENGINE=auto could not convert, and so runs on transformers.
        "load_warnings": list(pipeline.load_warnings) if pipeline else [],
    }


@router.get("/ready", tags=["operations"], responses={200: example(READY), 503: _ERRORS[503]})
def ready(pipeline: PipelineDep) -> dict[str, Any]:
    """Readiness: both models loaded and a tiny tensor operation done on their device."""
    try:
        pipeline.check()
    except Exception as exc:  # a broken device: out of rotation, with the detail in the log
        log.exception("readiness check failed on %s", pipeline.device.label)
        raise ModelsNotReadyError(
            f"The device check failed on {pipeline.device.label} ({type(exc).__name__}); "
            "the service log has the detail."
        ) from exc
    return {"status": "ready", "device": pipeline.device.label, "models": pipeline.models()}


@router.post(
    "/summarize",
    tags=["articles"],
    response_model=SummarizeResult,
    responses={**_ok(SUMMARIZE_RESULT), **_ERRORS},
    dependencies=[Depends(require_api_key)],
)
def summarize(
    request: Request,
    response: Response,
    state: StateDep,
    results: ResultsDep,
    usage: UsageDep,
    body: Annotated[SummarizeRequest, Body(openapi_examples=request_examples())],
) -> Any:
    """Translate a French article into English and condense it into 3–6 key points.

    With `Accept: application/x-ndjson` (or `text/event-stream`) the answer is streamed: a
    `paragraph` event per paragraph as soon as it is translated, then `key_points`, then
    `done` with the rest (README "Streaming")."""
    article = resolved_article(request, body)
    pipeline = _ready_pipeline(state, article)
    summary = body.summary_request(article)
    if (framing := requested_framing(request)) is not None:
        stream = stream_summary(
            pipeline, results, summary, error_maker(request), count=_counter(request, usage)
        )
        stream.first()  # an error before the first event is answered as usual
        return streamed(stream, framing)
    result, hit = summarize_article(pipeline, results, summary, count=_counter(request, usage))
    _answered(response, hit)
    return result


@router.post(
    "/translate",
    tags=["articles"],
    response_model=TranslateResult,
    responses={**_ok(TRANSLATE_RESULT), **_ERRORS},
    dependencies=[Depends(require_api_key)],
)
def translate(
    request: Request,
    response: Response,
    state: StateDep,
    results: ResultsDep,
    usage: UsageDep,
    body: Annotated[TranslateRequest, Body(openapi_examples=request_examples(False))],
) -> Any:
    """Translate a French article into English, title and paragraphs, sentence by sentence.

    With `Accept: application/x-ndjson` (or `text/event-stream`) the answer is streamed: a
    `paragraph` event per paragraph as soon as it is translated, then `done` with the rest."""
    article = resolved_article(request, body)
    pipeline = _ready_pipeline(state, article)
    if (framing := requested_framing(request)) is not None:
        stream = stream_translation(
            pipeline, results, article, error_maker(request), count=_counter(request, usage)
        )
        stream.first()
        return streamed(stream, framing)
    result, hit = translate_article(pipeline, results, article, count=_counter(request, usage))
    _answered(response, hit)
    return result
