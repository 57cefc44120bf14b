"""The change feed (`GET /v1/changes`): outbox events in commit order, as subscribers may see them.

Every test database starts with an empty outbox (the seed emits nothing), so the feed from the
beginning is exactly what the test did. The story below, by hand (versions as SPEC §4.3 counts them,
one per creation, edit and transition):

   1 submission.submitted  S (2.3.01/2024, 35/50 → 70, version 2)
   2 submission.returned   S (version 3, reason 请附处理台账)
     — cgj edits S to 36/50 → 72 (version 4): an edit is no event
   3 indicator.revised     1.1.03 (version 2, previous 1)
   4 cell.applied          C (a school, version 1)
   5 submission.submitted  S (version 5)
   6 submission.approved   S (version 6, value 72)
     — approving S again is refused (409): no event
   7 cell.evaluated        C (80 points: passed)
   8 cell.certified        C
   9 submission.reopened   S (version 7, reason 统计口径调整)
  10 cell.revoked          C (reason 整改不到位)

Also a draft D (2.4.01/2024) that is never submitted: drafts are never in the feed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import time_machine

from app.core import registry
from app.events.service import emit
from tests.factories import assert_problem, bearer, make_token, sql
from tests.test_cells import PASSING, evaluate, school, today
from tests.test_cells import act as cell_act
from tests.test_submissions import act, acted, create

SPEC_EVENTS = ["submission.submitted", "submission.approved", "submission.returned", "submission.reopened",
               "indicator.revised", "cell.applied", "cell.evaluated", "cell.certified", "cell.revoked",
               "cell.expired", "cell.inspected"]
ITEM_FIELDS = {"cursor", "event", "entity", "id", "at", "data"}
SUBMISSION_FIELDS = {"id", "indicator", "period", "department", "status", "version", "approved_at", "at"}
FIGURE_FIELDS = {"value", "numerator", "denominator", "evidence"}
CONTACT = "张老师 13800000000"  # tests.test_cells.school()'s contact


@dataclass(frozen=True)
class Story:
    reader: str  # aggregates:read (Zhengzhou's platform)
    submission: dict[str, Any]  # S as created
    draft: dict[str, Any]  # D
    approved: dict[str, Any]  # S as approved
    revised: dict[str, Any]  # 1.1.03 version 2
    cell: dict[str, Any]  # C as applied for
    certified: dict[str, Any]  # C as certified

    @property
    def sid(self) -> str:
        return str(self.submission["id"])

    @property
    def cid(self) -> str:
        return str(self.cell["id"])

    def expected(self) -> list[tuple[str, str, str]]:
        """(event, entity, id) of the story's events, in order, by hand."""
        return [
            ("submission.submitted", "submission", self.sid),
            ("submission.returned", "submission", self.sid),
            ("indicator.revised", "indicator", "1.1.03"),
            ("cell.applied", "cell", self.cid),
            ("submission.submitted", "submission", self.sid),
            ("submission.approved", "submission", self.sid),
            ("cell.evaluated", "cell", self.cid),
            ("cell.certified", "cell", self.cid),
            ("submission.reopened", "submission", self.sid),
            ("cell.revoked", "cell", self.cid),
        ]


async def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def edit_submission(client: httpx.AsyncClient, token: str, submission_id: int, body: dict[str, Any]) -> None:
    current = await client.get(f"/v1/submissions/{submission_id}", headers=bearer(token))
    assert current.status_code == 200, current.text
    await ok(await client.patch(f"/v1/submissions/{submission_id}", json=body,
                                headers=bearer(token, **{"If-Match": current.headers["ETag"]})))


