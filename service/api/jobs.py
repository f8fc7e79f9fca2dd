"""Asynchronous jobs over HTTP: POST /jobs, GET /jobs/{id}, DELETE /jobs/{id}.

The work is done by `service.jobs`; these routes validate, call it and shape the answers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request, Response
from pydantic import Field

from service.api.auth import record_usage
from service.api.deps import JobsDep, UsageDep
from service.api.errors import ErrorEnvelope, request_id_of
from service.api.examples import SUMMARIZE_RESULT, example
from service.api.glossaries import resolved_article
from service.api.schemas import SummarizeRequest, request_examples
from service.article import validate_article
from service.jobs.models import (
    JobDocument,
    JobError,
    JobErrorBody,
    JobProgress,
    WebhookAttempt,
    WebhookInfo,
)

router = APIRouter(tags=["jobs"])


class JobRequest(SummarizeRequest):
    """Body of POST /jobs: the body of POST /summarize, plus where to report the outcome."""

    callback_url: str | None = Field(
        None,
        description="URL that receives the finished job as a signed POST (see the webhook "
        "docs). Must resolve to public addresses unless listed in DEPECHE_WEBHOOK_ALLOW.",
    )


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorEnvelope, "description": description}


def _examples() -> dict[str, Any]:
    examples = request_examples()
    examples["with_callback"] = {
        "summary": "Text and a webhook",
        "value": {
            "text": examples["text_only"]["value"]["text"],
            "callback_url": "https://cms.example.org/hooks/depeche",
        },
    }
    return examples


_T0 = datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC)
_HOOK = "https://cms.example.org/hooks/depeche"


def _job(status: str, **fields: Any) -> JobDocument:
    """An example job submitted at _T0 with a callback (fields override the queued state)."""
    values: dict[str, Any] = {
        "id": "3f0c9a7e5b2d4c1f8e6a9b0d7c5e3a1f",
        "status": status,
        "progress": JobProgress(stage="queued"),
        "created_at": _T0,
        "updated_at": _T0,
        "request_id": "story-1234-rev-7",
        "webhook": WebhookInfo(url=_HOOK),
    }
    values.update(fields)
    return JobDocument.model_validate(values)


_STARTED = _T0 + timedelta(seconds=1)
_FINISHED = _T0 + timedelta(seconds=4)
_JOB_EXAMPLES: dict[str, JobDocument] = {
    "queued": _job("queued"),
    "running": _job(
        "running",
        progress=JobProgress(stage="translating", done=12, total=17, fraction=0.7059),
        started_at=_STARTED,
        updated_at=_STARTED + timedelta(seconds=2),
        runs=1,
    ),
    "done": _job(
        "done",
        progress=JobProgress(stage="done", done=3, total=3, fraction=1.0),
        started_at=_STARTED,
        finished_at=_FINISHED,
        updated_at=_FINISHED + timedelta(seconds=2),
        runs=1,
        result=SUMMARIZE_RESULT,
        webhook=WebhookInfo(
            url=_HOOK,
            state="delivered",
            attempts=[
                WebhookAttempt(attempt=1, at=_FINISHED, status_code=500, duration_ms=41.2),
                WebhookAttempt(
                    attempt=2,
                    at=_FINISHED + timedelta(seconds=1.6),
                    status_code=200,
                    duration_ms=23.8,
                ),
            ],
        ),
    ),
    "failed": _job(
        "failed",
        progress=JobProgress(stage="done", done=0, total=0, fraction=0.0),
        started_at=_STARTED,
        finished_at=_STARTED,
        updated_at=_STARTED,
        runs=1,
        error=JobError(
            error=JobErrorBody(
                code="unsupported_language",
                message='The article looks like language "de" (99% sure), not French or English: '
                "Dépêche translates French into English. If it is French or English after all, "
                'send "source_lang": "fr" or "en".',
                request_id="story-1234-rev-7",
            )
        ),
        webhook=WebhookInfo(
            url=_HOOK,
            state="delivered",
            attempts=[WebhookAttempt(attempt=1, at=_STARTED, status_code=204, duration_ms=18.5)],
        ),
    ),
    "cancelled": _job("cancelled", finished_at=_STARTED, updated_at=_STARTED),
}


def _job_examples(*names: str) -> dict[str, Any]:
    """A response entry whose examples are the named example jobs."""
    return {
        "description": "Successful Response",
        "content": {
            "application/json": {
                "examples": {
                    name: {
                        "summary": f"A {name} job",
                        "value": _JOB_EXAMPLES[name].model_dump(mode="json"),
                    }
                    for name in names
                }
            }
        },
    }


@router.post(
    "/jobs",
    status_code=202,
    responses={
        202: example(_JOB_EXAMPLES["queued"], "The job, queued."),
        200: {
            "model": JobDocument,
            **example(_JOB_EXAMPLES["running"], "The job of an Idempotency-Key seen before."),
        },
        409: _error("The Idempotency-Key was used with a different body."),
        413: _error("Article over DEPECHE_MAX_CHARS."),
        422: _error("Invalid body, empty text, or callback_url refused."),
        503: _error("The job store is unavailable."),
    },
)
def submit_job(
    request: Request,
    response: Response,
    jobs: JobsDep,
    usage: UsageDep,
    body: Annotated[JobRequest, Body(openapi_examples=_examples())],
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            pattern=r"^[\x20-\x7e]+$",  # printable ASCII: no control character, CR or LF
            description="Send the same key again (say, the CMS story id and revision) to get "
            "the same job instead of a second one.",
        ),
    ] = None,
) -> JobDocument:
    """Queue an article for /summarize's work; answers at once with the job (202) and its
    `Location`. Poll GET /jobs/{id}, or pass `callback_url` to be called when it finishes."""
    article_input = resolved_article(request, body)
    validate_article(article_input, jobs.settings.max_chars)
    record, created = jobs.submit(
        body.summary_request(article_input).to_body(),
        body.callback_url,
        idempotency_key,
        request_id_of(request),
    )
    if created:  # a repeated Idempotency-Key is the same job: counted once
        record_usage(request, usage, article_input)
    response.status_code = 202 if created else 200
    response.headers["Location"] = f"/jobs/{record.id}"
    return record.document()


@router.get(
    "/jobs/{job_id}",
    responses={
        200: _job_examples("queued", "running", "done", "failed", "cancelled"),
        404: _error("No job with this id."),
        503: _error("The job store is unavailable."),
    },
)
def get_job(job_id: str, jobs: JobsDep) -> JobDocument:
    """The job: status, progress, timestamps, the result once done, the error once failed,
    and every webhook attempt."""
    return jobs.get(job_id).document()


@router.delete(
    "/jobs/{job_id}",
    responses={
        200: example(_JOB_EXAMPLES["cancelled"], "The job, cancelled."),
        404: _error("No job with this id."),
        409: _error("The job is running or finished already."),
        503: _error("The job store is unavailable."),
    },
)
def cancel_job(job_id: str, jobs: JobsDep) -> JobDocument:
    """Cancel a queued job. A running or finished job answers 409 and goes on."""
    return jobs.cancel(job_id).document()
