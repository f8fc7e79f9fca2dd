"""Streamed answers of /summarize and /translate: which framing the Accept header asks for,
the `error` event's envelope, and the events framed as NDJSON lines or SSE messages."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Literal

from fastapi import Request
from fastapi.responses import StreamingResponse

from service.api.errors import request_id_of
from service.articles import ErrorMaker
from service.errors import DepecheError
from service.stream import ErrorEvent, EventStream, StreamEvent

log = logging.getLogger(__name__)

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"
Framing = Literal["application/x-ndjson", "text/event-stream"]


def requested_framing(request: Request) -> Framing | None:
    """NDJSON or SSE when the Accept header names one (NDJSON first when it names both, and
    not when its q is 0); None for anything else, which gets the JSON answer."""
    named: dict[str, float] = {}
    for item in request.headers.get("accept", "").split(","):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        named[media.lower()] = quality
    for framing in (NDJSON, SSE):
        if named.get(framing, 0.0) > 0:
            return framing  # type: ignore[return-value]
    return None


def error_maker(request: Request) -> ErrorMaker:
    """The `error` event for a failure after the stream started: the envelope the JSON answer
    would have carried (an unexpected failure logged, its text never sent)."""
    request_id = request_id_of(request)

    def make(exc: BaseException) -> ErrorEvent:
        if isinstance(exc, DepecheError):
            code, message = exc.code, exc.message
        else:
            log.error("request %s failed mid-stream", request_id, exc_info=exc)
            code = "internal_error"
            message = (
                f"The service failed unexpectedly; quote request id {request_id} when reporting it."
            )
        return ErrorEvent(error={"code": code, "message": message, "request_id": request_id})

    return make


def _framed(events: Iterator[StreamEvent], framing: Framing) -> Iterator[bytes]:
    for event in events:
        data = event.model_dump_json()
        if framing == NDJSON:
            yield (data + "\n").encode("utf-8")
        else:
            yield f"event: {event.event}\ndata: {data}\n\n".encode()


def streamed(stream: EventStream, framing: Framing) -> StreamingResponse:
    """The response for a stream whose first event is in (`EventStream.first` returned)."""
    return StreamingResponse(
        _framed(iter(stream), framing),
        media_type=framing,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
