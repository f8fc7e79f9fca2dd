"""API keys (Bearer, kept as SHA-256 hashes), the dependency that enforces them, and GET /usage."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from service.api.deps import ApiKeysDep, UsageDep
from service.api.errors import ErrorEnvelope
from service.api.keys import ApiKeys as ApiKeys
from service.api.keys import ApiKeysConfigError as ApiKeysConfigError
from service.api.keys import key_id_of as key_id_of
from service.api.keys import read_keys_file as read_keys_file
from service.article import ArticleInput
from service.errors import InvalidApiKeyError, MissingApiKeyError
from service.usage import Storage, UsageStore

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
"""The key id usage is counted under while API keys are off."""


_bearer = HTTPBearer(
    auto_error=False,
    description="An API key from DEPECHE_API_KEYS or DEPECHE_API_KEYS_FILE, as "
    "`Authorization: Bearer <key>`. Only needed when the service has keys configured.",
)


def require_api_key(
    request: Request,
    keys: ApiKeysDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """Let the request through with a valid key (or when keys are off); else 401.

    The caller's key id is left in `request.state.api_key_id` for usage counting.
    """
    return check_api_key(request, keys, credentials)


def check_api_key(
    request: Request, keys: ApiKeys, credentials: HTTPAuthorizationCredentials | None
) -> str:
    """`require_api_key`'s check, for a dependency that decides first whether a key is needed."""
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


def record_usage(request: Request, store: UsageStore, article: ArticleInput) -> None:
    """Count one accepted article for the key that sent `request`. Counting never fails the
    request: a store error is logged and the article is answered all the same."""
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
def usage(store: UsageDep) -> UsageReport:
    """Articles and characters per API key, kept in the jobs store (SQLite file or Redis), so
    they survive restarts and add up across replicas. Counts successful /summarize, /translate
    and batch articles, and accepted jobs."""
    return usage_report(store)
