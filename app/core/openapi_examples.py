"""Request and response examples of the OpenAPI document.

They are recorded from real requests to the service (`python -m tests.examples.record --write`) into
`openapi_examples.json` beside this file, keyed by operation id, then media type (requests) or status and media
type (responses), then example name; `tests/test_openapi_examples.py` records them again and fails when the
committed file differs, so an example is always what the service answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLES_FILE = Path(__file__).with_name("openapi_examples.json")

# Examples that cannot be recorded: the metrics' figures change with every request.
_WRITTEN: dict[str, Any] = {
    "getMetrics": {"responses": {"200": {"text/plain": {"scrape": {
        "summary": "A scrape (shortened)",
        "value": "# HELP zwc_http_requests_total HTTP requests answered, by method, OpenAPI operation and status.\n"
                 "# TYPE zwc_http_requests_total counter\n"
                 'zwc_http_requests_total{method="GET",operation="getScores",status="200"} 1520.0\n'
                 "# HELP zwc_db_pool_connections_in_use Database connections checked out of the pools.\n"
                 "# TYPE zwc_db_pool_connections_in_use gauge\n"
                 "zwc_db_pool_connections_in_use 1.0\n",
    }}}}},
}


def recorded_examples() -> dict[str, Any]:
    if not EXAMPLES_FILE.is_file():
        return {}
    examples: dict[str, Any] = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))
    return examples


def add_examples(schema: dict[str, Any], examples: dict[str, Any] | None = None) -> dict[str, Any]:
    """Put each operation's examples on its request body and answers; an example of an operation, status or
    media type the document does not have is an error (the recording is out of date)."""
    chosen = {**recorded_examples(), **_WRITTEN} if examples is None else examples
    operations = {operation["operationId"]: operation for item in schema.get("paths", {}).values()
                  for operation in item.values() if isinstance(operation, dict) and "operationId" in operation}
    for operation_id, entry in chosen.items():
        operation = operations.get(operation_id)
        if operation is None:
            raise LookupError(f"examples of an unknown operation {operation_id}")
        for media_type, named in entry.get("request", {}).items():
            content = operation.get("requestBody", {}).get("content", {})
            if media_type not in content:
                raise LookupError(f"{operation_id}: no request body of type {media_type}")
            # Rebuilt, not changed in place: FastAPI may share one answer's dicts between operations.
            operation["requestBody"] = {**operation["requestBody"],
                                        "content": {**content, media_type: {**content[media_type], "examples": named}}}
        for status, by_type in entry.get("responses", {}).items():
            answer = operation.get("responses", {}).get(status)
            if answer is None:
                raise LookupError(f"{operation_id}: no documented {status} answer")
            content = dict(answer.get("content", {}))
            for media_type, named in by_type.items():
                if media_type not in content:
                    raise LookupError(f"{operation_id}: its {status} answer has no {media_type} content")
                content[media_type] = {**content[media_type], "examples": named}
            operation["responses"] = {**operation["responses"], status: {**answer, "content": content}}
    return schema
