"""Authentication and tokens: every 401 and 403 path, minting, listing, revoking."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.timeutil import utcnow
from tests.factories import PROBLEM, bearer, make_token, serving, sql


@pytest.fixture
async def admin(app: Any) -> str:
    return await make_token(app, "lead", ["admin"], name="admin")


async def assert_401(response: httpx.Response, code: str) -> None:
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["code"] == code
    assert body["status"] == 401


async def test_no_token_is_401(client: httpx.AsyncClient) -> None:
    await assert_401(await client.get("/v1/me"), "token_missing")


MALFORMED_AUTHORIZATIONS = ["Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-zwc-token", "Bearer zwc_short",
                            "zwc_" + "a" * 43, "Bearer zwc_" + "a" * 40 + "!!!"]


async def test_malformed_token_is_401(client: httpx.AsyncClient, subtests: pytest.Subtests) -> None:
    for header in MALFORMED_AUTHORIZATIONS:
        with subtests.test(msg=header):
            await assert_401(await client.get("/v1/me", headers={"Authorization": header}), "token_malformed")


async def test_unknown_token_is_401(client: httpx.AsyncClient) -> None:
    await assert_401(await client.get("/v1/me", headers=bearer("zwc_" + "A" * 43)), "token_unknown")


async def test_expired_token_is_401(app: Any, client: httpx.AsyncClient) -> None:
    token = await make_token(app, "sthj", ["submissions:write"], expires_at=utcnow() - timedelta(seconds=1))
    await assert_401(await client.get("/v1/me", headers=bearer(token)), "token_expired")


async def test_revoked_token_is_401(app: Any, client: httpx.AsyncClient) -> None:
    token = await make_token(app, "sthj", ["submissions:write"], revoked_at=utcnow())
    await assert_401(await client.get("/v1/me", headers=bearer(token)), "token_revoked")


async def test_token_without_scope_is_403(app: Any, client: httpx.AsyncClient) -> None:
    token = await make_token(app, "sthj", ["submissions:write"])
    response = await client.post("/v1/departments/sthj/tokens", headers=bearer(token), json={"scopes": ["admin"]})
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "scope_required"
    assert await sql(app, "SELECT id FROM api_tokens") == [(1,)]


async def test_me_describes_the_calling_token(app: Any, client: httpx.AsyncClient) -> None:
    token = await make_token(app, "sthj", ["submissions:write", "cells:write"], name="field app")
    response = await client.get("/v1/me", headers=bearer(token))
    assert response.status_code == 200
    body = response.json()
    assert body["token_id"] == 1
    assert body["token_name"] == "field app"
    assert body["department"]["code"] == "sthj"
    assert body["department"]["kind"] == "department"
    assert body["scopes"] == ["cells:write", "submissions:write"]
    assert body["expires_at"] is not None


async def test_admin_mints_a_token_shown_once(app: Any, client: httpx.AsyncClient, admin: str) -> None:
    response = await client.post(
        "/v1/departments/cgj/tokens",
        headers=bearer(admin),
        json={"name": "城管 reporting", "scopes": ["submissions:write"], "expires_in_days": 30},
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "token", "department", "scopes", "expires_at"}
    assert re.fullmatch(r"zwc_[A-Za-z0-9_-]+", body["token"])
    assert body["department"] == "cgj"
    assert body["scopes"] == ["submissions:write"]
    assert response.headers["location"] == f"/v1/tokens/{body['id']}"
    # The new token works, and it belongs to its department.
    me = await client.get("/v1/me", headers=bearer(body["token"]))
    assert me.json()["department"]["code"] == "cgj"
    # Only a hash is stored: the secret appears nowhere in the database.
    stored = await sql(app, "SELECT name, prefix, token_hash, department FROM api_tokens WHERE id = :id",
                       id=body["id"])
    assert stored[0][0] == "城管 reporting"
    assert body["token"].startswith(stored[0][1])
    assert body["token"] not in "".join(str(value) for value in stored[0])
    audit = await sql(app, "SELECT after FROM audit_events WHERE action = 'token.created' AND entity_id = :id",
                      id=str(body["id"]))
    assert len(audit) == 1
    assert body["token"] not in str(audit[0][0])
    # The list shows the token, never the secret.
    listed = (await client.get("/v1/tokens", headers=bearer(admin))).json()
    assert body["token"] not in str(listed)
    assert {item["id"] for item in listed["items"]} == {1, body["id"]}
    expected_keys = {"id", "name", "prefix", "department", "scopes", "created_at", "expires_at",
                     "last_used_at", "revoked_at"}
    assert all(set(item) == expected_keys for item in listed["items"])


async def test_database_holds_no_plaintext_token(backend: str, app: Any, client: httpx.AsyncClient,
                                                 admin: str, settings: Any) -> None:
    response = await client.post("/v1/departments/sthj/tokens", headers=bearer(admin),
                                 json={"scopes": ["submissions:write"]})
    secret = response.json()["token"]
    # Every row of every table that could hold it, as text.
    dumped = ""
    for table in ("api_tokens", "audit_events", "departments"):
        rows = await sql(app, f"SELECT * FROM {table}")
        dumped += "\n".join(str(tuple(row)) for row in rows)
    assert secret[12:] not in dumped
    if backend == "sqlite":
        # And the database file itself, write-ahead log included.
        await app.state.database.dispose()
        path = Path(settings.database_url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        assert secret[12:].encode() not in raw


INVALID_TOKEN_REQUESTS: list[tuple[dict[str, Any], str]] = [
    ({"scopes": []}, "scopes"),
    ({"scopes": ["superuser"]}, "scopes"),
    ({"scopes": ["admin", "admin"]}, "scopes"),
    ({"scopes": ["admin"], "expires_in_days": 0}, "expires_in_days"),
    ({"scopes": ["admin"], "colour": "red"}, "colour"),
]


async def test_token_request_validation(app: Any, client: httpx.AsyncClient, admin: str,
                                        subtests: pytest.Subtests) -> None:
    """Every case on one database: each is refused, and the admin's token is still the only one."""
    for body, field in INVALID_TOKEN_REQUESTS:
        with subtests.test(msg=f"{field}-{body}"):
            response = await client.post("/v1/departments/sthj/tokens", headers=bearer(admin), json=body)
            assert response.status_code == 422
            problem = response.json()
            assert problem["code"] == "validation_failed"
            assert problem["errors"][0]["loc"][0] == field
            assert await sql(app, "SELECT count(*) FROM api_tokens") == [(1,)]


