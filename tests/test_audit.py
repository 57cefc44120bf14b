"""The audit trail: who wrote what and when, readable by `admin` only, and append-only in the database."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.factories import assert_problem, bearer, make_token, sql, sql_write

EVENT_FIELDS = {"id", "at", "department", "token_id", "request_id", "action", "entity", "entity_id", "before",
                "after"}
NEW_DEPARTMENT = {"code": "hbj", "name_zh": "新密市环境保护局", "name_en": "Environmental Protection Bureau",
                  "kind": "department"}
SEED_COUNTS = {"department.created": 20, "indicator.created": 48}




@dataclass(frozen=True)
class Writes:
    """The writes one test made through the API, and what identifies them."""

    admin: str
    admin_id: int
    department_request_id: str
    minted_id: int
    minted_secret: str
    mint_request_id: str
    revoke_request_id: str


@pytest.fixture
async def admin(app: Any) -> str:
    return await make_token(app, "lead", ["admin"], name="admin")


async def token_id_named(app: Any, name: str) -> int:
    return int((await sql(app, "SELECT id FROM api_tokens WHERE name = :name", name=name))[0][0])


@pytest.fixture
async def writes(app: Any, client: httpx.AsyncClient, admin: str) -> Writes:
    created = await client.post("/v1/departments", json=NEW_DEPARTMENT,
                                headers=bearer(admin, **{"X-Request-ID": "audit-create-hbj"}))
    assert created.status_code == 201
    minted = await client.post("/v1/departments/hbj/tokens", headers=bearer(admin),
                               json={"name": "hbj reporting", "scopes": ["submissions:write"]})
    assert minted.status_code == 201
    revoked = await client.delete(f"/v1/tokens/{minted.json()['id']}", headers=bearer(admin))
    assert revoked.status_code == 204
    return Writes(
        admin=admin,
        admin_id=await token_id_named(app, "admin"),
        department_request_id=created.headers["x-request-id"],
        minted_id=minted.json()["id"],
        minted_secret=minted.json()["token"],
        mint_request_id=minted.headers["x-request-id"],
        revoke_request_id=revoked.headers["x-request-id"],
    )


async def all_events(client: httpx.AsyncClient, token: str, **filters: Any) -> list[dict[str, Any]]:
    """Every event matching ``filters``, following the cursor to the end."""
    events: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):
        params = {**filters, "limit": 500}
        if cursor is not None:
            params["cursor"] = cursor
        response = await client.get("/v1/audit-events", headers=bearer(token), params=params)
        assert response.status_code == 200
        body = response.json()
        events.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return events
    raise AssertionError("the cursor never ended")


def utc(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0)
    return parsed


# --- Who may read ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("department", "scopes"),
    [
        ("sthj", ["submissions:write"]),
        ("lead", ["indicators:admin", "submissions:review", "cells:review", "cells:write"]),
        ("zzwf", ["aggregates:read"]),
    ],
)
async def test_non_admin_is_403(app: Any, client: httpx.AsyncClient, department: str, scopes: list[str]) -> None:
    token = await make_token(app, department, scopes)
    body = assert_problem(await client.get("/v1/audit-events", headers=bearer(token)), 403, "scope_required")
    assert "admin" in body["detail"]


async def test_without_token_is_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/audit-events"), 401, "token_missing")


async def test_admin_reads_the_list(client: httpx.AsyncClient, admin: str) -> None:
    response = await client.get("/v1/audit-events", headers=bearer(admin))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    assert len(body["items"]) == 50
    assert isinstance(body["next_cursor"], str)
    assert all(set(item) == EVENT_FIELDS for item in body["items"])


# --- What is recorded -----------------------------------------------------------------------------


async def test_api_writes_are_recorded_with_who_and_what(client: httpx.AsyncClient, writes: Writes) -> None:
    events = await all_events(client, writes.admin, department="lead")
    assert [(e["action"], e["entity"], e["entity_id"]) for e in events] == [
        ("department.created", "department", "hbj"),
        ("token.created", "token", str(writes.minted_id)),
        ("token.revoked", "token", str(writes.minted_id)),
    ]
    assert all(e["department"] == "lead" and e["token_id"] == writes.admin_id for e in events)
    assert [e["request_id"] for e in events] == [
        writes.department_request_id, writes.mint_request_id, writes.revoke_request_id]
    ats = [utc(e["at"]) for e in events]
    assert ats == sorted(ats)
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)


async def test_client_request_id_is_recorded(client: httpx.AsyncClient, writes: Writes) -> None:
    assert writes.department_request_id == "audit-create-hbj"
    events = await all_events(client, writes.admin, entity="department", entity_id="hbj")
    assert [e["request_id"] for e in events] == ["audit-create-hbj"]


async def test_generated_request_id_is_recorded(client: httpx.AsyncClient, writes: Writes) -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", writes.mint_request_id)
    events = await all_events(client, writes.admin, action="token.created", department="lead")
    assert [e["request_id"] for e in events] == [writes.mint_request_id]


async def test_created_event_has_after_only(client: httpx.AsyncClient, writes: Writes) -> None:
    department = (await client.get("/v1/departments/hbj", headers=bearer(writes.admin))).json()
    [event] = await all_events(client, writes.admin, action="department.created", entity_id="hbj")
    assert event["before"] is None
    assert event["after"] == department


async def test_revoked_event_has_before_and_after(client: httpx.AsyncClient, writes: Writes) -> None:
    [event] = await all_events(client, writes.admin, action="token.revoked")
    before, after = event["before"], event["after"]
    assert before["id"] == after["id"] == writes.minted_id
    assert before["revoked_at"] is None
    assert utc(after["revoked_at"]) <= utc(event["at"])
    assert {key: value for key, value in before.items() if key not in ("revoked_at", "last_used_at")} == {
        key: value for key, value in after.items() if key not in ("revoked_at", "last_used_at")}


async def test_token_secret_never_in_audit(client: httpx.AsyncClient, writes: Writes) -> None:
    events = await all_events(client, writes.admin)
    assert writes.minted_secret not in str(events)
    assert writes.admin not in str(events)


async def test_seed_events_are_there(app: Any, client: httpx.AsyncClient, admin: str) -> None:
    events = await all_events(client, admin)
    seeded = [e for e in events if e["token_id"] is None and e["action"] != "token.created"]
    counts: dict[str, int] = {}
    for event in seeded:
        counts[event["action"]] = counts.get(event["action"], 0) + 1
    assert {action: counts.get(action) for action in SEED_COUNTS} == SEED_COUNTS
    assert all(e["department"] is None and e["request_id"] is None for e in seeded)


async def test_seed_event_for_one_department(client: httpx.AsyncClient, admin: str) -> None:
    [event] = await all_events(client, admin, entity="department", entity_id="zzwf")
    assert event["action"] == "department.created"
    assert (event["department"], event["token_id"], event["request_id"]) == (None, None, None)
    assert event["before"] is None
    assert event["after"] == {"code": "zzwf", "kind": "external", "name_zh": "郑州市“无废城市”建设工作领导小组办公室",
                              "name_en": "Zhengzhou Zero-Waste City Office (municipal platform)"}


async def test_token_minted_outside_the_api_is_a_system_event(app: Any, client: httpx.AsyncClient,
                                                              admin: str) -> None:
    admin_id = await token_id_named(app, "admin")
    [event] = await all_events(client, admin, entity="token", entity_id=str(admin_id))
    assert event["action"] == "token.created"
    assert (event["department"], event["token_id"]) == (None, None)
    assert event["after"]["department"] == "lead"


async def test_refused_write_records_nothing(app: Any, client: httpx.AsyncClient, admin: str) -> None:
    before = await sql(app, "SELECT count(*) FROM audit_events")
    response = await client.post("/v1/departments", headers=bearer(admin), json={**NEW_DEPARTMENT, "code": "sthj"})
    assert_problem(response, 409, "department_exists")
    assert await sql(app, "SELECT count(*) FROM audit_events") == before


async def test_reads_record_nothing(app: Any, client: httpx.AsyncClient, admin: str) -> None:
    before = await sql(app, "SELECT count(*) FROM audit_events")
    for path in ("/v1/me", "/v1/departments", "/v1/departments/sthj", "/v1/audit-events", "/v1/tokens"):
        assert (await client.get(path, headers=bearer(admin))).status_code == 200
    assert await sql(app, "SELECT count(*) FROM audit_events") == before


# --- Filters and pages ----------------------------------------------------------------------------


FILTERS: list[tuple[dict[str, str], str, int]] = [
    ({"entity": "department"}, "entity = 'department'", 21),
    ({"entity": "token"}, "entity = 'token'", 3),
    ({"entity_id": "sthj"}, "entity_id = 'sthj'", 1),
    ({"entity": "department", "entity_id": "hbj"}, "entity = 'department' AND entity_id = 'hbj'", 1),
    ({"department": "lead"}, "department = 'lead'", 3),
    ({"department": "sthj"}, "department = 'sthj'", 0),
    ({"action": "department.created"}, "action = 'department.created'", 21),
    ({"action": "indicator.created"}, "action = 'indicator.created'", 48),
    ({"action": "token.revoked", "department": "lead"}, "action = 'token.revoked' AND department = 'lead'", 1),
    ({"action": "nothing.happened"}, "action = 'nothing.happened'", 0),
]


async def test_filters(app: Any, client: httpx.AsyncClient, writes: Writes, subtests: pytest.Subtests) -> None:
    """Every filter on one database (reads only, so the cases share the writes)."""
    for filters, where, expected_count in FILTERS:
        with subtests.test(msg=where, filters=filters):
            events = await all_events(client, writes.admin, **filters)
            expected = [row[0] for row in await sql(app, f"SELECT id FROM audit_events WHERE {where} ORDER BY id")]
            assert [e["id"] for e in events] == expected
            assert len(events) == expected_count
            for key, value in filters.items():
                assert all(e[key] == value for e in events)


async def test_cursor_walks_every_event_once_in_order(app: Any, client: httpx.AsyncClient, writes: Writes) -> None:
    expected = [row[0] for row in await sql(app, "SELECT id FROM audit_events ORDER BY id")]
    seen: list[int] = []
    sizes: list[int] = []
    cursor: str | None = None
    for _ in range(20):
        params: dict[str, Any] = {"limit": 40}
        if cursor is not None:
            params["cursor"] = cursor
        body = (await client.get("/v1/audit-events", headers=bearer(writes.admin), params=params)).json()
        seen.extend(item["id"] for item in body["items"])
        sizes.append(len(body["items"]))
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    full, rest = divmod(len(expected), 40)
    assert sizes == [40] * full + ([rest] if rest else [])


async def test_cursor_with_a_filter(client: httpx.AsyncClient, writes: Writes) -> None:
    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"action": "department.created", "limit": 8}
        if cursor is not None:
            params["cursor"] = cursor
        body = (await client.get("/v1/audit-events", headers=bearer(writes.admin), params=params)).json()
        pages.append([item["entity_id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [len(page) for page in pages] == [8, 8, 5]
    assert pages[-1][-1] == "hbj"
    assert len({entity_id for page in pages for entity_id in page}) == 21


async def test_cursor_from_another_list_is_400(client: httpx.AsyncClient, admin: str) -> None:
    cursor = (await client.get("/v1/departments", headers=bearer(admin), params={"limit": 2})).json()["next_cursor"]
    response = await client.get("/v1/audit-events", headers=bearer(admin), params={"cursor": cursor})
    assert_problem(response, 400, "invalid_cursor")


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "501"}, {"entity": "x" * 33}])
async def test_bad_query_is_422(client: httpx.AsyncClient, admin: str, params: dict[str, str]) -> None:
    response = await client.get("/v1/audit-events", headers=bearer(admin), params=params)
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"][0]["loc"] == ["query", next(iter(params))]


# --- Append-only ----------------------------------------------------------------------------------


TAMPERING: list[tuple[str, str]] = [
    ("audit_events", "UPDATE audit_events SET action = 'tampered' WHERE id = 1"),
    ("audit_events", "UPDATE audit_events SET after = NULL"),
    ("audit_events", "DELETE FROM audit_events WHERE id = 1"),
    ("audit_events", "DELETE FROM audit_events"),
    ("indicator_versions", "UPDATE indicator_versions SET weight = 2 WHERE id = 1"),
    ("indicator_versions", "UPDATE indicator_versions SET min_value = NULL, max_value = NULL"),
    ("indicator_versions", "DELETE FROM indicator_versions WHERE id = 1"),
    ("indicator_versions", "DELETE FROM indicator_versions"),
]


async def test_append_only_tables_refuse_changes(app: Any, subtests: pytest.Subtests) -> None:
    """Every statement on one database: each is refused and the table reads as it did before it."""
    for table, statement in TAMPERING:
        with subtests.test(msg=f"{table}-{statement}"):
            before = [tuple(row) for row in await sql(app, f"SELECT * FROM {table} ORDER BY id")]
            assert before
            with pytest.raises(Exception, match="append-only"):
                await sql_write(app, statement)
            assert [tuple(row) for row in await sql(app, f"SELECT * FROM {table} ORDER BY id")] == before


async def test_api_written_event_cannot_be_altered(app: Any, writes: Writes) -> None:
    rows = await sql(app, "SELECT id FROM audit_events WHERE request_id = :rid", rid=writes.department_request_id)
    [(event_id,)] = rows
    before = [tuple(row) for row in await sql(app, "SELECT * FROM audit_events WHERE id = :id", id=event_id)]
    with pytest.raises(Exception, match="append-only"):
        await sql_write(app, "UPDATE audit_events SET request_id = 'forged' WHERE id = :id", id=event_id)
    with pytest.raises(Exception, match="append-only"):
        await sql_write(app, "DELETE FROM audit_events WHERE id = :id", id=event_id)
    assert [tuple(row) for row in await sql(app, "SELECT * FROM audit_events WHERE id = :id", id=event_id)] == before


async def test_append_only_tables_still_take_inserts(app: Any, client: httpx.AsyncClient, admin: str) -> None:
    before = (await sql(app, "SELECT count(*) FROM audit_events"))[0][0]
    assert (await client.post("/v1/departments", headers=bearer(admin), json=NEW_DEPARTMENT)).status_code == 201
    assert (await sql(app, "SELECT count(*) FROM audit_events"))[0][0] == before + 1


async def test_absent_before_is_sql_null(app: Any, client: httpx.AsyncClient, writes: Writes) -> None:
    """A creation's missing `before` is SQL NULL (not the JSON literal null), so `IS NULL` finds it."""
    created = await sql(app, "SELECT count(*) FROM audit_events WHERE action LIKE '%.created'")
    null_before = await sql(app, "SELECT count(*) FROM audit_events WHERE action LIKE '%.created' AND before IS NULL")
    assert created[0][0] > 0
    assert null_before == created
