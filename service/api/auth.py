"""API keys (Bearer, kept as SHA-256 hashes), the dependency that enforces them, and GET /usage."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from service.api.errors import ErrorEnvelope
from service.article import ArticleInput
from service.config import Settings
from service.errors import InvalidApiKeyError, MissingApiKeyError
from service.usage import Storage, UsageStore

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
"""The key id usage is counted under while API keys are off."""

_KEY_ID_CHARS = 8


class ApiKeysConfigError(ValueError):
    """The API keys file named in the settings cannot be read."""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def key_id_of(key: str) -> str:
    """A short, non-reversible name for a key: the first 8 hex digits of its SHA-256."""
    return _digest(key).hex()[:_KEY_ID_CHARS]


def read_keys_file(path: Path) -> list[str]:
    """Keys of a keys file: one per line; blank lines and lines starting with `#` are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ApiKeysConfigError(
            f"The API keys file {path} (DEPECHE_API_KEYS_FILE) cannot be read: "
            f"{exc.strerror or type(exc).__name__}."
        ) from exc
    keys = (line.strip() for line in lines)
    return [key for key in keys if key and not key.startswith("#")]


class ApiKeys:
    """The configured keys, held only as SHA-256 digests. No key configured: auth is off."""

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._digests = list(dict.fromkeys(_digest(key) for key in keys if key))

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeys:
        """Keys from DEPECHE_API_KEYS (comma-separated) and DEPECHE_API_KEYS_FILE together."""
        keys: list[str] = []
        if settings.api_keys is not None:
            keys += [k.strip() for k in settings.api_keys.get_secret_value().split(",")]
        if settings.api_keys_file is not None:
            keys += read_keys_file(settings.api_keys_file)
        api_keys = cls(keys)
        if api_keys.enabled:
            log.info("API keys on: %d key(s) configured", len(api_keys))
        return api_keys

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def __len__(self) -> int:
        return len(self._digests)

    def identify(self, key: str) -> str | None:
        """The key id of `key` when it is one of the configured keys, else None. Every digest is
        compared in constant time, so the answer takes as long for a bad key as for a good one."""
        digest = _digest(key)
        match = False
        for known in self._digests:
            match |= hmac.compare_digest(digest, known)
        return digest.hex()[:_KEY_ID_CHARS] if match else None


_bearer = HTTPBearer(
    auto_error=False,
    description="An API key from DEPECHE_API_KEYS or DEPECHE_API_KEYS_FILE, as "
    "`Authorization: Bearer <key>`. Only needed when the service has keys configured.",
)


def require_api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """Let the request through with a valid key (or when keys are off); else 401.

    The caller's key id is left in `request.state.api_key_id` for usage counting.
    """
    keys: ApiKeys = request.app.state.api_keys
    if not keys.enabled:
        request.state.api_key_id = ANONYMOUS
        return ANONYMOUS
    if credentials is None or not credentials.credentials:
        raise MissingApiKeyError(
            "This endpoint needs an API key: send it as `Authorization: Bearer <key>`."
        )
    key_id = keys.identify(credentials.credentials)
    if key_id is None:
        raise InvalidApiKeyError("The API key is not valid: check it with the service operator.")
    request.state.api_key_id = key_id
    return key_id


class KeyUsage(BaseModel):
    """Work accepted under one key."""

    articles: int = Field(0, description="Articles processed (or jobs accepted).")
    characters: int = Field(0, description="Their characters, as counted against the limit.")


class UsageReport(BaseModel):
    """Answer of GET /usage: counts per key id since counting started."""

    since: datetime = Field(
        description="When counting started (UTC): the first start of a service on this jobs "
        "store, or of this process when `storage` is `memory`."
    )
    storage: Storage = Field(
        description="Where the counts are kept: `sqlite` (the jobs database) or `redis` (shared "
        "by every replica) survive restarts; `memory` means the store could not be opened."
    )
    keys: dict[str, KeyUsage] = Field(
        description="Per key id (first 8 hex digits of the key's SHA-256; `anonymous` while "
        "keys are off)."
    )
    total: KeyUsage


def usage_report(store: UsageStore) -> UsageReport:
    totals = store.totals()
    keys = {
        key: KeyUsage(articles=articles, characters=characters)
        for key, (articles, characters) in sorted(totals.keys.items())
    }
    total = KeyUsage(
        articles=sum(u.articles for u in keys.values()),
        characters=sum(u.characters for u in keys.values()),
    )
    return UsageReport(
        since=datetime.fromtimestamp(totals.since, UTC),
        storage=totals.storage,
        keys=keys,
        total=total,
    )


def record_usage(request: Request, article: ArticleInput) -> None:
    """Count one accepted article for the key that sent `request`. Counting never fails the
    request: a store error is logged and the article is answered all the same."""
    store: UsageStore = request.app.state.usage
    key_id = getattr(request.state, "api_key_id", ANONYMOUS)
    # The access log reports the characters of the articles a request carried.
    request.state.article_chars = getattr(request.state, "article_chars", 0) + article.size()
    try:
        store.record(key_id, article.size())
    except Exception:
        log.exception("usage of key %s could not be counted", key_id)


router = APIRouter(tags=["operations"])

_USAGE_EXAMPLE = {
    "since": "2026-11-28T09:00:00Z",
    "storage": "sqlite",
    "keys": {
        "3f1a9c0e": {"articles": 41, "characters": 120394},
        "b77d2e15": {"articles": 3, "characters": 8120},
    },
    "total": {"articles": 44, "characters": 128514},
}


@router.get(
    "/usage",
    responses={
        200: {"content": {"application/json": {"example": _USAGE_EXAMPLE}}},
        401: {"model": ErrorEnvelope, "description": "Missing or invalid API key."},
    },
)
def usage(request: Request) -> UsageReport:
    """Articles and characters per API key, kept in the jobs store (SQLite file or Redis), so
    they survive restarts and add up across replicas. Counts successful /summarize, /translate
    and batch articles, and accepted jobs."""
    store: UsageStore = request.app.state.usage
    return usage_report(store)
