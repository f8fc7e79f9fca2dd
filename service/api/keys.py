"""API keys: the configured keys, held only as SHA-256 digests, and the keys file format."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable
from pathlib import Path

from service.config import Settings

log = logging.getLogger(__name__)

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
