"""The API docs pages (/docs, /redoc) kept on this host: a Content-Security-Policy on them.

fastapi-offline serves Swagger UI's and ReDoc's files from the service itself. ReDoc still
renders an `<img>` of Redocly's logo from cdn.redoc.ly; no option turns it off. The policy makes
the browser refuse anything from another host, so an offline server's docs page neither waits
on the internet nor tells a CDN that someone opened it.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_PAGES = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})

POLICY = "; ".join(
    (
        "default-src 'self'",
        # Swagger UI starts from an inline script; both UIs inject inline styles.
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        # ReDoc runs its search index in a worker made from a blob.
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "base-uri 'self'",
        "form-action 'self'",
    )
)


class DocsPolicy:
    """Pure ASGI middleware: adds POLICY to the answers of DOCS_PAGES, nothing else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in DOCS_PAGES:
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Content-Security-Policy"] = POLICY
            await send(message)

        await self.app(scope, receive, with_policy)
