"""The document's examples: recorded from the service itself, on every operation, valid against their schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest

from app.core.openapi_examples import EXAMPLES_FILE, add_examples
from app.main import openapi_document
from tests.conftest import postgres_url, scratch_postgres_database
from tests.examples.record import record

# Answers whose bodies are files: an example of their bytes would tell a reader nothing.
BINARY = {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "image/jpeg", "image/png",
          "application/pdf"}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, operation) for path, item in document["paths"].items()
            for method, operation in item.items()]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_committed_examples_are_what_the_service_answers(backend: str, tmp_path: Path) -> None:
    """Recorded again on a new database of each backend, the examples come out byte for byte as committed:
    run `python -m tests.examples.record --write` and `./scripts/export-openapi` after changing an answer."""
    if backend == "sqlite":
        recording = record(f"sqlite:///{tmp_path / 'examples.db'}", tmp_path / "files")
    else:
        with scratch_postgres_database() as name:
            recording = record(postgres_url(name), tmp_path / "files")
    assert recording == EXAMPLES_FILE.read_text(encoding="utf-8")


def test_every_operation_shows_its_request_and_answers() -> None:
    document = openapi_document()
    missing = []
    for path, method, operation in _operations(document):
        for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
            if not content.get("examples"):
                missing.append((method, path, "request", media_type))
        for status, answer in operation["responses"].items():
            if not status.startswith("2"):
                continue
            for media_type, content in answer.get("content", {}).items():
                if media_type not in BINARY and not content.get("examples"):
                    missing.append((method, path, status, media_type))
    assert missing == []


def test_every_example_is_valid_against_its_schema() -> None:
    document = openapi_document()
    checked = 0
    for path, method, operation in _operations(document):
        contents = [("request", operation.get("requestBody", {}).get("content", {}))]
        contents += [(status, answer.get("content", {})) for status, answer in operation["responses"].items()]
        for where, by_type in contents:
            for media_type, content in by_type.items():
                if "schema" not in content or media_type == "multipart/form-data":
                    continue
                validator = jsonschema_rs.Draft202012Validator({**content["schema"],
                                                               "components": document["components"]})
                for name, example in content.get("examples", {}).items():
                    errors = [error.message for error in validator.iter_errors(example["value"])]
                    assert errors == [], (method, path, where, media_type, name)
                    checked += 1
    assert checked >= 90  # the recording holds 94 JSON examples


def test_every_recorded_operation_status_and_type_exists() -> None:
    """An example for an operation the document no longer has is refused, not silently dropped."""
    document = openapi_document()
    with pytest.raises(LookupError, match="unknown operation renamedOperation"):
        add_examples(document, {"renamedOperation": {"responses": {}}})
    with pytest.raises(LookupError, match="getMe: no documented 418 answer"):
        add_examples(document, {"getMe": {"responses": {"418": {"application/json": {}}}}})
    with pytest.raises(LookupError, match="getMe: no request body"):
        add_examples(document, {"getMe": {"request": {"application/json": {}}}})


def test_examples_are_not_shared_between_operations() -> None:
    """Each operation's error answers get their own examples (FastAPI may share an answer's dicts)."""
    document = openapi_document()
    approve = document["paths"]["/v1/submissions/{submission_id}/approve"]["post"]["responses"]["403"]
    submit = document["paths"]["/v1/submissions/{submission_id}/submit"]["post"]["responses"]["403"]
    assert "no_scope" in approve["content"]["application/problem+json"]["examples"]
    assert "examples" not in submit["content"]["application/problem+json"]


async def test_the_metrics_example_names_series_the_service_exports(client: httpx.AsyncClient) -> None:
    example = openapi_document()["paths"]["/metrics"]["get"]["responses"]["200"]["content"]["text/plain"]
    described = {line for line in example["examples"]["scrape"]["value"].splitlines() if line.startswith("#")}
    await client.get("/healthz")
    scrape = (await client.get("/metrics")).text
    assert {line.split()[2] for line in described} == {"zwc_http_requests_total", "zwc_db_pool_connections_in_use"}
    assert described <= set(scrape.splitlines())  # the same names, types and help texts


def test_the_committed_file_is_sorted_and_indented_as_the_recorder_writes_it() -> None:
    text = EXAMPLES_FILE.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
