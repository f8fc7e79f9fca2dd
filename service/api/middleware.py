"""The request context middleware: the request id, the body-size limit and the Unicode rule,
applied to every request in one place before any route runs."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp

from service.api.errors import error_response
from service.config import Settings
from service.errors import InvalidUnicodeError
from service.text.unicode import check_json_body

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def max_body_bytes(settings: Settings) -> int:
    """Bytes a JSON body may need for `max_chars` characters (escapes included), plus the rest."""
    return settings.max_chars * 6 + 64 * 1024


class RequestContext(BaseHTTPMiddleware):
    """Gives each request its id (a well-formed `X-Request-ID`, else a new one, echoed back),
    refuses a body over `max_body_bytes` (413) and a body that is not valid Unicode (422),
    reading the body once, bounded even when it comes chunked with no Content-Length."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        super().__init__(app)
        self.settings = settings
        self.max_body = max_body_bytes(settings)

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        incoming = request.headers.get("x-request-id", "")
        # fullmatch: with match, `$` would let a trailing newline through into the header.
        request.state.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        refused = await self._read_body(request)
        if refused is not None:
            return refused
        response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    async def _read_body(self, request: Request) -> Response | None:
        """Read and check the body; the error response when it is refused, else None."""
        length = request.headers.get("content-length")
        too_large = (
            f"The request body is over {self.max_body} bytes; articles are limited to "
            f"{self.settings.max_chars} characters (DEPECHE_MAX_CHARS)."
        )
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return error_response(request, 413, "payload_too_large", too_large)
        if length is None and "transfer-encoding" not in request.headers:
            return None
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > self.max_body:
                    return error_response(request, 413, "payload_too_large", too_large)
        except ClientDisconnect:  # nobody reads this answer; it only keeps the log clean
            return error_response(request, 422, "malformed_json", "The request body ended early.")
        # BaseHTTPMiddleware hands a body cached on the request to the route unchanged.
        request._body = bytes(body)
        try:
            check_json_body(request._body)
        except InvalidUnicodeError as exc:
            return error_response(request, exc.status, exc.code, exc.message)
        return None