@pytest.fixture
async def story(app: Any, client: httpx.AsyncClient) -> Story:
    cgj = await make_token(app, "cgj", ["submissions:write"], name="cgj writer")
    reviewer = await make_token(app, "lead", ["submissions:review"], name="lead office reviewer")
    editor = await make_token(app, "lead", ["indicators:admin"], name="indicators admin")
    jyj = await make_token(app, "jyj", ["cells:write"], name="education bureau")
    cell_reviewer = await make_token(app, "sthj", ["cells:review"], name="sthj reviewer")
    reader = await make_token(app, "zzwf", ["aggregates:read"], name="zhengzhou platform")

    submission = await create(client, cgj, "2.3.01", "2024", numerator=35, denominator=50, note="初稿")
    draft = await create(client, cgj, "2.4.01", "2024", value=40, note="草稿")
    await acted(client, cgj, submission["id"], "submit")
    await acted(client, reviewer, submission["id"], "return", {"reason": "请附处理台账"})
    await edit_submission(client, cgj, submission["id"], {"numerator": 36, "denominator": 50})
    revised = await ok(await client.patch("/v1/indicators/1.1.03", json={"target": {"year": 2025, "value": 18}},
                                          headers=bearer(editor, **{"If-Match": '"indicator-1.1.03-v1"'})))
    cell = await ok(await client.post("/v1/cells", json=school(), headers=bearer(jyj)), 201)
    await acted(client, cgj, submission["id"], "submit", {"note": "按台账修正"})
    approved = await acted(client, reviewer, submission["id"], "approve", {"note": "同意"})
    assert_problem(await act(client, reviewer, submission["id"], "approve"), 409, "invalid_transition")
    await ok(await evaluate(client, cell_reviewer, cell["id"]), 201)
    certified = await ok(await cell_act(client, cell_reviewer, cell["id"], "certify"))
    await acted(client, reviewer, submission["id"], "reopen", {"reason": "统计口径调整"})
    await ok(await cell_act(client, cell_reviewer, cell["id"], "revoke", {"reason": "整改不到位"}))
    return Story(reader=reader, submission=submission, draft=draft, approved=approved, revised=revised, cell=cell,
                 certified=certified)


async def feed(client: httpx.AsyncClient, token: str, **params: Any) -> httpx.Response:
    return await client.get("/v1/changes", headers=bearer(token), params=params)


async def page(client: httpx.AsyncClient, token: str, **params: Any) -> dict[str, Any]:
    response = await feed(client, token, **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"items", "next_cursor"}
    return body


def triples(items: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(item["event"], item["entity"], item["id"]) for item in items]


def utc(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0)
    return parsed


async def outbox_ids(app: Any) -> list[str]:
    return [str(row[0]) for row in await sql(app, "SELECT id FROM outbox_events ORDER BY id")]


# ------------------------------------------------------------------------------------ what it shows


async def test_the_feed_shows_every_event_in_commit_order(app: Any, client: httpx.AsyncClient, story: Story) -> None:
    response = await feed(client, story.reader)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "private, no-cache"
    body = response.json()
    assert body["next_cursor"] is None
    items = body["items"]
    assert all(set(item) == ITEM_FIELDS for item in items)
    assert triples(items) == story.expected()
    # The cursor is the outbox id as a decimal string, strictly increasing.
    assert [item["cursor"] for item in items] == await outbox_ids(app)
    assert [int(item["cursor"]) for item in items] == sorted({int(item["cursor"]) for item in items})
    ats = [utc(item["at"]) for item in items]
    assert ats == sorted(ats)
    assert story.draft["id"] not in [item["data"].get("id") for item in items if item["entity"] == "submission"]


async def test_a_reopened_approval_follows_the_approval(client: httpx.AsyncClient, story: Story) -> None:
    items = (await page(client, story.reader))["items"]
    mine = [item for item in items if item["entity"] == "submission" and item["id"] == story.sid]
    assert [item["event"] for item in mine] == ["submission.submitted", "submission.returned",
                                                "submission.submitted", "submission.approved",
                                                "submission.reopened"]
    reopened = mine[-1]["data"]
    assert set(reopened) == SUBMISSION_FIELDS | {"reason"}
    assert (reopened["status"], reopened["version"], reopened["approved_at"], reopened["reason"]) == (
        "returned", 7, None, "统计口径调整")
    assert int(mine[-1]["cursor"]) > int(mine[-2]["cursor"])


