"""The one error envelope, `{"error": {"code", "message", "request_id"}}`, and its handlers."""

from __future__ import annotations

import json
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


_HEADER_RULES = {
    "idempotency-key": "send 1 to 255 printable ASCII characters, such as a story id and revision",
}
"""What a valid value looks like, for the headers the routes declare with a pattern."""


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
    loc = tuple(first.get("loc", ()))
    location = ".".join(str(part) for part in loc if part != "body")
    if kind == "json_invalid":
        return "malformed_json", "The request body is not valid JSON."
    if loc[:1] == ("header",) and len(loc) > 1:
        # Name the header and the rule; the value itself is never echoed back.
        name = str(loc[1]).lower()
        rule = _HEADER_RULES.get(name, str(first.get("msg", "invalid value")))
        return "invalid_header", f"The `{name.title()}` header is not valid: {rule}."
    if kind == "extra_forbidden":
        return "unknown_field", f"Unknown field `{location}`: see the API docs for accepted fields."
    if kind == "missing":
        return "missing_field", f"The field `{location or 'body'}` is required."
    detail = str(first.get("msg", "invalid value"))
    return "invalid_request", f"Invalid `{location or 'body'}`: {detail}."


def install_error_handlers(app: FastAPI) -> None:
    """Route every failure through the envelope; unexpected ones are logged, never leaked.
    The OpenAPI document lists what they answer (`document_errors`)."""
    document_errors(app)

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
        if exc.status_code == 400:
            # FastAPI's answer to a body its JSON parser fails on in an unusual way (nested too
            # deeply, say): still a body that is not JSON, so the documented 422.
            return error_response(
                request, 422, "malformed_json", "The request body could not be read as JSON."
            )
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


_ENVELOPE_REF = {"$ref": "#/components/schemas/ErrorEnvelope"}
_FASTAPI_422 = '"#/components/schemas/HTTPValidationError"'

# What the middleware and these handlers answer on any operation, whatever its route declares.
_BODY_ERRORS = {
    "413": "`payload_too_large`: the body is over 6 bytes per allowed character + 64 KiB.",
    "422": "`invalid_unicode`: the body is not UTF-8, or a string in it holds an unpaired "
    "UTF-16 surrogate; `malformed_json`: the body is not JSON.",
}
_KEYED_ERROR = (
    "401",
    "`unauthorized` / `invalid_api_key`: API keys are on and the request has no valid "
    "`Authorization: Bearer <key>`.",
)
_REQUEST_ID_PARAMETER = {
    "name": "X-Request-ID",
    "in": "header",
    "required": False,
    "description": "Your id for this request, sent back in the `X-Request-ID` header and in "
    "every error. 1 to 64 characters of `A-Z a-z 0-9 . _ -`; any other value is replaced by "
    "an id of the service's (never echoed).",
    "schema": {"type": "string"},
}


def _add_error(responses: dict[str, Any], status: str, text: str) -> None:
    """Document `status` with the envelope, or add `text` to its existing description."""
    entry = responses.setdefault(status, {"description": ""})
    entry.setdefault("content", {"application/json": {"schema": _ENVELOPE_REF}})
    description = str(entry.get("description", ""))
    if text not in description:
        entry["description"] = f"{description} {text}".strip()


def document_errors(app: FastAPI) -> None:
    """Make the OpenAPI document list every status the middleware and the error handlers can
    answer, on every operation they apply to, so a client (or schemathesis) meets no status the
    document does not name. Also documents the `X-Request-ID` header every operation reads."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        if "ErrorEnvelope" not in schemas:
            envelope = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(envelope.pop("$defs", {}))
            schemas["ErrorEnvelope"] = envelope
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for entry in responses.values():
                    # FastAPI's default 422 body; the handler above answers the envelope instead.
                    if _FASTAPI_422 in json.dumps(entry.get("content", {})):
                        entry["content"] = {"application/json": {"schema": _ENVELOPE_REF}}
                        entry["description"] = "`invalid_request`: a parameter is not valid."
                if "requestBody" in operation:
                    for status, text in _BODY_ERRORS.items():
                        _add_error(responses, status, text)
                if operation.get("security"):
                    _add_error(responses, *_KEYED_ERROR)
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name", "").lower() == "x-request-id" for p in parameters):
                    parameters.append(dict(_REQUEST_ID_PARAMETER))
        text = json.dumps(document)
        for name in ("HTTPValidationError", "ValidationError"):
            if text.count(f'"#/components/schemas/{name}"') == 0:
                schemas.pop(name, None)
                text = json.dumps(document)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
