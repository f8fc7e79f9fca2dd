"""Asynchronous jobs over HTTP: POST /jobs, GET /jobs/{id}, DELETE /jobs/{id}.

The work is done by `service.jobs`; these routes validate, call it and shape the answers.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Request, Response
from pydantic import Field

from service.api.auth import record_usage
from service.api.errors import ErrorEnvelope, request_id_of
from service.api.schemas import SummarizeRequest, request_examples
from service.article import validate_article
from service.jobs.models import JobDocument
from service.jobs.system import JobSystem

router = APIRouter(tags=["jobs"])


class JobRequest(SummarizeRequest):
    """Body of POST /jobs: the body of POST /summarize, plus where to report the outcome."""

    callback_url: str | None = Field(
        None,
        description="URL that receives the finished job as a signed POST (see the webhook "
        "docs). Must resolve to public addresses unless listed in DEPECHE_WEBHOOK_ALLOW.",
    )


def get_jobs(request: Request) -> JobSystem:
    jobs: JobSystem = request.app.state.jobs
    return jobs


JobsDep = Annotated[JobSystem, Depends(get_jobs)]


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


@router.post(
    "/jobs",
    status_code=202,
    responses={
        200: {"model": JobDocument, "description": "The job of an Idempotency-Key seen before."},
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
    body: Annotated[JobRequest, Body(openapi_examples=_examples())],
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=255,
            description="Send the same key again (say, the CMS story id and revision) to get "
            "the same job instead of a second one.",
        ),
    ] = None,
) -> JobDocument:
    """Queue an article for /summarize's work; answers at once with the job (202) and its
    `Location`. Poll GET /jobs/{id}, or pass `callback_url` to be called when it finishes."""
    article_input = body.article()
    validate_article(article_input, jobs.settings.max_chars)
    article = body.model_dump(mode="json", exclude={"callback_url"})
    record, created = jobs.submit(
        article, body.callback_url, idempotency_key, request_id_of(request)
    )
    if created:  # a repeated Idempotency-Key is the same job: counted once
        record_usage(request, article_input)
    response.status_code = 202 if created else 200
    response.headers["Location"] = f"/jobs/{record.id}"
    return record.document()


@router.get("/jobs/{job_id}", responses={404: _error("No job with this id.")})
def get_job(job_id: str, jobs: JobsDep) -> JobDocument:
    """The job: status, progress, timestamps, the result once done, the error once failed,
    and every webhook attempt."""
    return jobs.get(job_id).document()


@router.delete(
    "/jobs/{job_id}",
    responses={
        404: _error("No job with this id."),
        409: _error("The job is running or finished already."),
    },
)
def cancel_job(job_id: str, jobs: JobsDep) -> JobDocument:
    """Cancel a queued job. A running or finished job answers 409 and goes on."""
    return jobs.cancel(job_id).document()