async def test_only_approved_figures_are_shown(client: httpx.AsyncClient, story: Story) -> None:
    response = await feed(client, story.reader)
    items = response.json()["items"]
    by_event = {(item["event"], item["data"]["version"]): item["data"] for item in items
                if item["entity"] == "submission"}
    common = {"id": story.submission["id"], "indicator": "2.3.01", "period": "2024", "department": "cgj"}
    first, second = by_event[("submission.submitted", 2)], by_event[("submission.submitted", 5)]
    for submitted in (first, second):
        assert set(submitted) == SUBMISSION_FIELDS
        assert {k: submitted[k] for k in ("id", "indicator", "period", "department", "status", "approved_at")} == {
            **common, "status": "submitted", "approved_at": None}
    returned = by_event[("submission.returned", 3)]
    assert set(returned) == SUBMISSION_FIELDS | {"reason"}
    assert (returned["status"], returned["reason"], returned["approved_at"]) == ("returned", "请附处理台账", None)
    approved = by_event[("submission.approved", 6)]
    assert set(approved) == SUBMISSION_FIELDS | FIGURE_FIELDS
    assert {k: approved[k] for k in ("id", "indicator", "period", "department", "status", "value", "numerator",
                                     "denominator", "evidence")} == {
        **common, "status": "approved", "value": 72, "numerator": 36, "denominator": 50, "evidence": []}
    assert utc(approved["approved_at"]) == utc(story.approved["approved_at"])
    # Neither the drafts' nor the submitted figures, nor any note, appear anywhere in the answer.
    for secret in ("初稿", "草稿", "按台账修正", "同意", '"value":70', '"value":40', '"numerator":35'):
        assert secret not in response.text.replace(" ", "")


async def test_cells_and_indicators_are_shown_without_the_contact(client: httpx.AsyncClient, story: Story) -> None:
    response = await feed(client, story.reader)
    assert CONTACT not in response.text
    items = response.json()["items"]
    cell_data = {item["event"]: item["data"] for item in items if item["entity"] == "cell"}
    applied = cell_data["cell.applied"]
    assert {key: value for key, value in applied.items() if key != "at"} == {
        "id": story.cell["id"], "type": "school", "name": "新密市第一高级中学", "town": "qingpingjie",
        "address": "青屏大街 1 号", "latitude": 34.54, "longitude": 113.39, "evidence": [], "department": "jyj",
        "status": "applied", "certificate_no": None, "certified_at": None, "valid_until": None, "version": 1}
    evaluation = cell_data["cell.evaluated"]["evaluation"]
    assert (evaluation["date"], evaluation["evaluator"], evaluation["total"], evaluation["passed"]) == (
        today().isoformat(), "王评审", 80, True)
    assert evaluation["items"] == PASSING
    certified = cell_data["cell.certified"]
    assert (certified["status"], certified["certificate_no"], certified["valid_until"]) == (
        "certified", story.certified["certificate_no"], story.certified["valid_until"])
    assert certified["certificate_no"] == f"XM-WF-{today().year}-SCH-0001"
    revoked = cell_data["cell.revoked"]
    assert (revoked["status"], revoked["reason"], revoked["certificate_no"]) == (
        "revoked", "整改不到位", certified["certificate_no"])
    [indicator] = [item["data"] for item in items if item["entity"] == "indicator"]
    assert {key: value for key, value in indicator.items() if key != "valid_from"} == {
        "code": "1.1.03", "version": 2, "previous_version": 1}
    assert utc(indicator["valid_from"]) == utc(story.revised["valid_from"])


# ------------------------------------------------------------------------------------------- paging


PAGE_SIZES: list[tuple[int, list[int]]] = [(1, [1] * 10), (3, [3, 3, 3, 1]), (5, [5, 5]), (10, [10]), (11, [10]),
                                          (500, [10])]


async def test_paging_walks_everything_exactly_once(client: httpx.AsyncClient, story: Story,
                                                    subtests: pytest.Subtests) -> None:
    """Every page size over one story (reads only)."""
    for limit, sizes in PAGE_SIZES:
        with subtests.test(msg=f"limit-{limit}", sizes=sizes):
            seen: list[dict[str, Any]] = []
            pages: list[int] = []
            params: dict[str, Any] = {"limit": limit}
            for _ in range(20):
                body = await page(client, story.reader, **params)
                seen.extend(body["items"])
                pages.append(len(body["items"]))
                if body["next_cursor"] is None:
                    break
                assert body["next_cursor"] == body["items"][-1]["cursor"]
                params["after"] = body["next_cursor"]
            assert pages == sizes
            assert seen == (await page(client, story.reader, limit=500))["items"]
            assert triples(seen) == story.expected()


async def test_the_default_page_is_50(app: Any, client: httpx.AsyncClient) -> None:
    reader = await make_token(app, "zzwf", ["aggregates:read"])
    maker = app.state.database.sessionmaker
    async with maker() as session, session.begin():
        for number in range(51):
            await emit(session, "cell.applied", entity="cell", entity_id="1", data={"n": number})
    first = await page(client, reader)
    assert [item["data"] for item in first["items"]] == [{"n": number} for number in range(50)]
    assert first["next_cursor"] == first["items"][-1]["cursor"]
    second = await page(client, reader, after=first["next_cursor"])
    assert ([item["data"] for item in second["items"]], second["next_cursor"]) == ([{"n": 50}], None)