async def test_minting_for_unknown_department_is_404(client: httpx.AsyncClient, admin: str) -> None:
    response = await client.post("/v1/departments/nope/tokens", headers=bearer(admin), json={"scopes": ["admin"]})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_department_sees_and_revokes_only_its_own_tokens(app: Any, client: httpx.AsyncClient) -> None:
    own = await make_token(app, "sthj", ["submissions:write"])
    await make_token(app, "sthj", ["cells:write"], name="second")  # id 2
    await make_token(app, "cgj", ["submissions:write"], name="other")  # id 3
    listed = (await client.get("/v1/tokens", headers=bearer(own))).json()
    assert [item["id"] for item in listed["items"]] == [1, 2]
    assert (await client.get("/v1/tokens/3", headers=bearer(own))).status_code == 404
    assert (await client.delete("/v1/tokens/3", headers=bearer(own))).status_code == 404
    assert await sql(app, "SELECT revoked_at FROM api_tokens WHERE id = 3") == [(None,)]
    response = await client.delete("/v1/tokens/2", headers=bearer(own))
    assert response.status_code == 204
    assert response.content == b""
    assert (await sql(app, "SELECT revoked_at FROM api_tokens WHERE id = 2"))[0][0] is not None
    # Revoking again changes nothing and is not an error.
    assert (await client.delete("/v1/tokens/2", headers=bearer(own))).status_code == 204
    assert len(await sql(app, "SELECT id FROM audit_events WHERE action = 'token.revoked'")) == 1


async def test_admin_revokes_any_token_and_it_stops_working(app: Any, client: httpx.AsyncClient,
                                                            admin: str) -> None:
    other = await make_token(app, "cgj", ["submissions:write"])
    assert (await client.get("/v1/me", headers=bearer(other))).status_code == 200
    assert (await client.delete("/v1/tokens/2", headers=bearer(admin))).status_code == 204
    await assert_401(await client.get("/v1/me", headers=bearer(other)), "token_revoked")
    assert (await client.delete("/v1/tokens/99", headers=bearer(admin))).status_code == 404


async def test_last_used_at_is_written_at_most_once_a_minute(app: Any, client: httpx.AsyncClient) -> None:
    token = await make_token(app, "sthj", ["submissions:write"])
    assert await sql(app, "SELECT last_used_at FROM api_tokens") == [(None,)]
    await client.get("/v1/me", headers=bearer(token))
    first = (await sql(app, "SELECT last_used_at FROM api_tokens"))[0][0]
    assert first is not None
    await client.get("/v1/me", headers=bearer(token))
    await client.get("/v1/departments", headers=bearer(token))
    assert (await sql(app, "SELECT last_used_at FROM api_tokens"))[0][0] == first
    listed = (await client.get("/v1/tokens", headers=bearer(token))).json()["items"][0]
    assert listed["last_used_at"] is not None


# --- Verified tokens remembered per process -------------------------------------------------------


async def test_a_revocation_through_this_process_takes_effect_at_once(app: Any, client: httpx.AsyncClient) -> None:
    admin = await make_token(app, "lead", ["admin"])
    victim = await make_token(app, "sthj", ["submissions:write"])
    assert app.state.settings.token_cache_seconds > 0
    assert (await client.get("/v1/me", headers=bearer(victim))).status_code == 200  # now remembered
    assert (await client.delete("/v1/tokens/2", headers=bearer(admin))).status_code == 204
    await assert_401(await client.get("/v1/me", headers=bearer(victim)), "token_revoked")


async def test_a_revocation_through_another_process_takes_effect_within_the_cache_lifetime(
        app: Any, settings: Any) -> None:
    """Two processes, each remembering verified tokens for 0.5 s: the second revokes; the first lets the
    token in until its memory of it ends, then refuses it. Without memory (0 s) the refusal is at once."""
    import asyncio

    admin = await make_token(app, "lead", ["admin"])
    victim = await make_token(app, "sthj", ["submissions:write"])
    async with serving(settings, token_cache_seconds=0.5) as (_, here), \
            serving(settings, token_cache_seconds=0.5) as (_, there), \
            serving(settings, token_cache_seconds=0) as (_, uncached):
        assert (await here.get("/v1/me", headers=bearer(victim))).status_code == 200
        assert (await uncached.get("/v1/me", headers=bearer(victim))).status_code == 200
        assert (await there.delete("/v1/tokens/2", headers=bearer(admin))).status_code == 204
        await assert_401(await uncached.get("/v1/me", headers=bearer(victim)), "token_revoked")
        assert (await here.get("/v1/me", headers=bearer(victim))).status_code == 200  # still remembered
        await asyncio.sleep(0.6)
        await assert_401(await here.get("/v1/me", headers=bearer(victim)), "token_revoked")
