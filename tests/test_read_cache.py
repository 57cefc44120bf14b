"""The read cache (app/readcache/): repeated reads answered from memory must be the full path's answers,
byte for byte, never one the data has moved past, and never to a caller the full path would refuse."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from app.readcache.middleware import ReadCache
from tests.factories import assert_problem, bearer, make_token, serving, sql, sql_write
from tests.test_aggregates import RATE_2024, approve_rate, figures, rows

POSTGRES_ONLY = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

# Headers that differ between any two answers, from the full path or not.
PER_REQUEST = {"x-request-id"}


@asynccontextmanager
async def watching(application: Any) -> AsyncIterator[ReadCache]:
    """The application's watch running, as its lifespan runs it, once it holds a version."""
    cache: ReadCache = application.state.read_cache
    task = asyncio.create_task(cache.watch.run())
    try:
        await until(lambda: cache.watch.current is not None)
        yield cache
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def until(condition: Any, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


@contextmanager
def statements(application: Any, *, replica: bool = False) -> Iterator[list[str]]:
    """The SQL statements the application's engine (or its replica's) runs inside the block."""
    seen: list[str] = []
    database = application.state.database
    engine = (database.read_engine if replica else database.engine).sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((name, value) for name, value in response.headers.multi_items() if name not in PER_REQUEST)
    return response.status_code, headers, response.content


@pytest.fixture
async def puller(app: Any) -> str:
    return await make_token(app, "zzwf", ["aggregates:read"], name="zhengzhou platform")


@pytest.fixture
async def reader(app: Any) -> str:
    return await make_token(app, "cgj", ["submissions:write"], name="a department's reader")


@pytest.fixture
async def nyj(app: Any) -> str:
    return await make_token(app, "nyj", ["submissions:write"])


@pytest.fixture
async def reviewer(app: Any) -> str:
    return await make_token(app, "lead", ["submissions:review"])


async def conditional_pull(client: httpx.AsyncClient, token: str, **params: str) -> tuple[str, httpx.Response]:
    first = await client.get("/v1/aggregates", params={"period": "2024", **params}, headers=bearer(token))
    assert first.status_code == 200, first.text
    etag = first.headers["ETag"]
    again = await client.get("/v1/aggregates", params={"period": "2024", **params},
                             headers=bearer(token, **{"If-None-Match": etag}))
    return etag, again


async def rate_row(client: httpx.AsyncClient, token: str, include: str = "approved") -> dict[str, Any]:
    response = await client.get("/v1/scores", params={"period": "2024", "include": include}, headers=bearer(token))
    assert response.status_code == 200, response.text
    (row,) = [item for item in response.json()["indicators"] if item["code"] == "2.2.01"]
    return {key: row[key] for key in ("value", "score", "status")}


NOTHING = {"value": None, "score": None, "status": "no_data"}
# RATE_2024 by hand (tests/test_aggregates.py): 100 × 90 / 95 = 94.74, on track against the expected 80.
APPROVED = {"value": 90, "score": 94.74, "status": "on_track"}


# ------------------------------------------------------------------------------------------ answers


@POSTGRES_ONLY
async def test_a_repeated_read_is_the_full_paths_answer_without_a_query(app: Any, client: httpx.AsyncClient,
                                                                        puller: str, reader: str) -> None:
    reads = [
        ("/v1/scores", {"period": "2024"}, reader, {}),
        ("/v1/scores", {"period": "2024", "include": "submitted"}, reader, {}),
        ("/v1/indicators/2.2.01", {}, reader, {}),
        ("/v1/indicators/1.1.01", {}, puller, {"Accept-Language": "zh-CN"}),
    ]
    _, full_304 = await conditional_pull(client, puller)  # before the watch runs: the full path's 304
    assert full_304.status_code == 304
    async with watching(app) as cache:
        for path, params, token, headers in reads:
            full = await client.get(path, params=params, headers=bearer(token, **headers))
            assert full.status_code == 200, full.text
            with statements(app) as seen:
                kept = await client.get(path, params=params, headers=bearer(token, **headers))
            assert seen == [], (path, seen)
            assert comparable(kept) == comparable(full), path
        assert cache.hits == len(reads)

        # The aggregates' 304, byte for byte as the full path sends it; its 200 (stamped with the time of
        # the request) always takes the full path.
        etag, kept_first = await conditional_pull(client, puller)
        assert kept_first.status_code == 304
        assert cache.hits == len(reads) + 1  # the 304 came from the 200's ETag
        with statements(app) as seen:
            kept_304 = await client.get("/v1/aggregates", params={"period": "2024"},
                                        headers=bearer(puller, **{"If-None-Match": f'"other", {etag}'}))
        assert seen == []
        assert comparable(kept_304) == comparable(full_304)
        assert kept_304.headers["etag"] == etag
        assert kept_304.headers["cache-control"] == "private, no-cache"
        with statements(app) as seen:
            body = await client.get("/v1/aggregates", params={"period": "2024"}, headers=bearer(puller))
        assert body.status_code == 200
        assert seen != []
        assert cache.hits == len(reads) + 2
        assert comparable(kept_first) == comparable(full_304)


@POSTGRES_ONLY
async def test_what_the_full_path_answers_otherwise_is_never_kept(app: Any, client: httpx.AsyncClient,
                                                                  reader: str, puller: str) -> None:
    async with watching(app) as cache:
        for _ in range(2):
            assert_problem(await client.get("/v1/scores", params={"period": "2024x"}, headers=bearer(reader)),
                           422, "validation_failed")
            assert_problem(await client.get("/v1/indicators/9.9.99", headers=bearer(reader)), 404, "not_found")
            # A parameter the cache does not know, or one given twice: the full path decides.
            assert (await client.get("/v1/scores", params={"period": "2024", "extra": "1"},
                                     headers=bearer(reader))).status_code == 200
            assert (await client.get("/v1/scores?period=2024&period=2023", headers=bearer(reader))).status_code \
                in (200, 422)
            # A stale If-None-Match gets the full 200.
            stale = await client.get("/v1/aggregates", params={"period": "2024"},
                                     headers=bearer(puller, **{"If-None-Match": '"agg-json-0"'}))
            assert stale.status_code == 200
        assert cache.hits == 0
        assert set(cache.answers) == {("/v1/aggregates", (("period", "2024"),), b"*/*")}


# ------------------------------------------------------------------------------------------ callers


@POSTGRES_ONLY
async def test_a_kept_answer_is_refused_to_whom_the_full_path_refuses(app: Any, client: httpx.AsyncClient,
                                                                       puller: str, reader: str) -> None:
    async with watching(app) as cache:
        etag, not_modified = await conditional_pull(client, puller)
        assert not_modified.status_code == 304
        assert (await client.get("/v1/scores", params={"period": "2024"}, headers=bearer(reader))).status_code == 200
        hits = cache.hits
        # A token without aggregates:read, even one this process knows well.
        assert (await client.get("/v1/me", headers=bearer(reader))).status_code == 200
        assert_problem(await client.get("/v1/aggregates", params={"period": "2024"},
                                        headers=bearer(reader, **{"If-None-Match": etag})), 403, "scope_required")
        # No token, an unknown one, a malformed one.
        assert_problem(await client.get("/v1/scores", params={"period": "2024"}), 401, "token_missing")
        assert_problem(await client.get("/v1/scores", params={"period": "2024"},
                                        headers=bearer("zwc_" + "x" * 43)), 401, "token_unknown")
        assert_problem(await client.get("/v1/scores", params={"period": "2024"},
                                        headers={"Authorization": "Basic abc"}), 401, "token_malformed")
        # Two Authorization headers: the first counts, as on the full path, even when the second is a
        # token this process remembers.
        assert_problem(await client.get("/v1/scores", params={"period": "2024"}, headers=[
            ("Authorization", "Bearer zwc_" + "y" * 43), ("Authorization", f"Bearer {reader}")]),
            401, "token_unknown")
        assert cache.hits == hits

        # Revoked through this process: refused at once.
        me = (await client.get("/v1/me", headers=bearer(puller))).json()
        admin = await make_token(app, "lead", ["admin"])
        revoked = await client.delete(f"/v1/tokens/{me['token_id']}", headers=bearer(admin))
        assert revoked.status_code == 204, revoked.text
        assert_problem(await client.get("/v1/aggregates", params={"period": "2024"},
                                        headers=bearer(puller, **{"If-None-Match": etag})), 401, "token_revoked")
        assert cache.hits == hits


@POSTGRES_ONLY
async def test_kept_answers_count_against_the_rate_limit_and_are_logged_with_their_caller(
        settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    async with serving(settings, rate_limit="3/minute") as (application, http), watching(application) as cache:
        token = await make_token(application, "cgj", ["submissions:write"])
        answers = [await http.get("/v1/indicators/2.2.01", headers=bearer(token)) for _ in range(3)]
        assert [answer.status_code for answer in answers] == [200, 200, 200]
        assert cache.hits == 2
        caplog.clear()
        with caplog.at_level("INFO", logger="zwc.access"):
            refused = await http.get("/v1/indicators/2.2.01", headers=bearer(token))
        problem = assert_problem(refused, 429, "rate_limited")
        assert int(refused.headers["Retry-After"]) >= 1
        assert problem["instance"] == "/v1/indicators/2.2.01"
        assert cache.hits == 3  # refused by the cache's own path, counted once
        (record,) = [r for r in caplog.records if r.name == "zwc.access"]
        assert (record.status, record.department) == (429, "cgj")  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------ freshness


@POSTGRES_ONLY
async def test_this_process_sees_its_own_write_at_once(app: Any, client: httpx.AsyncClient, reader: str,
                                                       nyj: str, reviewer: str, puller: str) -> None:
    async with watching(app) as cache:
        etag, not_modified = await conditional_pull(client, puller)
        assert not_modified.status_code == 304
        assert await rate_row(client, reader) == NOTHING
        assert await rate_row(client, reader) == NOTHING
        assert cache.hits == 2  # the 304 and the second read
        await approve_rate(client, nyj, reviewer)
        # No wait: the write's commit made the version untrusted before the approval was answered.
        assert await rate_row(client, reader) == APPROVED
        changed = await client.get("/v1/aggregates", params={"period": "2024"},
                                   headers=bearer(puller, **{"If-None-Match": etag}))
        assert changed.status_code == 200
        assert changed.headers["ETag"] != etag
        row = figures(rows(changed.json())["2.2.01"])
        assert row.pop("approved_at") is not None
        assert row == figures(RATE_2024)


@POSTGRES_ONLY
async def test_another_process_write_reaches_the_cache_by_notification(app: Any, client: httpx.AsyncClient,
                                                                        reader: str, nyj: str,
                                                                        reviewer: str) -> None:
    async with watching(app) as cache:
        assert await rate_row(client, reader) == NOTHING
        before = cache.watch.current
        async with serving(app.state.settings) as (_, elsewhere):
            await approve_rate(elsewhere, nyj, reviewer)
        # The other process's commit notified this one's listener: the version moves, no request needed.
        await until(lambda: cache.watch.current not in (None, before))
        assert await rate_row(client, reader) == APPROVED


@POSTGRES_ONLY
async def test_a_change_by_hand_in_sql_is_noticed_too(app: Any, client: httpx.AsyncClient, reader: str) -> None:
    """The triggers notify whoever writes: here a quota change inserted with plain SQL."""
    async with watching(app) as cache:
        assert (await client.get("/v1/scores", params={"period": "2024"}, headers=bearer(reader))).status_code == 200
        before = cache.watch.current
        assert before is not None
        await sql_write(app, "INSERT INTO cell_quota_changes (year, type, quota, at) VALUES (2024, 'school', 7, now())")
        await until(lambda: cache.watch.current is not None and cache.watch.current[2] > before[2])
        with statements(app) as seen:
            assert (await client.get("/v1/scores", params={"period": "2024"},
                                     headers=bearer(reader))).status_code == 200
        assert seen != []  # the version moved: the kept answer is not used


@POSTGRES_ONLY
async def test_without_its_listener_the_cache_answers_nothing(app: Any, client: httpx.AsyncClient,
                                                              reader: str) -> None:
    async with watching(app) as cache:
        for _ in range(2):
            assert (await client.get("/v1/indicators/2.2.01", headers=bearer(reader))).status_code == 200
        assert cache.hits == 1
        listeners = ("SELECT pid FROM pg_stat_activity WHERE application_name = 'zwc-data-version' "
                     "AND datname = current_database()")
        (pid,) = [row[0] for row in await sql(app, listeners)]
        await sql(app, "SELECT pg_terminate_backend(:pid)", pid=pid)
        await until(lambda: cache.watch.current is None)
        with statements(app) as seen:
            assert (await client.get("/v1/indicators/2.2.01", headers=bearer(reader))).status_code == 200
        assert seen != []
        assert cache.hits == 1
        # The watch reconnects by itself and reads the version again; nothing changed, so what was kept
        # at it is good again.
        await until(lambda: cache.watch.current is not None)
        for _ in range(2):
            assert (await client.get("/v1/indicators/2.2.01", headers=bearer(reader))).status_code == 200
        assert cache.hits == 3


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_on_sqlite_there_is_no_cache_and_reads_are_exact(app: Any, client: httpx.AsyncClient,
                                                               reader: str, nyj: str, reviewer: str) -> None:
    assert app.state.read_cache is None
    assert await rate_row(client, reader) == NOTHING
    await approve_rate(client, nyj, reviewer)
    assert await rate_row(client, reader) == APPROVED


async def test_the_cache_can_be_switched_off(settings: Any) -> None:
    async with serving(settings, read_cache=False) as (application, _):
        assert application.state.read_cache is None


@POSTGRES_ONLY
async def test_the_listener_can_bypass_pgbouncer(settings: Any) -> None:
    """Behind PgBouncer in transaction pooling the listener connects to PostgreSQL itself."""
    direct = settings.database_url.replace("127.0.0.1", "localhost")
    async with serving(settings, database_listen_url=direct) as (application, _):
        assert application.state.read_cache.watch.conninfo == direct
    async with serving(settings) as (application, _):
        assert application.state.read_cache.watch.conninfo == settings.database_url


@POSTGRES_ONLY
async def test_an_answer_from_a_replica_behind_the_primary_is_never_kept(app: Any, settings: Any, reader: str,
                                                                        nyj: str, reviewer: str) -> None:
    """With ZWC_DATABASE_READ_URL the figures are read from the replica, which may lag: an answer computed
    at an older data version than the one the primary notified is passed on but not kept. The "replica"
    here is a copy of the database that never catches up (tests/scale/test_replica.py has a real one)."""
    from tests.conftest import postgres_url, scratch_postgres_database

    await app.state.database.engine.dispose()  # CREATE DATABASE … TEMPLATE needs the source unused
    source = settings.database_url.rsplit("/", 1)[1]
    with scratch_postgres_database(template=source) as replica:
        async with serving(settings, database_read_url=postgres_url(replica)) as (application, http), \
                watching(application) as cache:
            assert await rate_row(http, reader) == NOTHING
            assert await rate_row(http, reader) == NOTHING
            assert cache.hits == 1  # replica and primary agree: kept and replayed
            before = cache.watch.current
            await approve_rate(http, nyj, reviewer)  # on the primary
            await until(lambda: cache.watch.current is not None and cache.watch.current != before)
            for _ in range(2):
                with statements(application) as on_primary, statements(application, replica=True) as on_replica:
                    assert await rate_row(http, reader) == NOTHING  # the replica has not replayed it
                assert on_replica != []
                # On the primary, at most the watch re-reading the version after the approval.
                assert [sql for sql in on_primary if "max(outbox_events.id)" not in sql] == []
            assert cache.hits == 1
            assert not any(key[0] == "/v1/scores" and answer.version == cache.watch.current
                           for key, answer in cache.answers.items())
            approved = await http.get("/v1/submissions", headers=bearer(reviewer))
            assert approved.status_code == 200  # everything else reads the primary
            assert [item["status"] for item in approved.json()["items"]] == ["approved"]
