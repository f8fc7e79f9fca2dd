"""Webhook signatures against a known vector, and the callback allow-list."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from service.errors import CallbackNotAllowedError
from service.jobs.webhooks import AllowList, check_submitted, check_target, sign, verify

# Computed independently: printf '%s' '1700000000.{"id":"abc","status":"done"}' |
#   openssl dgst -sha256 -hmac 'whsec_test'
KNOWN = "sha256=4f81b4432e5df5ab15a8529fba2c83261f43c517e4f5d34cadd1178e9172267d"
BODY = b'{"id":"abc","status":"done"}'


def test_signature_matches_a_known_vector() -> None:
    assert sign("whsec_test", 1700000000, BODY) == KNOWN
    assert sign(b"whsec_test", "1700000000", BODY) == KNOWN


def test_verify_checks_body_secret_and_age() -> None:
    assert verify("whsec_test", "1700000000", BODY, KNOWN, now=1700000100)
    assert not verify("whsec_test", "1700000000", BODY + b" ", KNOWN, now=1700000100)
    assert not verify("other", "1700000000", BODY, KNOWN, now=1700000100)
    assert not verify("whsec_test", "1700000000", BODY, KNOWN, now=1700009999)
    assert not verify("whsec_test", "soon", BODY, KNOWN)


def resolver(table: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        return table[host]

    return resolve


DNS = resolver(
    {
        "cms.example.org": ["93.184.215.14"],
        "intranet.example.org": ["10.1.2.3"],
        "split.example.org": ["93.184.215.14", "192.168.1.10"],
        "v6.example.org": ["2606:4700::6810:84e5"],
        "mapped.example.org": ["::ffff:127.0.0.1"],
        "127.0.0.1": ["127.0.0.1"],
        "169.254.169.254": ["169.254.169.254"],
    }
)


@pytest.mark.parametrize(
    "url", ["https://cms.example.org/hook", "http://v6.example.org:8080/x?y=1"]
)
def test_public_targets_are_allowed(url: str) -> None:
    check_target(url, AllowList.parse(""), DNS)


@pytest.mark.parametrize(
    "url",
    [
        "http://intranet.example.org/hook",  # private
        "http://split.example.org/hook",  # one of its addresses is private
        "http://mapped.example.org/hook",  # loopback behind an IPv4-mapped IPv6 address
        "http://127.0.0.1:9000/hook",  # loopback
        "http://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
        "ftp://cms.example.org/hook",  # not http(s)
        "https:///nohost",
    ],
)
def test_non_public_or_odd_targets_are_refused(url: str) -> None:
    with pytest.raises(CallbackNotAllowedError):
        check_target(url, AllowList.parse(""), DNS)


def test_allow_list_takes_cidrs_and_host_names() -> None:
    allow = AllowList.parse(" 127.0.0.1, 10.0.0.0/8 ,intranet.example.org., ")
    check_target("http://127.0.0.1:9000/hook", allow, DNS)
    check_target("http://INTRANET.example.org/hook", allow, DNS)
    with pytest.raises(CallbackNotAllowedError):
        check_target("http://split.example.org/hook", allow, DNS)  # 192.168/16 not listed


def test_a_strict_allow_list_refuses_every_target_it_does_not_list() -> None:
    strict = AllowList.parse("cms.example.org, 10.0.0.0/8", public=False)
    check_target("https://cms.example.org/hook", strict, DNS)  # listed by name
    check_target("http://intranet.example.org/hook", strict, DNS)  # in a listed network
    with pytest.raises(CallbackNotAllowedError, match="DEPECHE_WEBHOOK_ALLOW_PUBLIC"):
        check_target("http://v6.example.org/hook", strict, DNS)  # public but not listed
    with pytest.raises(CallbackNotAllowedError, match="non-public"):
        check_target("http://127.0.0.1/hook", strict, DNS)


def test_a_host_that_does_not_resolve_is_refused_at_submission() -> None:
    def nowhere(host: str, port: int) -> list[str]:
        import socket

        raise socket.gaierror("Name or service not known")

    with pytest.raises(CallbackNotAllowedError, match="does not resolve"):
        check_submitted("https://nowhere.invalid/hook", AllowList.parse(""), nowhere)
