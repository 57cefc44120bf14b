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
from limits import parse_many
from limits.aio.storage import MemoryStorage
from pydantic import ValidationError

from app.core.config import Settings
from app.core.errors import TooManyRequests, render_text
from app.ratelimit.limiter import RateLimiter
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
    assert f"retry after {retry_after} second" in body["detail"]


async def test_a_token_over_its_limit_gets_429_and_other_tokens_do_not(app: Any, settings: Settings) -> None:
    first = await make_token(app, "sthj", ["submissions:write"])
    second = await make_token(app, "nyj", ["submissions:write"])
    async with serving(settings, rate_limit="3/minute") as (_, client):
        statuses = [(await client.get("/v1/me", headers=bearer(first))).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        refused = await client.get("/v1/me", headers=bearer(first))
        assert_rate_limited(refused, window_seconds=60)
        assert refused.json()["detail"] == ("This token has made more than 3 requests in a minute; "
                                            f"retry after {refused.headers['retry-after']} seconds.")
        assert (await client.get("/v1/me", headers=bearer(second))).status_code == 200
        zh = await client.get("/v1/me", headers=bearer(first, **{"Accept-Language": "zh-CN"}))
        assert zh.status_code == 429
        assert zh.json()["title"] == "请求过于频繁"
        assert zh.json()["detail"] == (
            f"该令牌每分钟最多可发送 3 次请求，已超出限额，请在 {zh.headers['retry-after']} 秒后重试。")


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


# ------------------------------------------------------------------------------------- concurrency (issue 16)


async def stored_hits(application: Any, backend: str) -> list[int]:
    """What the limiter's store holds: the count of each window it keeps."""
    storage = application.state.rate_limiter.storage
    if backend == "postgresql":
        return [row[0] for row in await sql(application, "SELECT hits FROM rate_limit_counters")]
    return list(storage.storage.values())


async def test_concurrent_requests_after_sequential_ones_count_once_each(
        app: Any, settings: Settings, backend: str) -> None:
    """The issue's first scenario: 60 requests one after another, then 30 at once, under 100/minute. All 90
    pass; then exactly 10 more, and the 101st is refused."""
    token = await make_token(app, "sthj", ["submissions:write"])
    async with serving(settings, rate_limit="100/minute") as (application, client):
        sequential = [(await client.get("/v1/me", headers=bearer(token))).status_code for _ in range(60)]
        concurrent = await asyncio.gather(*(client.get("/v1/me", headers=bearer(token)) for _ in range(30)))
        assert sequential + [answer.status_code for answer in concurrent] == [200] * 90
        assert [(await client.get("/v1/me", headers=bearer(token))).status_code for _ in range(10)] == [200] * 10
        refused = await client.get("/v1/me", headers=bearer(token))
        assert_rate_limited(refused, window_seconds=60)
        assert refused.json()["detail"] == ("This token has made more than 100 requests in a minute; "
                                            f"retry after {refused.headers['retry-after']} seconds.")
        assert await stored_hits(application, backend) == [101]


async def test_ninety_concurrent_posts_are_all_let_through_and_stored(
        app: Any, settings: Settings, backend: str) -> None:
    """The issue's second scenario: a mobile app posting 90 records at once, well under 100/minute."""
    writer = await make_token(app, "jyj", ["cells:write"])
    async with serving(settings, rate_limit="100/minute") as (application, client):
        # Used once first, so that its last_used_at update does not serialize the posts.
        assert (await client.get("/v1/me", headers=bearer(writer))).status_code == 200
        answers = await asyncio.gather(*(
            client.post("/v1/cells", headers=bearer(writer), json={**CELL, "name": f"新密市第{n}初级中学"})
            for n in range(1, 91)))
        assert [answer.status_code for answer in answers] == [201] * 90, [
            answer.text for answer in answers if answer.status_code != 201][:3]
        assert await stored_hits(application, backend) == [91]
    assert await sql(app, "SELECT count(*) FROM cells WHERE name LIKE '新密市第%初级中学'") == [(90,)]


@pytest.mark.parametrize("store", ["database", "redis"])
async def test_of_101_concurrent_requests_exactly_one_is_refused(
        app: Any, settings: Settings, backend: str, store: str) -> None:
    """With limit N, the first N requests of a window pass and the next is refused, however many arrive at
    once (on the database's store, and in Redis)."""
    token = await make_token(app, "sthj", ["submissions:write"])
    changes: dict[str, Any] = {"rate_limit": "100/minute"}
    if store == "redis":
        changes.update(redis_url=REDIS_URL, redis_key_prefix=f"zwc-test-{uuid.uuid4().hex}")
    async with serving(settings, **changes) as (application, client):
        answers = await asyncio.gather(*(client.get("/v1/me", headers=bearer(token)) for _ in range(101)))
        statuses = [answer.status_code for answer in answers]
        assert (statuses.count(200), statuses.count(429)) == (100, 1)
        (refused,) = [answer for answer in answers if answer.status_code == 429]
        assert_rate_limited(refused, window_seconds=60)
        storage = application.state.rate_limiter.storage
        if store == "redis":
            assert await storage.get(application.state.rate_limiter.limits[0].key_for(
                f"token:{(await sql(app, 'SELECT max(id) FROM api_tokens'))[0][0]}")) == 101
        else:
            assert await stored_hits(application, backend) == [101]


class CountingStorage(MemoryStorage):
    """Memory counters that take a round trip's time, recording each add and each read of a window's end."""

    def __init__(self) -> None:
        super().__init__()
        self.adds: list[int] = []
        self.expiry_reads = 0

    async def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        self.adds.append(amount)
        await asyncio.sleep(0.005)
        return await super().incr(key, expiry, amount)

    async def get_expiry(self, key: str) -> float:
        self.expiry_reads += 1
        await asyncio.sleep(0.005)
        return await super().get_expiry(key)


async def test_concurrent_hits_reach_the_store_once_each_in_few_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limiter alone, on a store that takes time to answer: each hit is added once (the adds sum to the
    hits), in a few batches far from the limit, and the window's end is read once (Retry-After comes from it)."""
    monkeypatch.setattr(RateLimiter, "SYNC_SECONDS", 3600.0)  # no time-driven adds during the test
    storage = CountingStorage()
    limiter = RateLimiter(limits=parse_many("1200/minute"), storage=storage)
    key = limiter.limits[0].key_for("token:7")

    first = await asyncio.gather(*(limiter.hit(7) for _ in range(600)), return_exceptions=True)
    assert first == [None] * 600
    # By hand: the 1st hit is added at once (nothing is known of the window yet) and the 599 others wait for
    # that answer; then they are one batch (599 pending ≥ (1200 − 600) // 16 = 37).
    assert storage.adds == [1, 599]

    second = await asyncio.gather(*(limiter.hit(7) for _ in range(601)), return_exceptions=True)
    assert second[:600] == [None] * 600
    assert isinstance(second[600], TooManyRequests)
    assert 1 <= int(second[600].headers["Retry-After"]) <= 60
    # By hand, hit k of the window closes a batch when its pending hits reach (1200 − k) // 16: at k = 635
    # (35 pending ≥ 565 // 16 = 35), which is sent; k = 636 … 667 decide at once; from k = 668 (33 pending ≥
    # 532 // 16 = 33) every hit waits for the store, and the first of them sends all 566 hits still pending.
    assert storage.adds == [1, 599, 35, 566]
    assert sum(storage.adds) == await storage.get(key) == 1201
    assert storage.expiry_reads == 1


async def test_a_store_that_forgot_its_counts_is_counted_from_its_answer() -> None:
    """A store whose window restarted early (PostgreSQL's unlogged table after a crash, Redis flushed) answers
    a total below what this process has added: the process counts again from the store's answer."""
    storage = MemoryStorage()
    limiter = RateLimiter(limits=parse_many("3/minute"), storage=storage)
    key = limiter.limits[0].key_for("token:7")
    for _ in range(3):
        await limiter.hit(7)
    with pytest.raises(TooManyRequests):
        await limiter.hit(7)
    await storage.reset()
    for _ in range(3):
        await limiter.hit(7)
    with pytest.raises(TooManyRequests):
        await limiter.hit(7)
    assert await storage.get(key) == 4


@pytest.mark.parametrize(("limit", "english", "chinese"), [
    ("1/second", "more than 1 request in a second", "每秒最多可发送 1 次请求"),
    ("2/10 seconds", "more than 2 requests in 10 seconds", "每 10 秒最多可发送 2 次请求"),
    ("2/10 minutes", "more than 2 requests in 10 minutes", "每 10 分钟最多可发送 2 次请求"),
    ("1/hour", "more than 1 request in an hour", "每小时最多可发送 1 次请求"),
    ("2/6 hours", "more than 2 requests in 6 hours", "每 6 小时最多可发送 2 次请求"),
    ("1/day", "more than 1 request in a day", "每天最多可发送 1 次请求"),
    ("2/7 days", "more than 2 requests in 7 days", "每 7 天最多可发送 2 次请求"),
])
async def test_the_refusal_says_the_limit_in_words(limit: str, english: str, chinese: str) -> None:
    limiter = RateLimiter(limits=parse_many(limit), storage=MemoryStorage())
    for _ in range(limiter.limits[0].amount):
        await limiter.hit(7)
    with pytest.raises(TooManyRequests) as refused:
        await limiter.hit(7)
    seconds = int(refused.value.headers["Retry-After"])
    wait = "1 second" if seconds == 1 else f"{seconds} seconds"
    assert render_text("rate_limited", "en", refused.value.params) == (
        "Too many requests", f"This token has made {english}; retry after {wait}.")
    assert render_text("rate_limited", "zh", refused.value.params) == (
        "请求过于频繁", f"该令牌{chinese}，已超出限额，请在 {seconds} 秒后重试。")


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_two_processes_at_once_stay_within_the_documented_bound(app: Any, settings: Settings) -> None:
    """Across processes a hit decided without waiting for the store may pass over the limit: at most
    2 × (⌊N / 16⌋ − 1) per process (docs/decisions/0016). Never fewer than N pass."""
    token = await make_token(app, "sthj", ["submissions:write"])
    async with serving(settings, rate_limit="100/minute") as (_, first), \
            serving(settings, rate_limit="100/minute") as (_, second):
        answers = await asyncio.gather(*(client.get("/v1/me", headers=bearer(token))
                                         for _ in range(75) for client in (first, second)))
        passed = [answer.status_code for answer in answers].count(200)
        assert 100 <= passed <= 100 + 2 * 2 * (100 // 16 - 1), passed
        assert [answer.status_code for answer in answers].count(429) == 150 - passed
        # Once the store's answers show the window spent, every hit waits for them: both processes refuse.
        for client in (first, second):
            assert_rate_limited(await client.get("/v1/me", headers=bearer(token)), window_seconds=60)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_hit_not_yet_added_is_what_another_process_overshoots_by(
        app: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the overshoot across processes comes from, worked out by hand with batches of
    max(1, (100 − what the process knows is counted) // 16) pending hits."""
    monkeypatch.setattr(RateLimiter, "SYNC_SECONDS", 3600.0)  # no time-driven adds during the test
    token = await make_token(app, "sthj", ["submissions:write"])
    async with serving(settings, rate_limit="100/minute") as (_, first), \
            serving(settings, rate_limit="100/minute") as (_, second):
        # The first process adds its 1st hit, then batches closing at hits 7, 12, 17, 21, 25, 29, 33, 37,
        # 40, 43, 46 and 49; its 50th is pending (1 < 50 // 16).
        assert [(await first.get("/v1/me", headers=bearer(token))).status_code for _ in range(50)] == [200] * 50
        assert await sql(app, "SELECT hits FROM rate_limit_counters") == [(49,)]
        # The second learns 49 from its first add, so lets 51 through: 1 more than the limit.
        statuses = [(await second.get("/v1/me", headers=bearer(token))).status_code for _ in range(52)]
        assert statuses == [200] * 51 + [429]
        assert await sql(app, "SELECT hits FROM rate_limit_counters") == [(101,)]
        # The first still knows of no other hits: its 51st passes without waiting (2 pending < 49 // 16),
        # its 52nd closes a batch (3 ≥ 48 // 16) and the store's answer, 104, refuses it.
        assert (await first.get("/v1/me", headers=bearer(token))).status_code == 200
        assert_rate_limited(await first.get("/v1/me", headers=bearer(token)), window_seconds=60)
        assert await sql(app, "SELECT hits FROM rate_limit_counters") == [(104,)]