async def test_pulling_twice_from_a_cursor_gives_the_same_items(client: httpx.AsyncClient, story: Story) -> None:
    everything = (await page(client, story.reader))["items"]
    for after in (None, everything[0]["cursor"], everything[4]["cursor"], everything[8]["cursor"]):
        params = {"limit": 3} if after is None else {"limit": 3, "after": after}
        first = await page(client, story.reader, **params)
        second = await page(client, story.reader, **params)
        assert first == second
        start = 0 if after is None else [item["cursor"] for item in everything].index(after) + 1
        assert first["items"] == everything[start:start + 3]


async def test_after_starts_after_that_event(client: httpx.AsyncClient, story: Story) -> None:
    everything = (await page(client, story.reader))["items"]
    body = await page(client, story.reader, after=everything[5]["cursor"])
    assert triples(body["items"]) == story.expected()[6:]
    assert body["next_cursor"] is None
    assert (await page(client, story.reader, after="0"))["items"] == everything
    assert (await page(client, story.reader, after="00" + everything[5]["cursor"]))["items"] == everything[6:]


BEYOND_THE_END = ["last", "last+1", "9223372036854775807", "9223372036854775808", "9" * 40]


async def test_after_beyond_the_end_is_an_empty_page(client: httpx.AsyncClient, story: Story,
                                                     subtests: pytest.Subtests) -> None:
    for beyond in BEYOND_THE_END:
        with subtests.test(msg=beyond):
            last = (await page(client, story.reader))["items"][-1]["cursor"]
            after = {"last": last, "last+1": str(int(last) + 1)}.get(beyond, beyond)
            assert await page(client, story.reader, after=after) == {"items": [], "next_cursor": None}


async def test_an_empty_outbox_is_an_empty_page(app: Any, client: httpx.AsyncClient) -> None:
    reader = await make_token(app, "zzwf", ["aggregates:read"])
    assert await page(client, reader) == {"items": [], "next_cursor": None}


async def test_cursor_is_another_name_for_after(client: httpx.AsyncClient, story: Story) -> None:
    everything = (await page(client, story.reader))["items"]
    after = everything[2]["cursor"]
    by_after = await page(client, story.reader, after=after, limit=4)
    assert await page(client, story.reader, cursor=after, limit=4) == by_after
    assert await page(client, story.reader, cursor=after, after=after, limit=4) == by_after
    assert by_after["items"] == everything[3:7]
    response = await feed(client, story.reader, cursor=after, after=everything[3]["cursor"])
    assert_problem(response, 400, "invalid_cursor")


INVALID_CURSORS = ["-1", "abc", "1.5", "1e3", "", " 1", "1 ", "+1", "0x10", "١٢", "１２",
                   "eyJrIjoiYXVkaXRfZXZlbnRzIiwidiI6WzFdfQ"]


async def test_an_invalid_cursor_is_400(app: Any, client: httpx.AsyncClient, subtests: pytest.Subtests) -> None:
    reader = await make_token(app, "zzwf", ["aggregates:read"])
    for after in INVALID_CURSORS:
        with subtests.test(msg=repr(after)):
            body = assert_problem(await feed(client, reader, after=after), 400, "invalid_cursor")
            assert body["detail"] == "The cursor is not valid for this list."
            assert_problem(await feed(client, reader, cursor=after), 400, "invalid_cursor")


async def test_an_invalid_cursor_in_chinese(app: Any, client: httpx.AsyncClient) -> None:
    reader = await make_token(app, "zzwf", ["aggregates:read"])
    response = await client.get("/v1/changes", params={"after": "x"},
                                headers=bearer(reader, **{"Accept-Language": "zh-CN"}))
    body = assert_problem(response, 400, "invalid_cursor")
    assert (body["title"], body["detail"]) == ("请求错误", "分页游标无效。")


async def test_a_limit_outside_1_to_500_is_422(app: Any, client: httpx.AsyncClient,
                                               subtests: pytest.Subtests) -> None:
    reader = await make_token(app, "zzwf", ["aggregates:read"])
    for limit in ["0", "-1", "501", "abc", "1.5"]:
        with subtests.test(msg=limit):
            body = assert_problem(await feed(client, reader, limit=limit), 422, "validation_failed")
            assert [error["loc"] for error in body["errors"]] == [["query", "limit"]]


