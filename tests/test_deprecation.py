"""Deprecating an operation (docs/VERSIONING.md): `deprecated: true` in the document, and `Deprecation`,
`Sunset` and `Link` on every answer, problems included, until the sunset. No operation of /v1 is
deprecated today, so the mechanism is shown on an operation added for the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends

from app.auth.dependencies import authenticate_request
from app.core.deprecation import POLICY, deprecated, deprecation_headers
from app.core.routing import ApiRoute
from tests.factories import assert_problem, bearer, make_token, serving

SINCE = datetime(2026, 12, 1, tzinfo=UTC)
SUNSET = datetime(2027, 6, 30, 16, 0, tzinfo=UTC)  # 2027-07-01 00:00 in Xinmi (UTC+8)


def test_the_headers_follow_their_rfcs() -> None:
    # RFC 9745: a Structured Field date, seconds since the epoch; RFC 8594: an IMF-fixdate.
    assert deprecation_headers(SINCE, SUNSET, "/v2/scores") == {
        "Deprecation": "@1796083200",  # 2026-12-01T00:00:00Z, by hand: 20,788 days × 86,400 s
        "Sunset": "Wed, 30 Jun 2027 16:00:00 GMT",
        "Link": f'<{POLICY}>; rel="deprecation", </v2/scores>; rel="successor-version"',
    }
    shanghai = timezone(timedelta(hours=8))
    assert deprecation_headers(SINCE, datetime(2027, 7, 1, tzinfo=shanghai), None)["Sunset"] == \
        "Wed, 30 Jun 2027 16:00:00 GMT"
    with pytest.raises(ValueError, match="timezone"):
        deprecation_headers(SINCE.replace(tzinfo=None), SUNSET, None)
    with pytest.raises(ValueError, match="after"):
        deprecation_headers(SUNSET, SINCE, None)


async def test_a_deprecated_operation_says_so_in_the_document_and_on_every_answer(settings: Any) -> None:
    async with serving(settings) as (application, http):
        router = APIRouter(route_class=ApiRoute, dependencies=[Depends(authenticate_request)])

        @router.get("/v1/old-ping", operation_id="getOldPing", deprecated=True, tags=["health"],
                    summary="An operation on its way out", description="For the test.",
                    dependencies=[deprecated(since=SINCE, sunset=SUNSET, successor="/v1/me")])
        async def old_ping(times: int = 1) -> dict[str, str]:
            return {"status": "ok" * times}

        application.include_router(router)
        application.openapi_schema = None
        operation = application.openapi()["paths"]["/v1/old-ping"]["get"]
        assert operation["deprecated"] is True

        token = await make_token(application, "cgj", ["submissions:write"])
        answered = await http.get("/v1/old-ping", headers=bearer(token))
        assert answered.status_code == 200
        assert answered.headers["Deprecation"] == "@1796083200"
        assert answered.headers["Sunset"] == "Wed, 30 Jun 2027 16:00:00 GMT"
        assert answered.headers["Link"] == f'<{POLICY}>; rel="deprecation", </v1/me>; rel="successor-version"'
        # Other operations carry none of it.
        current = await http.get("/v1/me", headers=bearer(token))
        assert "Deprecation" not in current.headers
        assert "Sunset" not in current.headers
        # A problem about the request itself says so too; a refused token learns nothing of the operation.
        invalid = await http.get("/v1/old-ping", params={"times": "many"}, headers=bearer(token))
        assert_problem(invalid, 422, "validation_failed")
        assert invalid.headers["Sunset"] == "Wed, 30 Jun 2027 16:00:00 GMT"
        refused = await http.get("/v1/old-ping", headers=bearer("zwc_" + "z" * 43))
        assert_problem(refused, 401, "token_unknown")
        assert "Sunset" not in refused.headers


async def test_the_service_deprecates_nothing_today(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert [(path, method) for path, item in document["paths"].items() for method, operation in item.items()
            if isinstance(operation, dict) and operation.get("deprecated")] == []
