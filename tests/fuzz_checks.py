"""The fuzzing suites' own check, registered with schemathesis (also for its CLI: SCHEMATHESIS_HOOKS)."""

from __future__ import annotations

from typing import Any

import schemathesis

from tests.factories import PROBLEM, PROBLEM_FIELDS


@schemathesis.check
def problem_json(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx answers `application/problem+json` with type, title, status, detail and code."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    assert content_type == PROBLEM, f"{response.status_code} answered {content_type!r}, not {PROBLEM}"
    body = response.json()
    assert isinstance(body, dict), f"{response.status_code} problem body is not an object"
    missing = PROBLEM_FIELDS - set(body)
    assert not missing, f"{response.status_code} problem lacks {sorted(missing)}"
    assert body["status"] == response.status_code, f"problem status {body['status']} != {response.status_code}"
    assert body["type"] == f"urn:zwc:problem:{body['code']}", f"problem type {body['type']!r}"
    return True