# ------------------------------------------------------------------------------------ who may read


async def test_without_a_token_is_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/changes"), 401, "token_missing")
    assert_problem(await client.get("/v1/changes", headers={"Authorization": "Bearer nonsense"}), 401,
                   "token_malformed")
    assert_problem(await client.get("/v1/changes", headers=bearer("zwc_" + "A" * 43)), 401, "token_unknown")


async def test_a_revoked_or_expired_token_is_401(app: Any, client: httpx.AsyncClient) -> None:
    past = datetime.now().astimezone() - timedelta(days=1)
    revoked = await make_token(app, "zzwf", ["aggregates:read"], revoked_at=past)
    expired = await make_token(app, "zzwf", ["aggregates:read"], expires_at=past)
    assert_problem(await feed(client, revoked), 401, "token_revoked")
    assert_problem(await feed(client, expired), 401, "token_expired")


@pytest.mark.parametrize(
    ("department", "scopes"),
    [
        ("cgj", ["submissions:write"]),
        ("lead", ["submissions:review", "indicators:admin", "cells:review", "cells:write"]),
        ("zzwf", []),
        ("lead", ["admin"]),  # the feed is the municipal pull's, like the aggregates (SPEC §4)
    ],
)
async def test_a_token_without_the_scope_is_403(app: Any, client: httpx.AsyncClient, department: str,
                                                scopes: list[str]) -> None:
    token = await make_token(app, department, scopes)
    body = assert_problem(await feed(client, token), 403, "scope_required")
    assert body["detail"] == "This needs one of the scopes: aggregates:read."


@pytest.mark.parametrize(("department", "scopes"), [("zzwf", ["aggregates:read"]),
                                                    ("lead", ["aggregates:read", "admin"])])
async def test_aggregates_read_may_read(app: Any, client: httpx.AsyncClient, story: Story,
                                        department: str, scopes: list[str]) -> None:
    token = await make_token(app, department, scopes)
    response = await feed(client, token)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert triples(response.json()["items"]) == story.expected()


async def test_reading_writes_nothing(app: Any, client: httpx.AsyncClient, story: Story) -> None:
    # Request counters are not data: every authenticated request counts one (see test_rate_limits).
    tables = sorted(set(registry.metadata.tables) - {"rate_limit_counters"})
    assert "outbox_events" in tables

    async def counts() -> dict[str, int]:
        return {table: (await sql(app, f"SELECT COUNT(*) FROM {table}"))[0][0] for table in tables}

    async def rows(table: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await sql(app, f"SELECT * FROM {table} ORDER BY id")]

    before = await counts()
    assert before["outbox_events"] == 10
    outbox, audit = await rows("outbox_events"), await rows("audit_events")
    first = await page(client, story.reader, limit=4)
    await page(client, story.reader, after=first["next_cursor"])
    await page(client, story.reader, after="999999")
    assert (await feed(client, story.reader, after="x")).status_code == 400
    assert (await feed(client, story.reader, limit=0)).status_code == 422
    assert (await client.get("/v1/changes")).status_code == 401
    assert await counts() == before
    assert await rows("outbox_events") == outbox
    assert await rows("audit_events") == audit


# ------------------------------------------------------------------------------------------ OpenAPI


