"""Records the OpenAPI document's examples from real requests to the application.

Every example in `app/core/openapi_examples.json` is a request the scenario (`tests/examples/scenario.py`) really
sent and the answer it really got, so the examples cannot drift from what the service does:
`tests/test_openapi_examples.py` records them again on both databases and compares with the committed file.

To make a recording repeatable, the clock is frozen and moved one minute per request, each request carries a
fixed `X-Request-ID`, and the few values that are random by design (token and webhook secrets, an attempt's
duration) are replaced by fixed stand-ins of the same form. Long lists are trimmed to a few items, which the
example's summary says.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import time_machine

JSON = "application/json"
PROBLEM = "application/problem+json"
# An attempt's duration is measured with the monotonic clock, which a frozen clock does not stop.
VOLATILE_FIELDS = {"duration_ms": 84}
STEP = timedelta(minutes=1)


def _stand_in(kind: str, number: int, length: int, prefix: str) -> str:
    """A fixed secret of the same form as a generated one: ``prefix`` and URL-safe characters."""
    digest = hashlib.sha256(f"zwc-example-{kind}-{number}".encode()).digest() * 2
    body = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return prefix + body[: length - len(prefix)]


@dataclass
class Operation:
    """One operation of the document, found from a request's method and path."""

    operation_id: str
    path: str
    pattern: re.Pattern[str]


def operations_of(document: dict[str, Any]) -> dict[str, list[Operation]]:
    by_method: dict[str, list[Operation]] = {}
    for path, item in document["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
        for method, operation in item.items():
            by_method.setdefault(method.upper(), []).append(Operation(operation["operationId"], path, pattern))
    for candidates in by_method.values():  # literal segments win over templated ones (/cells/summary)
        candidates.sort(key=lambda o: (o.path.count("{"), -len(o.path)))
    return by_method


@dataclass
class Recorder:
    client: httpx.AsyncClient
    clock: time_machine.Coordinates
    document: dict[str, Any]
    examples: dict[str, Any] = field(default_factory=dict)
    replacements: dict[str, str] = field(default_factory=dict)
    requests: int = 0

    def __post_init__(self) -> None:
        self._operations = operations_of(self.document)

    # -------------------------------------------------------------------------------------- secrets

    def secret(self, value: str, kind: str, *, prefix: str, shown: int | None = None) -> None:
        """Record ``value`` (and its first ``shown`` characters, where lists show a prefix) as random."""
        if value in self.replacements:
            return
        number = sum(1 for key in self.replacements if key.startswith(prefix)) + 1
        stand_in = _stand_in(kind, number, len(value), prefix)
        self.replacements[value] = stand_in
        if shown:
            self.replacements[value[:shown]] = stand_in[:shown]

    def file_id(self, value: str) -> None:
        """Record a file id (random by design) and give it a fixed stand-in of the same form."""
        if value not in self.replacements:
            number = sum(1 for key in self.replacements if len(key) == 32) + 1
            self.replacements[value] = hashlib.sha256(f"zwc-example-file-{number}".encode()).hexdigest()[:32]

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for actual in sorted(self.replacements, key=len, reverse=True):
                value = value.replace(actual, self.replacements[actual])
            return value
        if isinstance(value, list):
            return [self._scrub(item) for item in value]
        if isinstance(value, dict):
            return {key: VOLATILE_FIELDS[key] if key in VOLATILE_FIELDS else self._scrub(item)
                    for key, item in value.items()}
        return value

    # ------------------------------------------------------------------------------------- requests

    def operation_id(self, method: str, url: str) -> str:
        path = httpx.URL(url).path
        for operation in self._operations.get(method, []):
            if operation.pattern.match(path):
                return operation.operation_id
        raise AssertionError(f"no documented operation for {method} {path}")

    async def call(
        self, method: str, url: str, *, token: str | None = None, expect: int, name: str | None = None,
        summary: str | None = None, json_body: Any = None, content: bytes | None = None,
        request_example: Any = None, headers: dict[str, str] | None = None,
        trim: Callable[[Any], Any] | None = None, record_request: bool = True,
    ) -> httpx.Response:
        """Send one request; with a ``name``, keep it and its answer as the operation's example ``name``.

        ``request_example`` stands for a body that is not JSON (a multipart upload). ``trim`` shortens the
        recorded answer (never what the scenario reads)."""
        self.clock.shift(STEP)
        self.requests += 1
        operation_id = self.operation_id(method, url)
        sent = {"X-Request-ID": f"example-{self.requests:03d}", **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            response = await self.client.request(method, url, json=json_body, headers=sent)
        else:
            response = await self.client.request(method, url, content=content, headers=sent)
        assert response.status_code == expect, (method, url, response.status_code, response.text)
        if name is not None:
            self._keep(operation_id, name, summary or name, response,
                       json_body if request_example is None else request_example, trim, record_request)
        return response

    def _keep(self, operation_id: str, name: str, summary: str, response: httpx.Response, request_body: Any,
              trim: Callable[[Any], Any] | None, record_request: bool) -> None:
        entry = self.examples.setdefault(operation_id, {"request": {}, "responses": {}})
        if request_body is not None and record_request:
            media_type = response.request.headers.get("content-type", JSON).split(";")[0]
            examples = entry["request"].setdefault(media_type, {})
            assert name not in examples, (operation_id, name)
            examples[name] = {"summary": summary, "value": request_body}
        if not response.content:
            return
        media_type = response.headers["content-type"].split(";")[0]
        body: Any = response.json() if media_type in (JSON, PROBLEM) else response.text.lstrip("\ufeff")
        if trim is not None:
            body = trim(body)
        examples = entry["responses"].setdefault(str(response.status_code), {}).setdefault(media_type, {})
        assert name not in examples, (operation_id, response.status_code, name)
        examples[name] = {"summary": summary, "value": body}

    def recording(self) -> str:
        """The examples as the committed file holds them: sorted keys, two-space indent, UTF-8 text."""
        return json.dumps(self._scrub(self.examples), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def first(count: int, key: str = "items") -> Callable[[Any], Any]:
    """Keep the first ``count`` entries of a list field."""
    def trim(body: Any) -> Any:
        return {**body, key: body[key][:count]}
    return trim


def only_codes(codes: set[str], key: str) -> Callable[[Any], Any]:
    """Keep the entries of a list field whose `code` is in ``codes``."""
    def trim(body: Any) -> Any:
        return {**body, key: [item for item in body[key] if item["code"] in codes]}
    return trim


def csv_rows(codes: set[str]) -> Callable[[Any], Any]:
    """Keep a CSV's header and the rows of ``codes`` (first column)."""
    def trim(text: Any) -> Any:
        lines = str(text).splitlines(keepends=True)
        return "".join([lines[0], *(line for line in lines[1:] if line.split(",", 1)[0] in codes)])
    return trim
