"""Property-based API testing: schemathesis sends generated requests, valid and invalid, to every
operation of the OpenAPI document, against a real uvicorn on the tiny models, and checks each
answer: no server error, only documented statuses, bodies and headers as documented, and
schema-violating requests refused.

DEPECHE_SCHEMATHESIS_REQUESTS sets how many requests in all (2,000 by default, what CI runs);
README "Tests" gives the command of a deeper run. Each finding is also kept as a plain test in
tests/api/test_robustness.py.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.api.app import create_app
from service.config import Settings
from tests.conftest import free_port, model_env, start_server, wait_ready

REQUESTS = int(os.environ.get("DEPECHE_SCHEMATHESIS_REQUESTS", "2000"))
# Keys on, so that a request without one must get 401, as the document's `security` says
# (with keys off, schemathesis rightly reports keyless requests that are accepted).
API_KEY = "schemathesis-test-key"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
    negative_data_rejection,
]


def _document() -> dict[str, Any]:
    """The OpenAPI document of an app that is never started, so nothing loads."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Settings(jobs_db=Path(folder) / "jobs.sqlite3"))
        return app.openapi()


schema = schemathesis.openapi.from_dict(
    _document(),
    config=schemathesis.Config.from_dict(
        {
            "auth": {"openapi": {"HTTPBearer": {"bearer": API_KEY}}},
            # schemathesis's default refusals, plus 413: a glossary over its documented
            # `maxProperties` (10,000 entries) is refused as too large, like an article over
            # DEPECHE_MAX_CHARS (README "Errors and limits").
            "checks": {
                "negative_data_rejection": {
                    "expected-statuses": [
                        *("400", "401", "403", "404", "405", "406", "409", "413", "415"),
                        *("422", "428", "429", "5xx"),
                    ]
                }
            },
        }
    ),
)
OPERATIONS = {f"{r.ok().method.upper()} {r.ok().path}" for r in schema.get_all_operations()}
# max_examples bounds each operation's generated phase (positive and negative together), and
# every operation reaches it: an operation with one header has infinitely many requests too.
# The examples and coverage phases add a few hundred more. So each operation gets its share;
# test_request_count checks the real total.
MAX_EXAMPLES = max(10, math.ceil(REQUESTS / len(OPERATIONS)))

# HTTP framing headers belong to the HTTP server (uvicorn's h11 parser), not to the API: a
# generated `Transfer-Encoding: kELT` gets uvicorn's own plain-text 400 ("Invalid HTTP request
# received.") before any route runs, whatever the document says. They are left out of the
# generated requests; every other generated header is sent.
FRAMING_HEADERS = frozenset(
    {"transfer-encoding", "content-length", "connection", "host", "te", "trailer", "upgrade"}
)

SENT: Counter[str] = Counter()
STATUSES: Counter[str] = Counter()


@pytest.fixture(scope="module")
def base_url(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real uvicorn on 127.0.0.1 on the tiny models. Jobs are accepted but not run, and the
    models decode short and greedy: the test is about the API, so the CPU goes to requests."""
    port = free_port()
    log = tmp_path_factory.mktemp("schemathesis") / "server.log"
    env = model_env(
        settings,
        DEPECHE_PORT=str(port),
        DEPECHE_API_KEYS=API_KEY,
        DEPECHE_JOBS_WORKERS="0",
        DEPECHE_LOG_LEVEL="warning",
        DEPECHE_TRANSLATION_NUM_BEAMS="1",
        DEPECHE_TRANSLATION_MAX_LENGTH="24",
        DEPECHE_SUMMARY_NUM_BEAMS="1",
        DEPECHE_SUMMARY_MAX_LENGTH="24",
        DEPECHE_SUMMARY_MIN_LENGTH="0",
    )
    server = start_server(env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, server, log)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        # A 5xx leaves its traceback in the server log: show it next to the failure.
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            print(text[-6000:])


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation(case: schemathesis.Case, base_url: str) -> None:
    for name in [n for n in (case.headers or {}) if n.lower() in FRAMING_HEADERS]:
        del case.headers[name]
    response = case.call(base_url=base_url, timeout=60)
    SENT[f"{case.method.upper()} {case.path}"] += 1
    STATUSES[f"{case.method.upper()} {case.path} {response.status_code}"] += 1
    checks = CHECKS
    if case.path == "/summarize/batch":
        # By design an invalid article fails alone inside a 200 answer (README "Batch"), while
        # the document shows each item as a /summarize body: not a refusal to expect.
        checks = [check for check in CHECKS if check is not negative_data_rejection]
    case.validate_response(response, checks=checks)


@pytest.mark.slow
def test_request_count() -> None:
    """After the operations (file order): every operation got requests, and the run sent at
    least DEPECHE_SCHEMATHESIS_REQUESTS of them."""
    if not SENT:
        pytest.skip("runs after test_every_operation, in the same session")
    documented = {label: n for label, n in SENT.items() if label in OPERATIONS}
    print(
        f"\nschemathesis: {sum(SENT.values())} requests, {sum(documented.values())} to the "
        f"{len(OPERATIONS)} documented operations, the rest undocumented methods"
    )
    print("per operation:", dict(sorted(documented.items())))
    print("statuses:", dict(sorted(STATUSES.items())))
    assert set(documented) == OPERATIONS
    assert sum(SENT.values()) >= REQUESTS
