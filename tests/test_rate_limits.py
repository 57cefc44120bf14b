"""Requests per token: 429 with `Retry-After` past the limit, counted where every process sees it.

Each test builds its own applications with a small limit. Two applications built from one settings
object have separate connection pools (and limiters), as two server processes would.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from app.core.config import Settings
from tests.factories import bearer, make_token, serving, sql

REDIS_URL = "redis://127.0.0.1:6379/0"
CELL = {"name": "新密市第三初级中学", "type": "school", "town": "qingpingjie", "address": "青屏大街 3 号"}


def assert_rate_limited(response: httpx.Response, *, window_seconds: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= window_seconds
    body = response.json()
    assert body["code"] == "rate_limited"
    assert body["status"] == 429
    assert body["title"] == "Too many requests"
    assert f"retry after {retry_after} seconds" in body["detail"]


async def test_a_token_over_its_limit_gets_429_and_other_tokens_do_not(app: Any, settings: Settings) -> None:
    first = await make_token(app, "sthj", ["submissions:write"])
    second = await make_token(app, "nyj", ["submissions:write"])
    async with serving(settings, rate_limit="3/minute") as (_, client):
        statuses = [(await client.get("/v1/me", headers=bearer(first))).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        refused = await client.get("/v1/me", headers=bearer(first))
        assert_rate_limited(refused, window_seconds=60)
        assert refused.json()["detail"].startswith("This token is over its limit of 3 per 1 minute requests")
        assert (await client.get("/v1/me", headers=bearer(second))).status_code == 200
        zh = await client.get("/v1/me", headers=bearer(first, **{"Accept-Language": "zh-CN"}))
        assert zh.status_code == 429
        assert zh.json()["title"] == "请求过于频繁"


async def test_a_refused_write_writes_nothing(app: Any, settings: Settings) -> None:
    writer = await make_token(app, "jyj", ["cells:write"])
    async with serving(settings, rate_limit="1/minute") as (_, client):
        created = await client.post("/v1/cells", headers=bearer(writer), json=CELL)
        assert created.status_code == 201, created.text
        refused = await client.post("/v1/cells", headers=bearer(writer), json={**CELL, "name": "新密市第四初级中学"})
        assert_rate_limited(refused, window_seconds=60)
    assert await sql(app, "SELECT name FROM cells WHERE name LIKE '新密市第%初级中学' ORDER BY name") == [
        ("新密市第三初级中学",)]
    applied = await sql(app, "SELECT count(*) FROM audit_events WHERE entity = 'cell' AND action = 'cell.applied'")
    assert applied == [(1,)]


async def test_requests_without_a_valid_token_are_not_counted(app: Any, settings: Settings) -> None:
    token = await make_token(app, "sthj", ["submissions:write"])
    async with serving(settings, rate_limit="2/minute") as (_, client):
        for _ in range(5):
            assert (await client.get("/v1/me")).status_code == 401
            assert (await client.get("/v1/me", headers=bearer("zwc_nosuchtoken"))).status_code == 401
        assert [(await client.get("/v1/me", headers=bearer(token))).status_code for _ in range(3)] == [200, 200, 429]


async def test_a_window_that_ended_lets_the_token_in_again(app: Any, settings: Settings) -> None:
    token = await make_token(app, "sthj", ["submissions:write"])
    async with serving(settings, rate_limit="1/second") as (_, client):
        assert (await client.get("/v1/me", headers=bearer(token))).status_code == 200
        assert_rate_limited(await client.get("/v1/me", headers=bearer(token)), window_seconds=1)
        await asyncio.sleep(1.1)
        assert (await client.get("/v1/me", headers=bearer(token))).status_code == 200


async def test_an_empty_limit_switches_limiting_off(app: Any, settings: Settings) -> None:
    token = await make_token(app, "sthj", ["submissions:write"])
    async with serving(settings, rate_limit="") as (application, client):
        assert application.state.rate_limiter is None
        assert {(await client.get("/v1/me", headers=bearer(token))).status_code for _ in range(20)} == {200}


async def test_two_processes_share_the_count_on_postgresql(app: Any, settings: Settings, backend: str) -> None:
    """On PostgreSQL the counters live in the database; on the embedded SQLite default, in each process."""
    token = await make_token(app, "sthj", ["submissions:write"])
    async with serving(settings, rate_limit="4/minute") as (one, first), \
            serving(settings, rate_limit="4/minute") as (_, second):
        statuses = []
        for client in (first, second, first, second, first, second):
            statuses.append((await client.get("/v1/me", headers=bearer(token))).status_code)
        if backend == "postgresql":
            assert one.state.rate_limiter.backend == "PostgresStorage"
            assert statuses == [200, 200, 200, 200, 429, 429]
            assert await sql(app, "SELECT hits FROM rate_limit_counters WHERE key LIKE '%token:%/4/1/minute'") == [
                (6,)]
        else:
            assert one.state.rate_limiter.backend == "MemoryStorage"
            assert statuses == [200] * 6


async def test_two_processes_share_the_count_in_redis(app: Any, settings: Settings) -> None:
    """With ZWC_REDIS_URL the counters live in Redis, whatever the database (the machine runs Redis)."""
    token = await make_token(app, "sthj", ["submissions:write"])
    prefix = f"zwc-test-{uuid.uuid4().hex}"
    changes = {"rate_limit": "3/minute", "redis_url": REDIS_URL, "redis_key_prefix": prefix}
    async with serving(settings, **changes) as (one, first), serving(settings, **changes) as (_, second):
        assert one.state.rate_limiter.backend == "RedisStorage"
        statuses = []
        for client in (first, second, first, second):
            statuses.append((await client.get("/v1/me", headers=bearer(token))).status_code)
        assert statuses == [200, 200, 200, 429]
        assert_rate_limited(await second.get("/v1/me", headers=bearer(token)), window_seconds=60)


async def test_an_unreachable_counter_store_lets_requests_through(app: Any, settings: Settings,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    token = await make_token(app, "sthj", ["submissions:write"])
    async with serving(settings, rate_limit="1/minute", redis_url="redis://127.0.0.1:1/0") as (_, client):
        assert [(await client.get("/v1/me", headers=bearer(token))).status_code for _ in range(3)] == [200] * 3
    assert any("rate limit counters unavailable" in record.getMessage() for record in caplog.records)


def test_a_malformed_limit_is_refused_at_startup() -> None:
    with pytest.raises(ValidationError, match="not a rate limit"):
        Settings(rate_limit="lots", _env_file=None)  # type: ignore[call-arg]
    assert Settings(rate_limit="20/second;1200/minute", _env_file=None).rate_limit  # type: ignore[call-arg]


async def test_counts_reach_the_shared_store_in_batches_and_the_limit_stays_exact(
        app: Any, settings: Settings, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Far below the limit a process adds its hits in batches (a sixteenth of what is left); near it,
    every hit. One process alone therefore allows exactly the limit, with fewer round trips than requests."""
    from sqlalchemy import event

    from app.ratelimit.limiter import RateLimiter

    monkeypatch.setattr(RateLimiter, "SYNC_SECONDS", 3600.0)  # no time-driven adds during the test
    token = await make_token(app, "sthj", ["submissions:write"])
    async with serving(settings, rate_limit="40/minute") as (application, client):
        adds: list[str] = []
        storage = application.state.rate_limiter.storage
        if backend == "postgresql":
            event.listen(storage.engine.sync_engine, "before_cursor_execute",
                         lambda *args: adds.append(args[2]) if "INSERT INTO rate_limit_counters" in args[2] else None)
        statuses = [(await client.get("/v1/me", headers=bearer(token))).status_code for _ in range(45)]
        assert statuses == [200] * 40 + [429] * 5
        if backend == "postgresql":
            # By hand, batch = (40 − shared − pending) // 16, at least 1: the 1st hit is added at once (nothing
            # known yet); the 3rd, 5th and 7th close batches of 2 (remaining 37, 35, 33 → 2); at the 9th the
            # remaining is 31 → 1, so from there every hit is added: 4 + (45 − 8) = 41 adds.
            assert len(adds) == 41
            assert await sql(app, "SELECT hits FROM rate_limit_counters") == [(45,)]
