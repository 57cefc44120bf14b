"""Departments: the seeded list, one department, and creating one (`admin`)."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import assert_problem, bearer, make_token, sql

CATALOGUE = Path(__file__).resolve().parents[1] / "app" / "catalogue" / "data" / "departments.csv"
DEPARTMENT_FIELDS = {"code", "name_zh", "name_en", "kind", "created_at", "updated_at"}
NEW = {"code": "hbj", "name_zh": "新密市环境保护局", "name_en": "Environmental Protection Bureau", "kind": "department"}


def catalogue_departments() -> list[dict[str, str]]:
    with CATALOGUE.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


SEEDED = catalogue_departments()
SEEDED_CODES = sorted(row["code"] for row in SEEDED)




def assert_utc_timestamp(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0)
    return parsed


def as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@pytest.fixture
async def admin(app: Any) -> str:
    return await make_token(app, "lead", ["admin"], name="admin")


@pytest.fixture
async def reader(app: Any) -> str:
    return await make_token(app, "sthj", ["submissions:write"], name="reader")


async def department_rows(app: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await sql(
        app, "SELECT code, name_zh, name_en, kind, created_at, updated_at FROM departments ORDER BY code")]


async def audit_ids(app: Any) -> list[int]:
    return [row[0] for row in await sql(app, "SELECT id FROM audit_events ORDER BY id")]


# --- Reading --------------------------------------------------------------------------------------


async def test_list_has_the_seeded_departments_ordered_by_code(client: httpx.AsyncClient, reader: str) -> None:
    response = await client.get("/v1/departments", headers=bearer(reader))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    assert body["next_cursor"] is None
    assert [item["code"] for item in body["items"]] == SEEDED_CODES
    assert len(body["items"]) == 20
    expected = {row["code"]: row for row in SEEDED}
    for item in body["items"]:
        assert set(item) == DEPARTMENT_FIELDS
        row = expected[item["code"]]
        assert (item["name_zh"], item["name_en"], item["kind"]) == (row["name_zh"], row["name_en"], row["kind"])
        assert_utc_timestamp(item["created_at"])
        assert_utc_timestamp(item["updated_at"])


async def test_list_pages_through_with_a_cursor(client: httpx.AsyncClient, reader: str) -> None:
    sizes: list[int] = []
    codes: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 7}
        if cursor is not None:
            params["cursor"] = cursor
        response = await client.get("/v1/departments", headers=bearer(reader), params=params)
        assert response.status_code == 200
        body = response.json()
        sizes.append(len(body["items"]))
        codes.extend(item["code"] for item in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
        assert len(sizes) < 5
    assert sizes == [7, 7, 6]
    assert codes == SEEDED_CODES


async def test_exact_page_size_ends_with_null_cursor(client: httpx.AsyncClient, reader: str) -> None:
    first = (await client.get("/v1/departments", headers=bearer(reader), params={"limit": 10})).json()
    assert len(first["items"]) == 10
    second = (await client.get("/v1/departments", headers=bearer(reader),
                               params={"limit": 10, "cursor": first["next_cursor"]})).json()
    assert [item["code"] for item in second["items"]] == SEEDED_CODES[10:]
    assert second["next_cursor"] is None


@pytest.mark.parametrize("limit", [1, 20, 500])
async def test_list_limit_bounds_accepted(client: httpx.AsyncClient, reader: str, limit: int) -> None:
    response = await client.get("/v1/departments", headers=bearer(reader), params={"limit": limit})
    assert response.status_code == 200
    assert len(response.json()["items"]) == min(limit, 20)


@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten"])
async def test_list_limit_out_of_range_is_422(client: httpx.AsyncClient, reader: str, limit: str) -> None:
    response = await client.get("/v1/departments", headers=bearer(reader), params={"limit": limit})
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"][0]["loc"] == ["query", "limit"]


@pytest.mark.parametrize(
    "cursor",
    ["garbage!!", "eyJrIjoidG9rZW5zIiwidiI6WzFdfQ", "eyJrIjoiZGVwYXJ0bWVudHMiLCJ2IjpbMV19", "W10"],
    ids=["not-base64", "tokens-cursor", "wrong-value-type", "not-an-object"],
)
async def test_invalid_cursor_is_400(client: httpx.AsyncClient, reader: str, cursor: str) -> None:
    response = await client.get("/v1/departments", headers=bearer(reader), params={"cursor": cursor})
    assert_problem(response, 400, "invalid_cursor")


async def test_list_needs_a_token(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/departments"), 401, "token_missing")


@pytest.mark.parametrize(
    ("code", "kind", "name_en"),
    [
        ("lead", "lead_office", "Xinmi Zero-Waste City Leading Group Office"),
        ("zzwf", "external", "Zhengzhou Zero-Waste City Office (municipal platform)"),
        ("sthj", "department", "Ecology and Environment Bureau (Xinmi branch)"),
        ("wlj", "department", "Culture, Radio, Television and Tourism Bureau"),
    ],
)
async def test_get_one_department(client: httpx.AsyncClient, reader: str, code: str, kind: str,
                                  name_en: str) -> None:
    response = await client.get(f"/v1/departments/{code}", headers=bearer(reader))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == DEPARTMENT_FIELDS
    assert body["code"] == code
    assert body["kind"] == kind
    assert body["name_en"] == name_en
    assert body["name_zh"] == next(row["name_zh"] for row in SEEDED if row["code"] == code)


@pytest.mark.parametrize("code", ["nope", "LEAD", "x"])
async def test_unknown_department_is_404(client: httpx.AsyncClient, reader: str, code: str) -> None:
    response = await client.get(f"/v1/departments/{code}", headers=bearer(reader))
    body = assert_problem(response, 404, "not_found")
    assert code in body["detail"]


async def test_unknown_department_is_404_in_chinese(client: httpx.AsyncClient, reader: str) -> None:
    response = await client.get("/v1/departments/nope", headers=bearer(reader, **{"Accept-Language": "zh-CN"}))
    body = assert_problem(response, 404, "not_found")
    assert body["title"] == "未找到"
    assert body["detail"] == "部门“nope”不存在或您无权查看。"


# --- Creating -------------------------------------------------------------------------------------


async def test_admin_creates_a_department(app: Any, client: httpx.AsyncClient, admin: str) -> None:
    response = await client.post("/v1/departments", headers=bearer(admin), json=NEW)
    assert response.status_code == 201
    assert response.headers["location"] == "/v1/departments/hbj"
    body = response.json()
    assert set(body) == DEPARTMENT_FIELDS
    assert {key: body[key] for key in NEW} == NEW
    assert assert_utc_timestamp(body["created_at"]) == assert_utc_timestamp(body["updated_at"])
    stored = await sql(app, "SELECT code, name_zh, name_en, kind FROM departments WHERE code = 'hbj'")
    assert [tuple(row) for row in stored] == [("hbj", NEW["name_zh"], NEW["name_en"], "department")]
    # The Location answers with the same resource.
    again = await client.get(response.headers["location"], headers=bearer(admin))
    assert again.status_code == 200
    assert again.json() == body
    # And it is listed in code order.
    listed = (await client.get("/v1/departments", headers=bearer(admin))).json()
    assert [item["code"] for item in listed["items"]] == sorted([*SEEDED_CODES, "hbj"])


async def test_creating_writes_one_audit_event(app: Any, client: httpx.AsyncClient, admin: str) -> None:
    response = await client.post("/v1/departments", headers=bearer(admin, **{"X-Request-ID": "create-hbj"}),
                                 json=NEW)
    assert response.status_code == 201
    rows = await sql(app, "SELECT department, token_id, request_id, entity, entity_id, before, after "
                          "FROM audit_events WHERE action = 'department.created' AND entity_id = 'hbj'")
    assert len(rows) == 1
    department, token_id, request_id, entity, entity_id, before, after = rows[0]
    assert (department, token_id, request_id, entity, entity_id) == ("lead", 1, "create-hbj", "department", "hbj")
    assert as_json(before) is None  # stored as JSON null (not SQL NULL) by the JSON column type
    assert as_json(after) == response.json()


@pytest.mark.parametrize("kind", ["department", "lead_office", "external"])
async def test_each_kind_can_be_created(app: Any, client: httpx.AsyncClient, admin: str, kind: str) -> None:
    response = await client.post("/v1/departments", headers=bearer(admin), json={**NEW, "kind": kind})
    assert response.status_code == 201
    assert response.json()["kind"] == kind
    assert await sql(app, "SELECT kind FROM departments WHERE code = 'hbj'") == [(kind,)]


async def test_kind_defaults_to_department(app: Any, client: httpx.AsyncClient, admin: str) -> None:
    body = {key: value for key, value in NEW.items() if key != "kind"}
    response = await client.post("/v1/departments", headers=bearer(admin), json=body)
    assert response.status_code == 201
    assert response.json()["kind"] == "department"
    assert await sql(app, "SELECT kind FROM departments WHERE code = 'hbj'") == [("department",)]


@pytest.mark.parametrize("code", ["ab", "a1", "abcdefghijklmnop", "z9z9z9"])
async def test_code_pattern_accepted(app: Any, client: httpx.AsyncClient, admin: str, code: str) -> None:
    response = await client.post("/v1/departments", headers=bearer(admin), json={**NEW, "code": code})
    assert response.status_code == 201
    assert response.headers["location"] == f"/v1/departments/{code}"
    assert await sql(app, "SELECT code FROM departments WHERE code = :code", code=code) == [(code,)]


@pytest.mark.parametrize("existing", ["sthj", "lead", "zzwf"])
async def test_duplicate_code_is_409(app: Any, client: httpx.AsyncClient, admin: str, existing: str) -> None:
    rows_before = await department_rows(app)
    audits_before = await audit_ids(app)
    response = await client.post("/v1/departments", headers=bearer(admin),
                                 json={**NEW, "code": existing, "name_zh": "重复", "name_en": "Duplicate"})
    body = assert_problem(response, 409, "department_exists")
    assert body["detail"] == f"Department '{existing}' already exists."
    assert await department_rows(app) == rows_before
    assert await audit_ids(app) == audits_before


async def test_creating_the_same_department_twice_is_409(app: Any, client: httpx.AsyncClient, admin: str) -> None:
    assert (await client.post("/v1/departments", headers=bearer(admin), json=NEW)).status_code == 201
    rows_before = await department_rows(app)
    audits_before = await audit_ids(app)
    response = await client.post("/v1/departments", headers=bearer(admin), json={**NEW, "name_en": "Other"})
    assert_problem(response, 409, "department_exists")
    assert await department_rows(app) == rows_before
    assert await audit_ids(app) == audits_before


INVALID_DEPARTMENTS: list[tuple[dict[str, Any], list[str], str]] = [
    ({"code": "HBJ"}, ["code"], "string_pattern_mismatch"),
    ({"code": "Hbj"}, ["code"], "string_pattern_mismatch"),
    ({"code": "h"}, ["code"], "string_pattern_mismatch"),
    ({"code": "abcdefghijklmnopq"}, ["code"], "string_pattern_mismatch"),
    ({"code": "1ab"}, ["code"], "string_pattern_mismatch"),
    ({"code": "hb-j"}, ["code"], "string_pattern_mismatch"),
    ({"code": ""}, ["code"], "string_pattern_mismatch"),
    ({"code": 12}, ["code"], "string_type"),
    ({"kind": "bureau"}, ["kind"], "literal_error"),
    ({"kind": None}, ["kind"], "literal_error"),
    ({"name_zh": ""}, ["name_zh"], "string_too_short"),
    ({"name_en": ""}, ["name_en"], "string_too_short"),
    ({"name_en": "x" * 201}, ["name_en"], "string_too_long"),
    ({"colour": "green"}, ["colour"], "extra_forbidden"),
]


async def test_invalid_department_is_422(app: Any, client: httpx.AsyncClient, admin: str,
                                         subtests: pytest.Subtests) -> None:
    """Every case on one database: each is refused and leaves the departments and the audit trail as they were."""
    for index, (change, loc, error_type) in enumerate(INVALID_DEPARTMENTS):
        with subtests.test(msg=f"change{index}-{error_type}", change=change):
            rows_before = await department_rows(app)
            audits_before = await audit_ids(app)
            response = await client.post("/v1/departments", headers=bearer(admin), json={**NEW, **change})
            body = assert_problem(response, 422, "validation_failed")
            assert [(issue["loc"], issue["type"]) for issue in body["errors"]] == [(loc, error_type)]
            assert await department_rows(app) == rows_before
            assert await audit_ids(app) == audits_before


@pytest.mark.parametrize("missing", ["code", "name_zh", "name_en"])
async def test_missing_required_field_is_422(app: Any, client: httpx.AsyncClient, admin: str, missing: str) -> None:
    rows_before = await department_rows(app)
    body = {key: value for key, value in NEW.items() if key != missing}
    response = await client.post("/v1/departments", headers=bearer(admin), json=body)
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"] == [{"loc": [missing], "msg": f"Field required: {missing}", "type": "missing"}]
    assert await department_rows(app) == rows_before


async def test_missing_names_are_all_reported(client: httpx.AsyncClient, admin: str) -> None:
    response = await client.post("/v1/departments", headers=bearer(admin), json={"code": "hbj"})
    problem = assert_problem(response, 422, "validation_failed")
    assert sorted(issue["loc"][0] for issue in problem["errors"]) == ["name_en", "name_zh"]


@pytest.mark.parametrize("payload", [[], "hbj", 1, None])
async def test_body_that_is_not_an_object_is_422(app: Any, client: httpx.AsyncClient, admin: str,
                                                 payload: Any) -> None:
    rows_before = await department_rows(app)
    response = await client.post("/v1/departments", headers=bearer(admin, **{"Content-Type": "application/json"}),
                                 content=json.dumps(payload).encode())
    assert_problem(response, 422, "validation_failed")
    assert await department_rows(app) == rows_before


@pytest.mark.parametrize(
    "scopes",
    [["submissions:write"], ["indicators:admin", "submissions:review", "cells:review", "aggregates:read"]],
)
async def test_creating_without_admin_is_403(app: Any, client: httpx.AsyncClient, scopes: list[str]) -> None:
    token = await make_token(app, "lead", scopes)
    rows_before = await department_rows(app)
    audits_before = await audit_ids(app)
    response = await client.post("/v1/departments", headers=bearer(token), json=NEW)
    body = assert_problem(response, 403, "scope_required")
    assert "admin" in body["detail"]
    assert await department_rows(app) == rows_before
    assert await audit_ids(app) == audits_before


async def test_creating_without_a_token_is_401(app: Any, client: httpx.AsyncClient) -> None:
    rows_before = await department_rows(app)
    response = await client.post("/v1/departments", json=NEW)
    assert_problem(response, 401, "token_missing")
    assert await department_rows(app) == rows_before


async def test_new_department_can_receive_tokens(app: Any, client: httpx.AsyncClient, admin: str) -> None:
    assert (await client.post("/v1/departments", headers=bearer(admin), json=NEW)).status_code == 201
    minted = await client.post("/v1/departments/hbj/tokens", headers=bearer(admin),
                               json={"scopes": ["submissions:write"]})
    assert minted.status_code == 201
    me = await client.get("/v1/me", headers=bearer(minted.json()["token"]))
    assert me.status_code == 200
    assert me.json()["department"]["code"] == "hbj"
