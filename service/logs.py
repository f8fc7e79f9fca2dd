"""The one logging setup of the service, CLI and server alike: text or JSON lines on stderr,
with the fields of the request being answered (request id, route) on every record it causes."""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import IO, Any, Literal

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

LogFormat = Literal["text", "json"]

ACCESS_LOGGER = "depeche.access"
"""The access log: one record per HTTP request, written by the API's middleware (uvicorn's own
access log is off, so a request is logged once, in the format chosen)."""

FIELDS = (
    "request_id",
    "method",
    "path",
    "route",
    "status",
    "duration_ms",
    "article_chars",
    "client",
)
"""Record attributes (`extra=`) and request fields a JSON line carries when they are known."""

RequestFields = Callable[[], Mapping[str, Any]]
"""Returns the fields of the request being answered, read when a record is written (the request
id and route are only known once inner middleware and routing have run)."""

_request: ContextVar[RequestFields | None] = ContextVar("depeche_request", default=None)


def bind_request(fields: RequestFields) -> Token[RequestFields | None]:
    """Attach `fields` to every record logged from this context (the request's task and the
    worker threads it hands work to, which inherit the context)."""
    return _request.set(fields)


def unbind_request(token: Token[RequestFields | None]) -> None:
    _request.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line. ASCII-only (`ensure_ascii`), so a lone surrogate or a control
    character in a message can neither break the encoding of stderr nor split the line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = _request.get()
        if fields is not None:
            line.update({k: v for k, v in fields().items() if k in FIELDS and v is not None})
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=True, default=str)


def configure_logging(
    level: str = "info", log_format: LogFormat = "text", stream: IO[str] | None = None
) -> None:
    """One handler on the root logger (stderr unless `stream`), which uvicorn's loggers reach
    too (the server is started with `log_config=None`); quiets the libraries' chatter."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for noisy in ("transformers", "huggingface_hub", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    # What would otherwise be printed raw and break one-JSON-object-per-line: Python warnings,
    # and the model loaders' progress bars (the setting is read when transformers is imported).
    logging.captureWarnings(log_format == "json")
    if log_format == "json":
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # transformers warns about generation flags of older configs on every call; not actionable.
    warnings.filterwarnings("ignore", module="transformers")
