"""Schema-driven fuzzing: schemathesis against the app's own OpenAPI document, on a real database.

Every operation of the served document is called with generated requests (valid and invalid), as the
lead office with every scope, as one of the other kinds of caller in turn (a reporting department, the
lead office's reviewer, a cells office, Zhengzhou's read-only token) and, for a sample of operations,
without a token. Checks: no 5xx, the
status code and content type are documented, the body matches the documented schema, and every 4xx is
an RFC 9457 problem with `type/title/status/detail/code`.

Requests go to the ASGI app through httpx on the test's own event loop (the app's database pool lives
there); Hypothesis runs in a worker thread and hands each request to that loop. Failures of all
operations are collected and reported together, so one run shows every defect.

The stateful (link-following) run is in test_fuzz_stateful.py: it needs schemathesis' own engine and a
real server.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, ClassVar

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.core.actor import SCOPES
from tests.factories import make_token
from tests.fuzz_checks import problem_json

BASE_URL = "http://testserver"
MAX_EXAMPLES = 25
ANONYMOUS_MAX_EXAMPLES = 8
ANONYMOUS_SAMPLE_EVERY = 5  # every fifth operation is also fuzzed without a token
KIND_MAX_EXAMPLES = 8
# The other callers, one per operation in turn: (department, scopes, label).
CALLER_KINDS: list[tuple[str, list[str], str]] = [
    ("sthj", ["submissions:write"], "reporting department"),
    ("lead", ["submissions:review", "cells:review"], "lead office reviewer"),
    ("jyj", ["cells:write"], "cells office"),
    ("zzwf", ["aggregates:read"], "Zhengzhou platform"),
]

# Operations (METHOD path) left out, each with the defect that keeps it out. Empty: none is.
EXCLUDED: dict[str, str] = {}


CHECKS: list[Callable[..., bool | None]] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    problem_json,
]


def _file_part(part: tuple[str, Any]) -> tuple[str, Any]:
    """A requests-style multipart part as httpx takes it (content as str or bytes)."""
    name, value = part
    if not isinstance(value, tuple):
        value = (None, value)
    filename, content, *rest = value
    if not isinstance(content, str | bytes):
        content = json.dumps(content)
    return name, (filename, content, *rest)


def _httpx_kwargs(case: Any, headers: dict[str, str]) -> dict[str, Any]:
    """The generated request as arguments of `httpx.AsyncClient.request`."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    # The generated Authorization header (any spelling) is replaced by the run's own, or dropped.
    generated = {key: value for key, value in (kwargs.get("headers") or {}).items() if key.lower() != "authorization"}
    request: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": {**generated, **headers},
        "params": kwargs.get("params"),
    }
    if kwargs.get("cookies"):
        cookie = "; ".join(f"{key}={value}" for key, value in kwargs["cookies"].items())
        request["headers"] = {**request["headers"], "Cookie": cookie}
    if "json" in kwargs:
        request["json"] = kwargs["json"]
    if kwargs.get("files"):
        request["files"] = [_file_part(part) for part in kwargs["files"]]
        if isinstance(kwargs.get("data"), dict):
            request["data"] = kwargs["data"]
    elif "data" in kwargs and kwargs["data"] is not None:
        data = kwargs["data"]
        if isinstance(data, dict):
            request["data"] = data
        else:
            request["content"] = data.encode() if isinstance(data, str) else data
    return request


def _fuzz_operation(
    operation: Any,
    *,
    send: Callable[[dict[str, Any]], httpx.Response],
    headers: dict[str, str],
    max_examples: int,
    statuses: dict[int, int],
) -> int:
    calls = 0

    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
    )

    @given(case=strategy)
    @hypothesis_settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        nonlocal calls
        calls += 1
        request = _httpx_kwargs(case, headers)
        response = send(request)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        case.validate_response(response, checks=CHECKS, headers=request["headers"])

    run()
    return calls


async def test_fuzz_every_operation(app: Any, backend: str) -> None:
    schema = schemathesis.openapi.from_dict(app.openapi())
    loop = asyncio.get_running_loop()
    transport = httpx.ASGITransport(app=app)

    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, timeout=30) as http:

        async def request_and_read(request: dict[str, Any]) -> httpx.Response:
            response = await http.request(**request)
            await response.request.aread()  # a multipart body is a stream; the checks read it
            return response

        def send(request: dict[str, Any]) -> httpx.Response:
            return asyncio.run_coroutine_threadsafe(request_and_read(request), loop).result(timeout=60)

        statuses: dict[int, int] = {}

        def fuzz_all() -> tuple[list[str], int, int]:
            failures: list[str] = []
            operations = calls = 0
            for index, result in enumerate(schema.get_all_operations()):
                operation = result.ok()
                label = f"{operation.method.upper()} {operation.path}"
                if label in EXCLUDED:
                    continue
                operations += 1
                # A fresh token per operation: DELETE /v1/tokens/{token_id} may revoke the one in use.
                token = asyncio.run_coroutine_threadsafe(
                    make_token(app, "lead", list(SCOPES), name=f"fuzz {label}"), loop).result(timeout=60)
                department, scopes, kind = CALLER_KINDS[index % len(CALLER_KINDS)]
                other = asyncio.run_coroutine_threadsafe(
                    make_token(app, department, scopes, name=f"fuzz {kind} {label}"), loop).result(timeout=60)
                runs = [({"Authorization": f"Bearer {token}"}, MAX_EXAMPLES, "lead"),
                        ({"Authorization": f"Bearer {other}"}, KIND_MAX_EXAMPLES, kind)]
                if index % ANONYMOUS_SAMPLE_EVERY == 0:
                    runs.append(({}, ANONYMOUS_MAX_EXAMPLES, "anonymous"))
                for headers, examples, who in runs:
                    try:
                        calls += _fuzz_operation(operation, send=send, headers=headers, max_examples=examples,
                                                   statuses=statuses)
                    except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a FailureGroup
                        failures.append(f"{label} as {who}: {type(exc).__name__}: {exc}"[:3000])
            return failures, operations, calls

        started = time.monotonic()
        failures, operations, calls = await asyncio.to_thread(fuzz_all)
        elapsed = time.monotonic() - started

    print(f"fuzzed {operations} operations with {calls} requests on {backend} in {elapsed:.1f}s; "
          f"statuses {dict(sorted(statuses.items()))}")
    assert operations >= 50
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("status", [400, 404])
def test_problem_check_rejects_a_plain_json_4xx(status: int) -> None:
    """The custom check fails a 4xx that is not a problem document (so it cannot pass vacuously)."""

    class FakeResponse:
        status_code = status
        headers: ClassVar[dict[str, list[str]]] = {"content-type": ["application/json"]}

        def json(self) -> dict[str, Any]:
            return {"detail": "nope"}

    with pytest.raises(AssertionError, match="not application/problem"):
        problem_json(None, FakeResponse(), None)