def test_the_operation_is_documented(app: Any) -> None:
    operation = app.openapi()["paths"]["/v1/changes"]["get"]
    assert operation["operationId"] == "listChanges"
    assert operation["summary"]
    assert "submission.reopened" in operation["description"]
    assert "drop the figure" in operation["description"]
    assert {p["name"]: p["in"] for p in operation["parameters"]} == {"after": "query", "limit": "query",
                                                                     "cursor": "query"}
    limit = next(p for p in operation["parameters"] if p["name"] == "limit")["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 500, 50)
    ok_answer = operation["responses"]["200"]
    assert ok_answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ChangePage"}
    assert "Cache-Control" in ok_answer["headers"]
    assert {"400", "401", "403", "422"} <= set(operation["responses"])
    schemas = app.openapi()["components"]["schemas"]
    assert set(schemas["ChangeOut"]["required"]) == ITEM_FIELDS
    assert schemas["ChangeOut"]["properties"]["event"]["enum"] == SPEC_EVENTS
    assert set(schemas["ChangePage"]["required"]) == {"items", "next_cursor"}


# ------------------------------------------------------------------------------------ commit order


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_ids_become_visible_in_commit_order(app: Any, client: httpx.AsyncClient, backend: str) -> None:
    """Decision 0012: a transaction that emits holds the outbox lock until it commits, so one that emits
    later draws a higher id and becomes visible only after it; a reader never sees B's event without A's."""
    assert backend == "postgresql"
    reader = await make_token(app, "zzwf", ["aggregates:read"])
    maker = app.state.database.sessionmaker
    b_emitted = asyncio.Event()
    b_may_commit = asyncio.Event()

    async def transaction_b() -> None:
        async with maker() as session_b:
            await emit(session_b, "indicator.revised", entity="indicator", entity_id="2.4.01",
                       data={"code": "2.4.01", "version": 2, "previous_version": 1})
            await session_b.flush()
            b_emitted.set()
            await b_may_commit.wait()
            await session_b.commit()

    async def seen() -> list[str]:
        return [item["id"] for item in (await page(client, reader))["items"]]

    task_b: asyncio.Task[None] | None = None
    try:
        async with maker() as session_a:
            await emit(session_a, "indicator.revised", entity="indicator", entity_id="2.3.01",
                       data={"code": "2.3.01", "version": 2, "previous_version": 1})
            await session_a.flush()  # A has drawn its id
            task_b = asyncio.create_task(transaction_b())
            await asyncio.sleep(0.3)
            assert not b_emitted.is_set()  # B waits for the outbox lock
            assert not task_b.done()
            assert await seen() == []
            await session_a.commit()
        await asyncio.wait_for(b_emitted.wait(), timeout=5)
        # Between the two commits: A's event alone.
        for _ in range(3):
            assert await seen() == ["2.3.01"]
        b_may_commit.set()
        await asyncio.wait_for(task_b, timeout=5)
    finally:
        b_may_commit.set()
        if task_b is not None and not task_b.done():
            task_b.cancel()
    items = (await page(client, reader))["items"]
    assert [item["id"] for item in items] == ["2.3.01", "2.4.01"]
    assert int(items[1]["cursor"]) > int(items[0]["cursor"])
    assert [item["cursor"] for item in items] == await outbox_ids(app)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_later_transaction_is_never_visible_before_an_earlier_one(app: Any, client: httpx.AsyncClient,
                                                                          backend: str) -> None:
    """What a puller observes: A drew its id first; B, which commits as soon as it can, is not in the feed
    until A is, and comes after it."""
    assert backend == "postgresql"
    reader = await make_token(app, "zzwf", ["aggregates:read"])
    maker = app.state.database.sessionmaker

    async def transaction_b() -> None:
        async with maker() as session_b, session_b.begin():
            await emit(session_b, "cell.applied", entity="cell", entity_id="2", data={"by": "B"})

    task_b: asyncio.Task[None] | None = None
    try:
        async with maker() as session_a:
            await emit(session_a, "cell.applied", entity="cell", entity_id="1", data={"by": "A"})
            await session_a.flush()
            task_b = asyncio.create_task(transaction_b())
            await asyncio.sleep(0.3)
            assert (await page(client, reader))["items"] == []
            await session_a.commit()
        await asyncio.wait_for(task_b, timeout=5)
    finally:
        if task_b is not None and not task_b.done():
            task_b.cancel()
    items = (await page(client, reader))["items"]
    assert [(item["id"], item["data"]) for item in items] == [("1", {"by": "A"}), ("2", {"by": "B"})]
    assert int(items[1]["cursor"]) > int(items[0]["cursor"])


async def test_an_inspection_is_announced_without_its_findings(app: Any, client: httpx.AsyncClient) -> None:
    reader = await make_token(app, "zzwf", ["aggregates:read"])
    async with app.state.database.sessionmaker() as session, session.begin():
        await emit(session, "cell.inspected", entity="cell", entity_id="7", data={
            "id": 3, "cell_id": 7, "inspected_at": "2026-11-20T02:00:00Z", "inspector": "王敏",
            "findings": "分类桶满溢", "score": 88.5, "latitude": 34.5, "longitude": 113.4, "photos": ["ab" * 16],
            "department": "jyj", "at": "2026-11-20T02:05:00Z"})
    item = (await page(client, reader))["items"][0]
    assert (item["event"], item["entity"], item["id"]) == ("cell.inspected", "cell", "7")
    assert item["data"] == {"id": 3, "cell_id": 7, "inspected_at": "2026-11-20T02:00:00Z", "score": 88.5,
                            "at": "2026-11-20T02:05:00Z"}


# ------------------------------------------------------------------------------------ time stamps


async def test_time_stamps_are_written_in_utc_with_z_like_every_other_answer(app: Any,
                                                                               client: httpx.AsyncClient) -> None:
    """The feed writes its instants as the rest of the API does (`…Z`): each item's `at`, and in `data` the
    event's `at`, `approved_at`, `certified_at`, a revision's `valid_from` and an inspection's `inspected_at`.
    The clock is frozen at instants with microseconds, so every string is known exactly."""
    with time_machine.travel(datetime(2026, 11, 20, 2, 35, 0, 250000, tzinfo=UTC), tick=False) as clock:
        cgj = await make_token(app, "cgj", ["submissions:write"])
        reviewer = await make_token(app, "lead", ["submissions:review"])
        editor = await make_token(app, "lead", ["indicators:admin"])
        jyj = await make_token(app, "jyj", ["cells:write"])
        cell_reviewer = await make_token(app, "sthj", ["cells:review"])
        reader = await make_token(app, "zzwf", ["aggregates:read"])
        submission = await create(client, cgj, "2.3.01", "2025", value=42.5)
        await acted(client, cgj, submission["id"], "submit")  # 02:35:00.25
        clock.move_to(datetime(2026, 11, 20, 2, 37, 0, 500000, tzinfo=UTC))
        approved = await acted(client, reviewer, submission["id"], "approve")  # 02:37:00.5
        clock.move_to(datetime(2026, 11, 20, 2, 39, 0, tzinfo=UTC))
        await ok(await client.patch("/v1/indicators/1.1.03", json={"target": {"year": 2025, "value": 18},
                                                                   "valid_from": "2026-12-01T00:00:00+08:00"},
                                    headers=bearer(editor, **{"If-Match": '"indicator-1.1.03-v1"'})))
        cell = await ok(await client.post("/v1/cells", json=school(), headers=bearer(jyj)), 201)
        await ok(await evaluate(client, cell_reviewer, cell["id"]), 201)
        clock.move_to(datetime(2026, 11, 20, 2, 40, 0, 1, tzinfo=UTC))
        certified = await ok(await cell_act(client, cell_reviewer, cell["id"], "certify"))  # 02:40:00.000001
        clock.move_to(datetime(2026, 11, 20, 2, 41, 0, 750000, tzinfo=UTC))
        await ok(await client.post(f"/v1/cells/{cell['id']}/inspections", headers=bearer(jyj), json={
            "inspected_at": "2026-11-20T10:30:00.125+08:00", "inspector": "赵巡查", "findings": "分类桶满溢"}), 201)
    items = (await page(client, reader))["items"]
    assert [(item["event"], item["at"], {k: v for k, v in item["data"].items()
                                         if k in ("at", "approved_at", "certified_at", "valid_from", "inspected_at")})
            for item in items] == [
        ("submission.submitted", "2026-11-20T02:35:00.250000Z", {"at": "2026-11-20T02:35:00.250000Z",
                                                                 "approved_at": None}),
        ("submission.approved", "2026-11-20T02:37:00.500000Z", {"at": "2026-11-20T02:37:00.500000Z",
                                                                "approved_at": "2026-11-20T02:37:00.500000Z"}),
        ("indicator.revised", "2026-11-20T02:39:00Z", {"valid_from": "2026-11-30T16:00:00Z"}),
        ("cell.applied", "2026-11-20T02:39:00Z", {"at": "2026-11-20T02:39:00Z", "certified_at": None}),
        ("cell.evaluated", "2026-11-20T02:39:00Z", {"at": "2026-11-20T02:39:00Z", "certified_at": None}),
        ("cell.certified", "2026-11-20T02:40:00.000001Z", {"at": "2026-11-20T02:40:00.000001Z",
                                                           "certified_at": "2026-11-20T02:40:00.000001Z"}),
        ("cell.inspected", "2026-11-20T02:41:00.750000Z", {"at": "2026-11-20T02:41:00.750000Z",
                                                           "inspected_at": "2026-11-20T02:30:00.125000Z"}),
    ]
    # The same strings as the resources' own answers.
    assert (approved["approved_at"], certified["certified_at"]) == (items[1]["data"]["approved_at"],
                                                                    items[5]["data"]["certified_at"])
