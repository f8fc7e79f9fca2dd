"""The one error envelope, `{"error": {"code", "message", "request_id"}}`, and its handlers."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.errors import DepecheError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ErrorBody(BaseModel):
    code: str
    message: str
    request_id: str


class ErrorEnvelope(BaseModel):
    """Every error the API returns has this shape."""

    error: ErrorBody


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))


def error_response(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Build the envelope; the request id also travels in the X-Request-ID header."""
    request_id = request_id_of(request)
    body = {"error": {"code": code, "message": message, "request_id": request_id}}
    return JSONResponse(
        body, status_code=status, headers={"X-Request-ID": request_id, **(headers or {})}
    )


def describe_validation(errors: list[Any]) -> tuple[str, str]:
    """The envelope's code and message for pydantic's validation errors (the first one)."""
    first = errors[0] if errors else {}
    kind = str(first.get("type", ""))
    location = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    if kind == "json_invalid":
        return "malformed_json", "The request body is not valid JSON."
    if kind == "extra_forbidden":
        return "unknown_field", f"Unknown field `{location}`: see the API docs for accepted fields."
    if kind == "missing":
        return "missing_field", f"The field `{location or 'body'}` is required."
    detail = str(first.get("msg", "invalid value"))
    return "invalid_request", f"Invalid `{location or 'body'}`: {detail}."


def install_error_handlers(app: FastAPI) -> None:
    """Route every failure through the envelope; unexpected ones are logged, never leaked."""

    @app.exception_handler(DepecheError)
    async def depeche_error(request: Request, exc: DepecheError) -> JSONResponse:
        headers = (
            {"Retry-After": "5" if exc.status == 503 else "2"} if exc.status in (429, 503) else None
        )
        if exc.status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return error_response(request, exc.status, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        code, message = describe_validation(list(exc.errors()))
        return error_response(request, 422, code, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return error_response(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request %s failed", request_id_of(request))
        return error_response(
            request,
            500,
            "internal_error",
            f"The service failed unexpectedly; quote request id {request_id_of(request)} "
            "when reporting it.",
        )
