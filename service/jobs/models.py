"""The job document: what GET /jobs/{id} answers and what a webhook delivers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from service.results import SummarizeResult

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
Stage = Literal["queued", "translating", "summarizing", "done"]
WebhookState = Literal["pending", "delivered", "failed"]

FINISHED: frozenset[str] = frozenset({"done", "failed", "cancelled"})


class JobProgress(BaseModel):
    """How far the job is. `done`/`total` count sentences (or pieces of over-long sentences)
    translated; the summary follows in stage `summarizing`."""

    stage: Stage
    done: int = 0
    total: int = 0
    fraction: float = Field(0.0, ge=0, le=1, description="done / total (1.0 once finished)")
    paragraphs_done: int | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="While translating: the first `paragraphs_done` paragraphs are translated "
        "(as a stream would have sent them); absent in the other stages.",
    )
    paragraphs_total: int | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="While translating: paragraphs in the article; absent in the other stages.",
    )


class JobErrorBody(BaseModel):
    code: str
    message: str
    request_id: str


class JobError(BaseModel):
    """The service's error envelope, as /summarize would have answered it."""

    error: JobErrorBody


class WebhookAttempt(BaseModel):
    """One POST to the callback URL."""

    attempt: int
    at: datetime
    status_code: int | None = Field(None, description="HTTP status answered, if any")
    error: str | None = Field(None, description="why no answer came (connection, timeout…)")
    duration_ms: float


class WebhookInfo(BaseModel):
    url: str
    state: WebhookState | None = Field(
        None, description="null until the job finishes; then pending, delivered or failed"
    )
    attempts: list[WebhookAttempt] = Field(default_factory=list)


class JobDocument(BaseModel):
    """A job: its state, progress, timestamps, result or error, and webhook deliveries."""

    id: str
    status: JobStatus
    progress: JobProgress
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime
    runs: int = Field(0, description="times a worker started it (more than 1 after a restart)")
    request_id: str = Field(description="X-Request-ID of the submission")
    result: SummarizeResult | None = Field(None, description="the /summarize response, once done")
    error: JobError | None = Field(None, description="the error envelope, once failed")
    webhook: WebhookInfo | None = None
