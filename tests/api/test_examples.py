"""Every endpoint documents a response example, and every example is a valid response: it
validates against the model the route declares, or has the keys the route really answers."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from service.api.auth import UsageReport
from service.api.batch import BatchResponse
from service.api.glossaries import GlossaryList, GlossaryPublic, GlossarySummary
from service.jobs.models import JobDocument
from service.results import SummarizeResult, TranslateResult, VerifyResult


def _examples(content: dict[str, Any]) -> list[Any]:
    body = content.get("application/json", {})
    found = [body["example"]] if "example" in body else []
    return found + [entry["value"] for entry in body.get("examples", {}).values()]


# Response models by the schema name the OpenAPI document refers to.
MODELS: dict[str, Any] = {
    model.__name__: model
    for model in (
        SummarizeResult,
        TranslateResult,
        BatchResponse,
        JobDocument,
        UsageReport,
        GlossarySummary,
        GlossaryList,
        GlossaryPublic,
        VerifyResult,
    )
}


def test_every_endpoint_has_a_valid_response_example(client: TestClient) -> None:
    spec: dict[str, Any] = client.app.openapi()  # type: ignore[attr-defined]
    validated = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            name = f"{method.upper()} {path}"
            success = {
                code: response
                for code, response in operation["responses"].items()
                if code.startswith("2")
            }
            assert success, f"{name} documents no success response"
            for code, response in success.items():
                if code == "204":
                    continue  # no body, nothing to show
                content = response.get("content", {})
                examples = _examples(content)
                assert examples, f"{name} {code} has no example"
                ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
                model = MODELS.get(ref.rsplit("/", 1)[-1])
                if model is None:
                    assert path in ("/health", "/ready"), f"{name} {code}: unknown schema {ref}"
                    continue
                for value in examples:
                    model.model_validate(value)
                    validated += 1
    assert validated >= 12


def test_the_operation_examples_have_the_keys_the_service_answers(client: TestClient) -> None:
    """(The OpenAPI document leaves out null values, so a key whose answer is null may be
    missing from the example.)"""
    spec: dict[str, Any] = client.app.openapi()  # type: ignore[attr-defined]
    for path in ("/health", "/ready"):
        (example,) = _examples(spec["paths"][path]["get"]["responses"]["200"]["content"])
        answer = client.get(path).json()
        assert set(example) <= set(answer), path
        assert all(answer[key] is None for key in set(answer) - set(example)), path
