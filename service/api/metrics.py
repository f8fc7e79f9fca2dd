"""GET /metrics, and the middleware that counts every request and writes its access-log line."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.auth import check_api_key
from service.api.deps import ApiKeysDep, MetricsDep, SettingsDep
from service.logs import ACCESS_LOGGER, bind_request, unbind_request
from service.metrics import CONTENT_TYPE, Metrics

access_log = logging.getLogger(ACCESS_LOGGER)

UNMATCHED = "unmatched"
"""The route label of a request no route matched (a 404): never the raw path, which a client
chooses and which would make the label set grow without bound."""

PROBES = frozenset({"/health", "/ready"})
"""Routes whose error answers are a state, not a failure: a 503 from /ready while models load
is the probe working, so it is not counted in depeche_failures_total."""

_ERROR_BODY_LIMIT = 64 * 1024  # error envelopes are a few hundred bytes; never hold more


_bearer = HTTPBearer(auto_error=False)


def require_metrics_key(
    request: Request,
    settings: SettingsDep,
    keys: ApiKeysDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """With API keys on, a key, unless DEPECHE_METRICS_PUBLIC=true."""
    if not settings.metrics_public:
        check_api_key(request, keys, credentials)


router = APIRouter()


# Left out of the OpenAPI document: it is for Prometheus, not for API clients (and its answer
# is text, not JSON).
@router.get("/metrics", include_in_schema=False, dependencies=[Depends(require_metrics_key)])
def metrics(metrics: MetricsDep) -> Response:
    """Every metric family in the Prometheus text format."""
    return Response(metrics.exposition(), media_type=CONTENT_TYPE)


def _printable(text: str, limit: int = 200) -> str:
    """`text` cut to `limit` characters with control characters escaped, so a path such as
    `/%0Afake` cannot forge a second line in a text log."""
    text = text[:limit]
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def _routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """The app's routes, those of included routers too (FastAPI keeps an included router as one
    entry holding the original router; routers included with a prefix are not matched here)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes)
        elif hasattr(route, "path"):
            yield route


def _error_code(body: bytes) -> str | None:
    try:
        document = json.loads(body)
        code = document["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return code if isinstance(code, str) else None


class ObserveRequests:
    """Pure ASGI middleware, outermost but for Starlette's error handler: it times every HTTP
    request, counts it under its route template and status class, counts error envelopes by
    their code, and writes one access-log line.

    It reads what the inner layers leave in the scope: the request id (set by the
    RequestContext middleware in `scope["state"]`), the route (set by routing in
    `scope["route"]`) and the article characters (set when an article is accepted).
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = scope.setdefault("state", {})
        answer: dict[str, Any] = {"status": 500}
        error_body = bytearray()

        def fields() -> dict[str, Any]:
            return {"request_id": state.get("request_id"), "route": self._route(scope)}

        token = bind_request(fields)

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif (
                message["type"] == "http.response.body"
                and answer["status"] >= 400
                and len(error_body) < _ERROR_BODY_LIMIT
            ):
                error_body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        except Exception:
            # Starlette's error handler, outside this middleware, answers 500 internal_error and
            # logs the traceback; the request's context stays bound so that its line has the
            # request id too (the context ends with the request's task).
            self._finish(scope, state, 500, "internal_error", started)
            raise
        status = int(answer["status"])
        code = _error_code(bytes(error_body)) if status >= 400 else None
        self._finish(scope, state, status, code, started)
        unbind_request(token)

    def _finish(
        self, scope: Scope, state: dict[str, Any], status: int, code: str | None, started: float
    ) -> None:
        seconds = time.perf_counter() - started
        route = self._route(scope)
        self.metrics.observe_request(route, status, seconds)
        if code is not None and route not in PROBES:
            self.metrics.observe_failure(code)
        request_id = state.get("request_id")
        method = scope["method"]
        path = _printable(scope["path"])
        chars = state.get("article_chars")
        client = scope.get("client")
        access_log.info(
            "%s %s %d %.1f ms request_id=%s%s",
            method,
            path,
            status,
            seconds * 1000,
            request_id or "-",
            f" chars={chars}" if chars is not None else "",
            extra={
                "request_id": request_id,
                "method": method,
                "path": path,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
                "article_chars": chars,
                "client": client[0] if client else None,
            },
        )

    def _route(self, scope: Scope) -> str:
        """The template of the route that answered (`/jobs/{job_id}`). A request answered before
        routing (a body over the size limit) is matched here against the app's routes."""
        route = scope.get("route")
        if route is None:
            app = scope.get("app")  # the FastAPI app: Starlette puts itself in the scope
            route = next(
                (
                    r
                    for r in _routes(getattr(app, "routes", ()))
                    if r.matches(scope)[0] is Match.FULL
                ),
                None,
            )
        if route is None:
            return UNMATCHED
        path = str(getattr(route, "path", "") or UNMATCHED)
        return f"{path}/{{path}}" if isinstance(route, Mount) else path
