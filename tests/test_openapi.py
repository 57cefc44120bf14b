"""The committed OpenAPI document is exactly what the app serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from app.main import openapi_document

COMMITTED = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def test_committed_openapi_equals_the_served_document() -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed == openapi_document(), "run ./scripts/export-openapi and commit openapi/openapi.json"


async def test_served_document_is_the_committed_one(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == json.loads(COMMITTED.read_text(encoding="utf-8"))


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, operation) for path, item in document["paths"].items()
            for method, operation in item.items()]


def test_every_operation_has_an_id_a_summary_and_documented_errors() -> None:
    document = openapi_document()
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids))
    for path, method, operation in _operations(document):
        assert operation.get("description") or operation.get("summary"), (method, path)
        errors = [status for status in operation["responses"] if status.startswith(("4", "5"))]
        if path.startswith("/v1"):
            assert {"401", "422", "503"} <= set(errors), (method, path)
        # Public routes too: FastAPI's default 422 (`HTTPValidationError` as application/json) is not
        # what the app answers (found by the fuzz suite on GET /public/certificates/{certificate_no}).
        for status in errors:
            content = operation["responses"][status]["content"]
            assert list(content) == ["application/problem+json"], (method, path, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_public_routes_need_no_token_and_v1_routes_need_one() -> None:
    document = openapi_document()
    assert document["servers"]
    for path, method, operation in _operations(document):
        if path.startswith("/v1"):
            assert operation["security"] == [{"HTTPBearer": []}], (method, path)
        else:
            assert operation["security"] == [], (method, path)
