"""Webhooks: HMAC signatures, the callback allow-list, and delivery with retries.

A delivery POSTs the finished job document as JSON with two headers,
`X-Depeche-Timestamp: <unix seconds>` and
`X-Depeche-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
It is retried on connection errors and non-2xx answers with exponential backoff and full
jitter (tenacity), and stops at the first 2xx. Every attempt is recorded on the job.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_random_exponential

from service import __version__
from service.errors import CallbackNotAllowedError
from service.jobs.store import JobStore

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

MAX_BACKOFF_S = 60.0
MAX_URL_LENGTH = 2048


def sign(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>." + body)."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: str | bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """What a receiver does: constant-time comparison, and a timestamp that is recent."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(sign(secret, timestamp, body), signature)


@dataclass(frozen=True)
class AllowList:
    """Host names and networks that callbacks may reach although they are not public, and
    whether public addresses are open to all (else only listed targets may be called)."""

    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]
    public: bool = True

    @classmethod
    def parse(cls, text: str, *, public: bool = True) -> AllowList:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in (part.strip() for part in text.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks), public)

    def allows(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (socket.gaierror when it does not)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def check_target(url: str, allow: AllowList, resolver: Resolver = resolve) -> None:
    """Refuse (CallbackNotAllowedError) a callback URL that is not http(s), or whose host
    resolves to any private, loopback, link-local or otherwise non-public address that the
    allow-list does not cover (with `allow.public` off: to any address it does not cover). A
    host listed by name is allowed as it is. Raises socket.gaierror when the host does not
    resolve."""
    if len(url) > MAX_URL_LENGTH:
        raise CallbackNotAllowedError(f"callback_url is over {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise CallbackNotAllowedError(f"callback_url is not a valid URL ({exc}).") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackNotAllowedError("callback_url must be an http:// or https:// URL.")
    host = parts.hostname.lower().rstrip(".")
    if host in allow.hosts:
        return
    for text in resolver(host, port):
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if allow.allows(address):
            continue
        if not _public(address):
            raise CallbackNotAllowedError(
                f"callback_url host {host} resolves to {address}, a non-public address; "
                "list it in DEPECHE_WEBHOOK_ALLOW to allow it."
            )
        if not allow.public:
            raise CallbackNotAllowedError(
                f"callback_url host {host} is not in DEPECHE_WEBHOOK_ALLOW, and only listed "
                "targets may be called (DEPECHE_WEBHOOK_ALLOW_PUBLIC is off)."
            )


def check_submitted(url: str, allow: AllowList, resolver: Resolver = resolve) -> None:
    """check_target at submission, where a host that does not resolve is refused too."""
    try:
        check_target(url, allow, resolver)
    except (socket.gaierror, UnicodeError) as exc:
        raise CallbackNotAllowedError(f"callback_url host does not resolve ({exc}).") from exc


class DeliveryStoppedError(Exception):
    """The service is stopping; the delivery stays pending and resumes after a restart."""


@dataclass(frozen=True)
class WebhookConfig:
    secret: str
    allow: AllowList
    max_attempts: int = 5
    backoff_s: float = 1.0
    timeout_s: float = 10.0


class WebhookSender:
    """Delivers one job's webhook: signs, POSTs, retries, records every attempt."""

    def __init__(
        self,
        store: JobStore,
        config: WebhookConfig,
        stop: threading.Event,
        resolver: Resolver = resolve,
    ) -> None:
        self.store = store
        self.config = config
        self.stop = stop
        self.resolver = resolver

    def _sleep(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise DeliveryStoppedError

    def deliver(self, job_id: str) -> bool | None:
        """POST the job document until a 2xx answer or the attempts run out; True if
        delivered, None if there was nothing (left) to deliver. Raises DeliveryStoppedError
        when the service stops in between."""
        import httpx  # here, not at the top: a service that sends no webhook never loads it

        record = self.store.get(job_id)
        if record is None or record.callback_url is None or record.webhook_state != "pending":
            return None
        url = record.callback_url
        body = record.document(with_webhook=False).model_dump_json().encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"depeche/{__version__}",
            "X-Depeche-Job": job_id,
            "X-Depeche-Event": f"job.{record.status}",
        }
        retrying = Retrying(
            stop=stop_after_attempt(self.config.max_attempts),
            wait=wait_random_exponential(multiplier=self.config.backoff_s, max=MAX_BACKOFF_S),
            retry=retry_if_result(lambda outcome: outcome is False),
            sleep=self._sleep,
            retry_error_callback=lambda _state: False,
        )
        with httpx.Client(
            timeout=self.config.timeout_s, follow_redirects=False, trust_env=False
        ) as client:
            outcome: bool | None = retrying(self._attempt, client, job_id, url, body, headers)
        delivered = outcome is True
        self.store.webhook_finished(job_id, delivered)
        log.info("webhook for job %s %s", job_id, "delivered" if delivered else "failed")
        return delivered

    def _attempt(
        self,
        client: httpx.Client,
        job_id: str,
        url: str,
        body: bytes,
        headers: dict[str, str],
    ) -> bool | None:
        """One POST: True on 2xx, False to retry, None to give up (target now refused)."""
        import httpx

        started_at = time.time()
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        verdict: bool | None
        try:
            check_target(url, self.config.allow, self.resolver)
            timestamp = str(int(time.time()))
            signed = {
                **headers,
                "X-Depeche-Timestamp": timestamp,
                "X-Depeche-Signature": sign(self.config.secret, timestamp, body),
            }
            response = client.post(url, content=body, headers=signed)
            status = response.status_code
            verdict = 200 <= status < 300
        except CallbackNotAllowedError as exc:
            error, verdict = f"refused: {exc.message}", None
        except (httpx.HTTPError, OSError, UnicodeError) as exc:
            error, verdict = f"{type(exc).__name__}: {exc}".strip().rstrip(":"), False
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        self.store.record_attempt(job_id, status, error, duration_ms, started_at)
        return verdict
