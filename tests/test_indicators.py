"""The indicator catalogue over HTTP: listing, filters, pagination, definitions and versioned revisions.

Expected numbers come from app/catalogue/data/indicators.csv, counted by hand:
48 indicators — 24 mandatory, 22 optional, 2 self_selected; by category source_reduction 15,
utilization 14, disposal 9, support 6, public 4.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.factories import PROBLEM, assert_problem, bearer, make_token, sql

SHANGHAI_2016 = datetime(2015, 12, 31, 16, 0, tzinfo=UTC)  # 2016-01-01T00:00:00+08:00

ALL_CODES = [
    "1.1.01", "1.1.02", "1.1.03", "1.1.04", "1.1.05", "1.1.06", "1.2.01", "1.2.02", "1.2.03", "1.3.01",
    "1.3.02", "1.4.01", "1.4.02", "1.4.03", "1.4.04",
    "2.1.01", "2.1.02", "2.1.03", "2.2.01", "2.2.02", "2.2.03", "2.2.04", "2.2.05", "2.3.01", "2.4.01",
    "2.4.02", "2.4.03", "2.4.04", "2.4.05",
    "3.1.01", "3.1.02", "3.1.05", "3.2.01", "3.4.01", "3.4.02", "3.4.03", "3.4.04", "3.4.05",
    "4.1.01", "4.1.02", "4.1.03", "4.3.01", "4.4.01", "4.4.02",
    "5.1.01", "5.1.02", "5.1.03", "5.1.04",
]

# fgw leads 1.1.05, 1.4.04, 2.1.03, 4.3.01 and cooperates on 1.1.02, 1.1.03, 1.1.06, 2.1.01, 3.4.05.
FGW_CODES = ["1.1.02", "1.1.03", "1.1.05", "1.1.06", "1.4.02", "1.4.04", "2.1.01", "2.1.03", "3.4.05", "4.3.01"]

NEW_INDICATOR: dict[str, Any] = {
    "code": "6.1.01",
    "name_zh": "无废学校覆盖率",
    "name_en": "Zero-waste school coverage",
    "category": "public",
    "group": "群众获得感",
    "kind": "self_selected",
    "unit": "%",
    "value_type": "percent",
    "direction": "increase",
    "frequency": "annual",
    "baseline": {"year": 2024, "value": 40},
    "target": {"year": 2030, "value": 80},
    "lead_department": "jyj",
    "cooperating_departments": ["sthj", "tjj"],
    "definition": "已命名无废学校数 ÷ 中小学总数 × 100%",
    "numerator_label": "已命名无废学校数",
    "denominator_label": "中小学总数",
}

NOT_A_RATE = {"numerator_label": None, "denominator_label": None}


# ---------------------------------------------------------------------------------------- helpers


@pytest.fixture
async def reader(app: Any) -> str:
    return await make_token(app, "cgj", ["submissions:write"], name="reader")


@pytest.fixture
async def editor(app: Any) -> str:
    return await make_token(app, "lead", ["indicators:admin"], name="indicators admin")


async def stored_counts(app: Any) -> dict[str, int]:
    counts = {}
    for table in ("indicators", "indicator_versions", "indicator_cooperators", "indicator_milestones", "audit_events",
                  "outbox_events"):
        counts[table] = (await sql(app, f"SELECT COUNT(*) FROM {table}"))[0][0]
    return counts


MILESTONES_OF = ("SELECT v.version, m.year, m.value FROM indicator_milestones m "
                 "JOIN indicator_versions v ON v.id = m.version_id JOIN indicators i ON i.id = v.indicator_id "
                 "WHERE i.code = :code ORDER BY v.version, m.year")


def as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def instant(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is not None
    return parsed




def issues(body: dict[str, Any]) -> list[tuple[list[Any], str]]:
    return [(error["loc"], error["type"]) for error in body["errors"]]


async def walk(client: httpx.AsyncClient, token: str, limit: int, **filters: str) -> list[list[str]]:
    """Codes of every page of /v1/indicators, following next_cursor."""
    pages: list[list[str]] = []
    params: dict[str, Any] = {"limit": limit, **filters}
    while True:
        response = await client.get("/v1/indicators", headers=bearer(token), params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item["code"] for item in body["items"]])
        if body["next_cursor"] is None:
            return pages
        assert len(pages) < 60
        params["cursor"] = body["next_cursor"]


async def codes(client: httpx.AsyncClient, token: str, **filters: str) -> list[str]:
    response = await client.get("/v1/indicators", headers=bearer(token), params={"limit": 500, **filters})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    return [item["code"] for item in body["items"]]


async def revise(client: httpx.AsyncClient, token: str, code: str, body: dict[str, Any],
                 if_match: str | None = None, **headers: str) -> httpx.Response:
    extra = dict(headers)
    if if_match is not None:
        extra["If-Match"] = if_match
    return await client.patch(f"/v1/indicators/{code}", headers=bearer(token, **extra), json=body)


# ------------------------------------------------------------------------------------------ lists


async def test_list_needs_a_token(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/indicators"), 401, "token_missing")


async def test_default_page_holds_the_whole_catalogue_in_code_order(client: httpx.AsyncClient,
                                                                     reader: str) -> None:
    response = await client.get("/v1/indicators", headers=bearer(reader))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    assert [item["code"] for item in body["items"]] == ALL_CODES
    assert body["next_cursor"] is None


async def test_walking_pages_of_ten_yields_all_48_once_in_order(client: httpx.AsyncClient, reader: str) -> None:
    pages = await walk(client, reader, 10)
    assert [len(page) for page in pages] == [10, 10, 10, 10, 8]
    assert [code for page in pages for code in page] == ALL_CODES


async def test_a_page_exactly_the_size_of_the_list_has_no_next_cursor(client: httpx.AsyncClient,
                                                                      reader: str) -> None:
    assert await walk(client, reader, 48) == [ALL_CODES]
    assert await walk(client, reader, 47) == [ALL_CODES[:47], ALL_CODES[47:]]


@pytest.mark.parametrize(("kind", "expected"), [("mandatory", 24), ("optional", 22), ("self_selected", 2)])
async def test_filter_by_kind(client: httpx.AsyncClient, reader: str, kind: str, expected: int) -> None:
    found = await codes(client, reader, kind=kind)
    assert len(found) == expected
    assert found == sorted(found)


async def test_self_selected_indicators_are_fly_ash_and_scenic_areas(client: httpx.AsyncClient,
                                                                     reader: str) -> None:
    assert await codes(client, reader, kind="self_selected") == ["2.4.05", "5.1.04"]


async def test_kind_filter_keeps_working_across_pages(client: httpx.AsyncClient, reader: str) -> None:
    pages = await walk(client, reader, 10, kind="mandatory")
    assert [len(page) for page in pages] == [10, 10, 4]
    assert [code for page in pages for code in page] == await codes(client, reader, kind="mandatory")


CATEGORY_COUNTS = [("source_reduction", 15), ("utilization", 14), ("disposal", 9), ("support", 6), ("public", 4)]


async def test_filter_by_category(client: httpx.AsyncClient, reader: str, subtests: pytest.Subtests) -> None:
    for category, expected in CATEGORY_COUNTS:
        with subtests.test(msg=f"{category}-{expected}"):
            found = await codes(client, reader, category=category)
            assert len(found) == expected
            first_digit = {"source_reduction": "1", "utilization": "2", "disposal": "3", "support": "4", "public": "5"}
            assert all(code.startswith(first_digit[category] + ".") for code in found)


async def test_filter_by_department_counts_lead_and_cooperating(client: httpx.AsyncClient, reader: str) -> None:
    assert await codes(client, reader, department="fgw") == FGW_CODES


async def test_filter_by_department_that_only_cooperates(client: httpx.AsyncClient, reader: str) -> None:
    assert await codes(client, reader, department="tjj") == ["1.1.01", "1.1.06", "1.4.01", "5.1.03"]


async def test_filter_by_department_with_no_indicators_is_empty(client: httpx.AsyncClient, reader: str) -> None:
    assert await codes(client, reader, department="zzwf") == []


TEXT_FILTERS: list[tuple[str, list[str]]] = [
    ("sludge", ["2.4.04", "3.4.04"]),
    ("SLUDGE", ["2.4.04", "3.4.04"]),
    ("污泥", ["2.4.04", "3.4.04"]),
    ("gReEn", ["1.1.03", "1.1.04", "1.3.01"]),
    ("1.4.", ["1.4.01", "1.4.02", "1.4.03", "1.4.04"]),
    ("无废景区", ["5.1.04"]),
    ("%", []),
    ("_", []),
]


async def test_filter_by_text(client: httpx.AsyncClient, reader: str, subtests: pytest.Subtests) -> None:
    for q, expected in TEXT_FILTERS:
        with subtests.test(msg=q, q=q):
            assert await codes(client, reader, q=q) == expected


COMBINED_FILTERS: list[tuple[dict[str, str], list[str]]] = [
    ({"department": "fgw", "kind": "mandatory"}, ["2.1.01", "4.3.01"]),
    ({"category": "source_reduction", "kind": "mandatory"}, ["1.1.01", "1.3.01", "1.3.02"]),
    ({"category": "utilization", "department": "nyj"}, ["2.2.01", "2.2.02", "2.2.03", "2.2.04", "2.2.05"]),
    ({"category": "disposal", "q": "sludge"}, ["3.4.04"]),
    ({"category": "support", "kind": "optional"}, []),
    ({"department": "fgw", "q": "green"}, ["1.1.03"]),
]


async def test_filters_combine(client: httpx.AsyncClient, reader: str, subtests: pytest.Subtests) -> None:
    for filters, expected in COMBINED_FILTERS:
        with subtests.test(msg=str(filters)):
            assert await codes(client, reader, **filters) == expected


BAD_LIST_PARAMETERS: list[dict[str, Any]] = [
    {"limit": 0}, {"limit": 501}, {"limit": -1}, {"limit": "ten"}, {"kind": "compulsory"}, {"category": "recycling"},
]


async def test_bad_list_parameters_are_422(client: httpx.AsyncClient, reader: str,
                                           subtests: pytest.Subtests) -> None:
    for params in BAD_LIST_PARAMETERS:
        with subtests.test(msg=str(params)):
            response = await client.get("/v1/indicators", headers=bearer(reader), params=params)
            body = assert_problem(response, 422, "validation_failed")
            assert [error["loc"] for error in body["errors"]] == [["query", next(iter(params))]]


async def test_limit_500_is_accepted(client: httpx.AsyncClient, reader: str) -> None:
    response = await client.get("/v1/indicators", headers=bearer(reader), params={"limit": 500})
    assert response.status_code == 200
    assert len(response.json()["items"]) == 48


@pytest.mark.parametrize("cursor", ["garbage", "!!!", "eyJrIjoiaW5kaWNhdG9ycyJ9", "e30"])
async def test_garbage_cursor_is_400(client: httpx.AsyncClient, reader: str, cursor: str) -> None:
    response = await client.get("/v1/indicators", headers=bearer(reader), params={"cursor": cursor})
    assert_problem(response, 400, "invalid_cursor")


async def test_cursor_of_the_department_list_is_refused(client: httpx.AsyncClient, reader: str) -> None:
    departments = await client.get("/v1/departments", headers=bearer(reader), params={"limit": 1})
    assert departments.status_code == 200
    cursor = departments.json()["next_cursor"]
    assert cursor is not None
    response = await client.get("/v1/indicators", headers=bearer(reader), params={"cursor": cursor})
    assert_problem(response, 400, "invalid_cursor")


async def test_cursor_of_a_version_list_is_refused(client: httpx.AsyncClient, reader: str, editor: str) -> None:
    await revise(client, editor, "1.1.03", {"weight": 2}, if_match="*")
    versions = await client.get("/v1/indicators/1.1.03/versions", headers=bearer(reader), params={"limit": 1})
    cursor = versions.json()["next_cursor"]
    assert cursor is not None
    response = await client.get("/v1/indicators", headers=bearer(reader), params={"cursor": cursor})
    assert_problem(response, 400, "invalid_cursor")


# ------------------------------------------------------------------------------------ one indicator


async def test_green_factories_match_the_catalogue(client: httpx.AsyncClient, reader: str) -> None:
    response = await client.get("/v1/indicators/1.1.03", headers=bearer(reader))
    assert response.status_code == 200
    assert response.headers["etag"] == '"indicator-1.1.03-v1"'
    body = response.json()
    valid_from, revised_at = body.pop("valid_from"), body.pop("revised_at")
    assert body == {
        "code": "1.1.03",
        "name_zh": "绿色工厂创建数量（累计）",
        "name_en": "Green factories created (cumulative)",
        "category": "source_reduction",
        "group": "工业源头减量",
        "kind": "optional",
        "unit": "个",
        "value_type": "count",
        "direction": "increase",
        "frequency": "annual",
        "baseline": {"year": 2022, "value": 9},
        "target": {"year": 2025, "value": 16},
        "targets": [{"year": 2025, "value": 16}],
        "min_value": 0,
        "max_value": None,
        "lead_department": "gxj",
        "cooperating_departments": ["fgw"],
        "weight": 1,
        "definition": "累计创建的国家级、省级、郑州市级绿色工厂数量",
        "source": "submissions",
        "numerator_label": None,
        "denominator_label": None,
        "provenance": "plan (seed): 在2022年9家绿色工厂基础上，完成16家绿色工厂创建",
        "version": 1,
    }
    # The catalogue is in force from the first accepted period (2016, Asia/Shanghai).
    assert instant(valid_from) == SHANGHAI_2016
    assert instant(revised_at) <= datetime.now(UTC)


async def test_boolean_indicator_has_a_true_target(client: httpx.AsyncClient, reader: str) -> None:
    response = await client.get("/v1/indicators/4.1.01", headers=bearer(reader))
    assert response.status_code == 200
    assert response.headers["etag"] == '"indicator-4.1.01-v1"'
    body = response.json()
    assert body["value_type"] == "boolean"
    assert body["direction"] == "boolean"
    assert body["unit"] == "是/否"
    assert body["kind"] == "mandatory"
    assert body["category"] == "support"
    assert body["group"] == "制度体系"
    assert body["baseline"] is None
    assert body["target"]["year"] == 2025
    assert body["target"]["value"] is True
    assert body["lead_department"] == "sthj"
    assert body["cooperating_departments"] == ["sfj"]
    assert body["numerator_label"] is None
    assert body["definition"] == ""


async def test_rate_indicator_carries_numerator_and_denominator_labels(client: httpx.AsyncClient,
                                                                      reader: str) -> None:
    body = (await client.get("/v1/indicators/1.4.03", headers=bearer(reader))).json()
    assert body["value_type"] == "percent"
    assert body["frequency"] == "quarterly"
    assert body["target"] == {"year": 2025, "value": 99.5}
    assert body["numerator_label"] == "实行生活垃圾分类的居民小区（单位）数"
    assert body["denominator_label"] == "城区居民小区（单位）总数"
    assert body["cooperating_departments"] == []


@pytest.mark.parametrize(("code", "lead", "cooperating"), [
    # Every department responsible for a cell type (app/catalogue/data/cell-types.csv) cooperates on 1.4.02.
    ("1.4.02", "lead", ["jyj", "swj", "wlj", "jgsw", "zjj", "wjw", "gxj", "fgw", "nyj"]),
    ("5.1.04", "wlj", []),
])
async def test_cell_fed_indicators_count_cells(client: httpx.AsyncClient, reader: str, code: str, lead: str,
                                               cooperating: list[str]) -> None:
    body = (await client.get(f"/v1/indicators/{code}", headers=bearer(reader))).json()
    assert body["source"] == "cells"
    assert body["value_type"] == "count"
    assert body["lead_department"] == lead
    assert body["cooperating_departments"] == cooperating


async def test_every_other_indicator_comes_from_submissions(client: httpx.AsyncClient, reader: str) -> None:
    items = (await client.get("/v1/indicators", headers=bearer(reader))).json()["items"]
    assert sorted(item["code"] for item in items if item["source"] == "cells") == ["1.4.02", "5.1.04"]


async def test_unknown_indicator_is_404(client: httpx.AsyncClient, reader: str) -> None:
    response = await client.get("/v1/indicators/9.9.99", headers=bearer(reader))
    body = assert_problem(response, 404, "not_found")
    assert "9.9.99" in body["detail"]


async def test_versions_of_an_unknown_indicator_is_404(client: httpx.AsyncClient, reader: str) -> None:
    assert_problem(await client.get("/v1/indicators/9.9.99/versions", headers=bearer(reader)), 404, "not_found")


async def test_versions_of_an_unrevised_indicator_lists_the_current_one(client: httpx.AsyncClient,
                                                                       reader: str) -> None:
    current = (await client.get("/v1/indicators/2.2.01", headers=bearer(reader))).json()
    response = await client.get("/v1/indicators/2.2.01/versions", headers=bearer(reader))
    assert response.status_code == 200
    assert response.json() == {"items": [current], "next_cursor": None}


# ------------------------------------------------------------------------------------------ create


async def test_define_a_new_indicator(app: Any, client: httpx.AsyncClient, editor: str) -> None:
    before = await stored_counts(app)
    response = await client.post("/v1/indicators", headers=bearer(editor), json=NEW_INDICATOR)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/v1/indicators/6.1.01"
    assert response.headers["etag"] == '"indicator-6.1.01-v1"'
    body = response.json()
    valid_from, revised_at = instant(body.pop("valid_from")), instant(body.pop("revised_at"))
    # A percentage defined without bounds gets 0–100; the one target is also the list of milestones.
    assert body == {**NEW_INDICATOR, "targets": [{"year": 2030, "value": 80}], "min_value": 0, "max_value": 100,
                    "weight": 1, "source": "submissions", "provenance": None, "version": 1}
    now = datetime.now(UTC)
    assert now - timedelta(minutes=1) <= valid_from <= now
    assert now - timedelta(minutes=1) <= revised_at <= now
    # It is listed and readable.
    got = await client.get("/v1/indicators/6.1.01", headers=bearer(editor))
    assert got.json() == response.json()
    assert got.headers["etag"] == '"indicator-6.1.01-v1"'
    assert await codes(client, editor, department="tjj") == ["1.1.01", "1.1.06", "1.4.01", "5.1.03", "6.1.01"]
    assert len(await codes(client, editor)) == 49
    # Stored: one indicator, one version, two cooperators, one audit event.
    after = await stored_counts(app)
    assert after == {**before, "indicators": 49, "indicator_versions": 49,
                     "indicator_cooperators": before["indicator_cooperators"] + 2,
                     "indicator_milestones": before["indicator_milestones"] + 1,
                     "audit_events": before["audit_events"] + 1}
    assert before["indicator_milestones"] == 15  # the catalogue's targets: 14 for 2025, 5.1.04's for 2023
    assert before["indicators"] == 48
    assert before["indicator_versions"] == 48
    audit = await sql(app, "SELECT action, entity, entity_id, department, after FROM audit_events "
                           "ORDER BY id DESC LIMIT 1")
    assert audit[0][:4] == ("indicator.created", "indicator", "6.1.01", "lead")
    assert as_json(audit[0][4])["target"] == {"year": 2030, "value": 80}


async def test_define_with_valid_from_and_weight(client: httpx.AsyncClient, editor: str) -> None:
    body = {**NEW_INDICATOR, "weight": 2.5, "valid_from": "2026-01-01T00:00:00+08:00", "provenance": "test"}
    response = await client.post("/v1/indicators", headers=bearer(editor), json=body)
    assert response.status_code == 201
    assert response.json()["weight"] == 2.5
    assert response.json()["provenance"] == "test"
    assert instant(response.json()["valid_from"]) == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)


async def test_define_a_boolean_indicator(client: httpx.AsyncClient, editor: str) -> None:
    body = {**NEW_INDICATOR, **NOT_A_RATE, "unit": "是/否", "value_type": "boolean", "direction": "boolean",
            "baseline": {"year": 2024, "value": False}, "target": {"year": 2030, "value": True}}
    response = await client.post("/v1/indicators", headers=bearer(editor), json=body)
    assert response.status_code == 201, response.text
    assert response.json()["baseline"]["value"] is False
    assert response.json()["target"]["value"] is True


@pytest.mark.parametrize("scopes", [["admin"], ["submissions:write"], ["submissions:review", "cells:review"]])
async def test_define_needs_indicators_admin(app: Any, client: httpx.AsyncClient, scopes: list[str]) -> None:
    token = await make_token(app, "lead", scopes)
    before = await stored_counts(app)
    response = await client.post("/v1/indicators", headers=bearer(token), json=NEW_INDICATOR)
    assert_problem(response, 403, "scope_required")
    assert await stored_counts(app) == before


async def test_define_without_token_is_401(app: Any, client: httpx.AsyncClient) -> None:
    before = await stored_counts(app)
    assert_problem(await client.post("/v1/indicators", json=NEW_INDICATOR), 401, "token_missing")
    assert await stored_counts(app) == before


async def test_define_an_existing_code_is_409(app: Any, client: httpx.AsyncClient, editor: str) -> None:
    before = await stored_counts(app)
    response = await client.post("/v1/indicators", headers=bearer(editor), json={**NEW_INDICATOR, "code": "1.1.03"})
    body = assert_problem(response, 409, "indicator_exists")
    assert "1.1.03" in body["detail"]
    assert await stored_counts(app) == before
    # The existing definition is untouched.
    current = (await client.get("/v1/indicators/1.1.03", headers=bearer(editor))).json()
    assert current["version"] == 1
    assert current["lead_department"] == "gxj"


BOOLEAN = {**NOT_A_RATE, "value_type": "boolean", "direction": "boolean", "baseline": None,
           "target": {"year": 2030, "value": True}}

REMOVE = "(left out)"  # a change that leaves the key out of the body
# (case id, change to NEW_INDICATOR, loc, type)
RULES: list[tuple[str, dict[str, Any], list[Any], str]] = [
    ("unknown-field", {"colour": "red"}, ["colour"], "extra_forbidden"),
    ("bad-kind", {"kind": "compulsory"}, ["kind"], "literal_error"),
    ("bad-value-type", {"value_type": "integer"}, ["value_type"], "literal_error"),
    ("bad-frequency", {"frequency": "weekly"}, ["frequency"], "literal_error"),
    ("bad-code", {"code": "6 1 01"}, ["code"], "string_pattern_mismatch"),
    ("empty-name", {"name_zh": ""}, ["name_zh"], "string_too_short"),
    ("zero-weight", {"weight": 0}, ["weight"], "greater_than"),
    ("target-without-value", {"target": {"year": 2030}}, ["target", "value"], "missing"),
    ("boolean-type-numeric-direction", {**BOOLEAN, "direction": "increase"}, ["direction"], "direction_mismatch"),
    ("percent-type-boolean-direction", {"direction": "boolean"}, ["direction"], "direction_mismatch"),
    ("percent-120", {"target": {"year": 2030, "value": 120}}, ["target", "value"], "out_of_range"),
    ("negative-percent", {"baseline": {"year": 2024, "value": -0.5}}, ["baseline", "value"], "out_of_range"),
    ("negative-quantity",
     {**NOT_A_RATE, "value_type": "quantity", "unit": "万吨", "target": {"year": 2030, "value": -3}},
     ["target", "value"], "out_of_range"),
    ("milestone-above-max", {"target": REMOVE, "targets": [{"year": 2027, "value": 60}, {"year": 2030, "value": 101}]},
     ["targets", 1, "value"], "out_of_range"),
    ("milestone-below-own-min", {"min_value": 50, "target": {"year": 2030, "value": 45}, "baseline": None},
     ["target", "value"], "out_of_range"),
    ("baseline-outside-own-bounds", {"min_value": 50, "max_value": 90, "baseline": {"year": 2024, "value": 40}},
     ["baseline", "value"], "out_of_range"),
    ("milestones-out-of-order",
     {"target": REMOVE, "targets": [{"year": 2030, "value": 80}, {"year": 2027, "value": 60}]},
     ["targets", 1, "year"], "milestones_order"),
    ("milestones-same-year",
     {"target": REMOVE, "targets": [{"year": 2030, "value": 80}, {"year": 2030, "value": 90}]},
     ["targets", 1, "year"], "milestones_order"),
    ("baseline-after-first-milestone",
     {"target": REMOVE, "targets": [{"year": 2024, "value": 50}, {"year": 2030, "value": 80}]}, ["baseline", "year"],
     "baseline_after_target"),
    ("target-and-targets", {"targets": [{"year": 2030, "value": 80}]}, [], "target_and_targets"),
    ("bounds-reversed", {"min_value": 90, "max_value": 10, "baseline": None}, ["max_value"], "bounds_order"),
    ("bounds-on-boolean", {**BOOLEAN, "min_value": 0}, ["min_value"], "bounds_for_boolean"),
    ("infinite-bound", {"max_value": "inf"}, ["max_value"], "finite_number"),
    ("fractional-count",
     {**NOT_A_RATE, "value_type": "count", "unit": "个", "target": {"year": 2030, "value": 2.5}},
     ["target", "value"], "not_integer"),
    ("boolean-with-numeric-target", {**BOOLEAN, "target": {"year": 2030, "value": 1}}, ["target", "value"],
     "boolean_expected"),
    ("percent-with-boolean-target", {"target": {"year": 2030, "value": True}}, ["target", "value"],
     "number_expected"),
    ("baseline-same-year-as-target", {"baseline": {"year": 2030, "value": 40}}, ["baseline", "year"],
     "baseline_after_target"),
    ("baseline-after-target", {"baseline": {"year": 2031, "value": 40}}, ["baseline", "year"],
     "baseline_after_target"),
    ("numerator-label-on-quantity", {"value_type": "quantity", "unit": "万吨", "denominator_label": None},
     ["numerator_label"], "not_a_rate"),
    ("duplicate-cooperating", {"cooperating_departments": ["sthj", "tjj", "sthj"]}, ["cooperating_departments", 2],
     "duplicate_department"),
    ("lead-also-cooperating", {"cooperating_departments": ["sthj", "jyj"]}, ["cooperating_departments", 1],
     "duplicate_department"),
    ("unknown-lead", {"lead_department": "nope"}, ["lead_department"], "unknown_department"),
    ("unknown-cooperating", {"cooperating_departments": ["sthj", "xyz"]}, ["cooperating_departments", 1],
     "unknown_department"),
    ("cells-source-percent", {"source": "cells"}, ["source"], "cells_source_count"),
]


async def test_define_refuses_invalid_definitions(app: Any, client: httpx.AsyncClient, editor: str,
                                                  subtests: pytest.Subtests) -> None:
    """Every rule on one database: each definition is refused and stores nothing."""
    for case_id, change, loc, kind in RULES:
        with subtests.test(msg=case_id, change=change):
            before = await stored_counts(app)
            sent = {key: value for key, value in {**NEW_INDICATOR, **change}.items() if value is not REMOVE}
            response = await client.post("/v1/indicators", headers=bearer(editor), json=sent)
            body = assert_problem(response, 422, "out_of_range" if kind == "out_of_range" else "validation_failed")
            assert issues(body) == [(loc, kind)]
            assert all(error["msg"] for error in body["errors"])
            assert await stored_counts(app) == before
            assert (await client.get("/v1/indicators/6.1.01", headers=bearer(editor))).status_code == 404


async def test_define_without_required_fields_lists_each(app: Any, client: httpx.AsyncClient, editor: str) -> None:
    before = await stored_counts(app)
    body = {key: value for key, value in NEW_INDICATOR.items() if key not in ("name_en", "lead_department")}
    response = await client.post("/v1/indicators", headers=bearer(editor), json=body)
    problem = assert_problem(response, 422, "validation_failed")
    assert sorted(issues(problem)) == [(["lead_department"], "missing"), (["name_en"], "missing")]
    assert await stored_counts(app) == before


async def test_validation_messages_follow_accept_language(client: httpx.AsyncClient, editor: str) -> None:
    body = {**NEW_INDICATOR, "target": {"year": 2030, "value": 120}}
    chinese = await client.post("/v1/indicators", headers=bearer(editor, **{"Accept-Language": "zh-CN"}),
                                json=body)
    problem = assert_problem(chinese, 422, "out_of_range")
    assert issues(problem) == [(["target", "value"], "out_of_range")]
    assert problem["errors"][0]["msg"] == "120 超出取值范围：应在 0 到 100 之间"
    assert (problem["title"], problem["detail"]) == ("超出取值范围", "数值超出该指标的取值范围，取值范围见 errors。")
    assert "msg_zh" not in problem["errors"][0]
    english = assert_problem(await client.post("/v1/indicators", headers=bearer(editor), json=body),
                             422, "out_of_range")
    assert english["errors"][0]["msg"] == "120 is out of range: it must be between 0 and 100"
    assert english["detail"] == "A value is outside the indicator's bounds; see errors for the bounds."


@pytest.mark.parametrize(("change", "word"), [
    ({"cooperating_departments": ["xyz"]}, "部门"),
    ({"baseline": {"year": 2031, "value": 40}}, "基准年份"),
    ({"direction": "boolean"}, "布尔"),
])
async def test_cross_field_rules_speak_chinese(client: httpx.AsyncClient, editor: str,
                                               change: dict[str, Any], word: str) -> None:
    response = await client.post("/v1/indicators", headers=bearer(editor, **{"Accept-Language": "zh-CN"}),
                                 json={**NEW_INDICATOR, **change})
    problem = assert_problem(response, 422, "validation_failed")
    assert word in problem["errors"][0]["msg"]


# ------------------------------------------------------------------------------------------ revise


async def test_revise_without_if_match_is_428(app: Any, client: httpx.AsyncClient, editor: str) -> None:
    before = await stored_counts(app)
    response = await revise(client, editor, "1.1.03", {"target": {"year": 2025, "value": 18}})
    assert_problem(response, 428, "precondition_required")
    assert await stored_counts(app) == before


@pytest.mark.parametrize("if_match", ['"indicator-1.1.03-v2"', '"indicator-1.1.04-v1"', "indicator-1.1.03-v1"])
async def test_revise_with_stale_if_match_is_412(app: Any, client: httpx.AsyncClient, editor: str,
                                                 if_match: str) -> None:
    before = await stored_counts(app)
    response = await revise(client, editor, "1.1.03", {"target": {"year": 2025, "value": 18}}, if_match)
    assert_problem(response, 412, "precondition_failed")
    assert await stored_counts(app) == before


async def test_revise_accepts_if_match_star(client: httpx.AsyncClient, editor: str) -> None:
    response = await revise(client, editor, "1.1.03", {"target": {"year": 2025, "value": 18}}, "*")
    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert response.headers["etag"] == '"indicator-1.1.03-v2"'


async def test_revise_needs_indicators_admin(app: Any, client: httpx.AsyncClient) -> None:
    token = await make_token(app, "gxj", ["admin", "submissions:write"])
    before = await stored_counts(app)
    response = await revise(client, token, "1.1.03", {"weight": 2}, '"indicator-1.1.03-v1"')
    assert_problem(response, 403, "scope_required")
    assert await stored_counts(app) == before


async def test_revise_an_unknown_indicator_is_404(app: Any, client: httpx.AsyncClient, editor: str) -> None:
    before = await stored_counts(app)
    assert_problem(await revise(client, editor, "9.9.99", {"weight": 2}, "*"), 404, "not_found")
    assert await stored_counts(app) == before


async def test_revision_makes_version_2_and_keeps_version_1(app: Any, client: httpx.AsyncClient, reader: str,
                                                           editor: str) -> None:
    original = (await client.get("/v1/indicators/1.1.03", headers=bearer(reader))).json()
    before = await stored_counts(app)
    response = await revise(client, editor, "1.1.03", {"target": {"year": 2025, "value": 18}},
                            '"indicator-1.1.03-v1"')
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"indicator-1.1.03-v2"'
    revised = response.json()
    assert revised["version"] == 2
    assert revised["target"] == {"year": 2025, "value": 18}
    # Everything else carries over.
    unchanged = {"version", "target", "targets", "valid_from", "revised_at"}
    assert {k: v for k, v in revised.items() if k not in unchanged} == {
        k: v for k, v in original.items() if k not in unchanged}
    now = datetime.now(UTC)
    assert now - timedelta(minutes=1) <= instant(revised["valid_from"]) <= now
    # GET shows the new version and its ETag.
    got = await client.get("/v1/indicators/1.1.03", headers=bearer(reader))
    assert got.json() == revised
    assert got.headers["etag"] == '"indicator-1.1.03-v2"'
    # Versions: newest first, version 1 exactly as it was.
    versions = await client.get("/v1/indicators/1.1.03/versions", headers=bearer(reader))
    assert versions.json() == {"items": [revised, original], "next_cursor": None}
    # Stored: one new version with its cooperator, one audit event, one outbox event.
    assert await stored_counts(app) == {
        **before,
        "indicator_versions": 49,
        "indicator_cooperators": before["indicator_cooperators"] + 1,
        "indicator_milestones": before["indicator_milestones"] + 1,
        "audit_events": before["audit_events"] + 1,
        "outbox_events": before["outbox_events"] + 1,
    }
    assert await sql(app, MILESTONES_OF, code="1.1.03") == [(1, 2025, 16), (2, 2025, 18)]
    assert await sql(app, "SELECT latest_version FROM indicators WHERE code = '1.1.03'") == [(2,)]


async def test_revision_is_audited_with_before_and_after(app: Any, client: httpx.AsyncClient,
                                                        editor: str) -> None:
    await revise(client, editor, "1.1.03", {"target": {"year": 2025, "value": 18}}, '"indicator-1.1.03-v1"')
    rows = await sql(app, "SELECT department, token_id, entity, before, after FROM audit_events "
                          "WHERE action = 'indicator.revised' AND entity_id = '1.1.03'")
    assert len(rows) == 1
    department, token_id, entity, before, after = rows[0]
    assert (department, entity) == ("lead", "indicator")
    assert await sql(app, "SELECT id FROM api_tokens WHERE name = 'indicators admin'") == [(token_id,)]
    before, after = as_json(before), as_json(after)
    assert (before["version"], after["version"]) == (1, 2)
    assert (before["target"], after["target"]) == ({"year": 2025, "value": 16}, {"year": 2025, "value": 18})


async def test_revision_emits_an_outbox_event(app: Any, client: httpx.AsyncClient, editor: str) -> None:
    await revise(client, editor, "1.1.03", {"target": {"year": 2025, "value": 18}}, '"indicator-1.1.03-v1"')
    rows = await sql(app, "SELECT event, entity, entity_id, data FROM outbox_events")
    assert len(rows) == 1
    assert rows[0][:3] == ("indicator.revised", "indicator", "1.1.03")
    data = as_json(rows[0][3])
    assert data["code"] == "1.1.03"
    assert data["version"] == 2


async def test_the_old_etag_is_stale_after_a_revision(app: Any, client: httpx.AsyncClient, editor: str) -> None:
    first = await revise(client, editor, "1.1.03", {"weight": 2}, '"indicator-1.1.03-v1"')
    assert first.status_code == 200
    before = await stored_counts(app)
    second = await revise(client, editor, "1.1.03", {"weight": 3}, '"indicator-1.1.03-v1"')
    problem = assert_problem(second, 412, "precondition_failed")
    assert '"indicator-1.1.03-v2"' in problem["detail"]
    assert await stored_counts(app) == before
    third = await revise(client, editor, "1.1.03", {"weight": 3}, '"indicator-1.1.03-v2"')
    assert third.status_code == 200
    assert third.json()["version"] == 3
    assert third.headers["etag"] == '"indicator-1.1.03-v3"'


@pytest.mark.parametrize("body", [
    {},
    {"target": {"year": 2025, "value": 16}},
    {"lead_department": "gxj", "cooperating_departments": ["fgw"], "kind": "optional"},
])
async def test_revision_that_changes_nothing_keeps_version_1(app: Any, client: httpx.AsyncClient, editor: str,
                                                            body: dict[str, Any]) -> None:
    before = await stored_counts(app)
    response = await revise(client, editor, "1.1.03", body, '"indicator-1.1.03-v1"')
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 1
    assert response.headers["etag"] == '"indicator-1.1.03-v1"'
    assert await stored_counts(app) == before


async def test_valid_from_before_the_current_version_is_422(app: Any, client: httpx.AsyncClient,
                                                           editor: str) -> None:
    before = await stored_counts(app)
    response = await revise(client, editor, "1.1.03", {"target": {"year": 2025, "value": 18},
                                                       "valid_from": "2015-06-01T00:00:00+08:00"}, "*")
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert [error["loc"] for error in response.json()["errors"]] == [["valid_from"]]
    assert await stored_counts(app) == before


async def test_valid_from_must_carry_an_offset(app: Any, client: httpx.AsyncClient, editor: str) -> None:
    before = await stored_counts(app)
    response = await revise(client, editor, "1.1.03", {"weight": 2, "valid_from": "2026-01-01T00:00:00"}, "*")
    problem = assert_problem(response, 422, "validation_failed")
    assert [error["loc"] for error in problem["errors"]] == [["valid_from"]]
    assert await stored_counts(app) == before


async def test_explicit_null_target_clears_it_in_the_new_version(app: Any, client: httpx.AsyncClient,
                                                                 editor: str) -> None:
    response = await revise(client, editor, "1.1.03", {"target": None}, '"indicator-1.1.03-v1"')
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2
    assert response.json()["target"] is None
    assert response.json()["baseline"] == {"year": 2022, "value": 9}
    items = (await client.get("/v1/indicators/1.1.03/versions", headers=bearer(editor))).json()["items"]
    assert [(item["version"], item["target"]) for item in items] == [(2, None), (1, {"year": 2025, "value": 16})]
    assert await sql(app, MILESTONES_OF, code="1.1.03") == [(1, 2025, 16)]  # version 2 has none


async def test_revision_replaces_cooperating_departments(client: httpx.AsyncClient, editor: str) -> None:
    response = await revise(client, editor, "1.1.03", {"cooperating_departments": ["tjj", "fgw"]}, "*")
    assert response.status_code == 200
    assert response.json()["cooperating_departments"] == ["tjj", "fgw"]
    assert "1.1.03" in await codes(client, editor, department="tjj")
    items = (await client.get("/v1/indicators/1.1.03/versions", headers=bearer(editor))).json()["items"]
    assert [item["cooperating_departments"] for item in items] == [["tjj", "fgw"], ["fgw"]]


async def test_lists_filter_on_the_current_version(client: httpx.AsyncClient, editor: str) -> None:
    response = await revise(client, editor, "1.1.03", {"kind": "mandatory", "lead_department": "zjj",
                                                       "cooperating_departments": []}, "*")
    assert response.status_code == 200
    assert len(await codes(client, editor, kind="mandatory")) == 25
    assert len(await codes(client, editor, kind="optional")) == 21
    assert "1.1.03" not in await codes(client, editor, department="fgw")
    assert "1.1.03" not in await codes(client, editor, department="gxj")
    assert "1.1.03" in await codes(client, editor, department="zjj")


# (indicator, patch, expected (loc, type) issues)
MERGED_REFUSALS: list[tuple[str, dict[str, Any], list[tuple[list[Any], str]]]] = [
    ("1.1.03", {"value_type": "boolean"},
     [(["direction"], "direction_mismatch"), (["baseline", "value"], "boolean_expected"),
      (["targets", 0, "value"], "boolean_expected")]),
    ("1.4.03", {"target": {"year": 2025, "value": 101}}, [(["target", "value"], "out_of_range")]),
    ("1.4.03", {"targets": [{"year": 2023, "value": 99}, {"year": 2025, "value": 101}]},
     [(["targets", 1, "value"], "out_of_range")]),
    ("1.4.03", {"max_value": 99}, [(["targets", 0, "value"], "out_of_range")]),
    ("1.4.03", {"min_value": 100, "max_value": 0}, [(["max_value"], "bounds_order")]),
    ("1.4.03", {"value_type": "quantity"},
     [(["numerator_label"], "not_a_rate"), (["denominator_label"], "not_a_rate")]),
    ("1.1.03", {"baseline": {"year": 2025, "value": 9}}, [(["baseline", "year"], "baseline_after_target")]),
    ("1.1.03", {"cooperating_departments": ["gxj"]}, [(["cooperating_departments", 0], "duplicate_department")]),
    ("1.1.03", {"lead_department": "nope"}, [(["lead_department"], "unknown_department")]),
    ("1.4.02", {"value_type": "percent"}, [(["source"], "cells_source_count")]),
    ("4.1.01", {"target": {"year": 2025, "value": 1}}, [(["target", "value"], "boolean_expected")]),
    ("1.1.03", {"colour": "red"}, [(["colour"], "extra_forbidden")]),
    ("1.1.03", {"code": "1.1.99"}, [(["code"], "extra_forbidden")]),
    ("1.1.03", {"kind": "compulsory"}, [(["kind"], "literal_error")]),
    ("1.1.03", {"name_zh": None}, [(["name_zh"], "string_type")]),
]


async def test_revision_refuses_an_invalid_merged_definition(app: Any, client: httpx.AsyncClient, editor: str,
                                                             subtests: pytest.Subtests) -> None:
    """Every case on one database: each revision is refused, stores nothing and leaves version 1 current
    (so the If-Match of version 1 stays right for the next case)."""
    for index, (code, body, expected) in enumerate(MERGED_REFUSALS):
        with subtests.test(msg=f"{code}-body{index}", code=code, body=body):
            before = await stored_counts(app)
            response = await revise(client, editor, code, body, f'"indicator-{code}-v1"')
            only_bounds = all(kind == "out_of_range" for _, kind in expected)
            problem = assert_problem(response, 422, "out_of_range" if only_bounds else "validation_failed")
            assert sorted(issues(problem)) == sorted(expected)
            assert await stored_counts(app) == before
            current = await client.get(f"/v1/indicators/{code}", headers=bearer(editor))
            assert current.json()["version"] == 1


async def test_revision_rule_messages_speak_chinese(client: httpx.AsyncClient, editor: str) -> None:
    response = await revise(client, editor, "1.4.03", {"target": {"year": 2025, "value": 101}}, "*",
                            **{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    problem = assert_problem(response, 422, "out_of_range")
    assert problem["errors"][0]["msg"] == "101 超出取值范围：应在 0 到 100 之间"


async def test_next_plan_period_target_is_a_new_version(app: Any, client: httpx.AsyncClient,
                                                        reader: str, editor: str) -> None:
    """The 15th Five-Year plan raises 1.4.03 to 100% by 2030; 2021–2025 keep being scored against 99.5%."""
    response = await revise(client, editor, "1.4.03",
                            {"target": {"year": 2030, "value": 100}, "valid_from": "2026-01-01T00:00:00+08:00"},
                            '"indicator-1.4.03-v1"')
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"indicator-1.4.03-v2"'
    body = response.json()
    assert body["version"] == 2
    assert body["target"] == {"year": 2030, "value": 100}
    # Sent with +08:00, answered in UTC like every other instant.
    assert body["valid_from"] == "2025-12-31T16:00:00Z"
    versions = await client.get("/v1/indicators/1.4.03/versions", headers=bearer(reader))
    assert versions.status_code == 200
    items = versions.json()["items"]
    assert [item["version"] for item in items] == [2, 1]
    assert items[0]["target"] == {"year": 2030, "value": 100}
    assert items[1]["target"] == {"year": 2025, "value": 99.5}
    assert instant(items[1]["valid_from"]) == SHANGHAI_2016
    assert versions.json()["next_cursor"] is None
    assert await sql(app, MILESTONES_OF, code="1.4.03") == [(1, 2025, 99.5), (2, 2030, 100)]


async def test_versions_paginate_newest_first(client: httpx.AsyncClient, reader: str, editor: str) -> None:
    for weight in (2, 3):
        assert (await revise(client, editor, "2.2.01", {"weight": weight}, "*")).status_code == 200
    seen: list[tuple[int, float]] = []
    params: dict[str, Any] = {"limit": 2}
    pages = 0
    while True:
        body = (await client.get("/v1/indicators/2.2.01/versions", headers=bearer(reader), params=params)).json()
        pages += 1
        seen += [(item["version"], item["weight"]) for item in body["items"]]
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert pages == 2
    assert seen == [(3, 3), (2, 2), (1, 1)]


async def test_versions_refuse_a_cursor_of_the_indicator_list(client: httpx.AsyncClient, reader: str) -> None:
    cursor = (await client.get("/v1/indicators", headers=bearer(reader), params={"limit": 1})).json()["next_cursor"]
    response = await client.get("/v1/indicators/1.1.03/versions", headers=bearer(reader), params={"cursor": cursor})
    assert_problem(response, 400, "invalid_cursor")


# ------------------------------------------------------------------------ numbers JSON cannot carry

QUANTITY = {**NEW_INDICATOR, **NOT_A_RATE, "value_type": "quantity", "unit": "万吨"}
COUNT = {**NEW_INDICATOR, **NOT_A_RATE, "value_type": "count", "unit": "个"}


def raw_json(body: dict[str, Any], literal: str) -> str:
    """``body`` as JSON with its target value spelled as ``literal`` (which json.dumps would not write)."""
    text = json.dumps({**body, "target": {"year": 2030, "value": 424242}}, ensure_ascii=False)
    return text.replace("424242", literal)


@pytest.mark.parametrize(("body", "literal"), [
    pytest.param(QUANTITY, "1e400", id="quantity-1e400"),
    pytest.param(QUANTITY, "1" + "0" * 400, id="quantity-401-digit-integer"),
    pytest.param(COUNT, "1e400", id="count-1e400"),
])
async def test_define_refuses_numbers_beyond_floating_point(app: Any, client: httpx.AsyncClient, editor: str,
                                                            body: dict[str, Any], literal: str) -> None:
    """Valid JSON numbers that no float can hold are bad input (422), not a 500 or a stored infinity."""
    before = await stored_counts(app)
    response = await client.post("/v1/indicators", content=raw_json(body, literal),
                                 headers=bearer(editor, **{"Content-Type": "application/json"}))
    problem = assert_problem(response, 422, "validation_failed")
    assert [error["loc"] for error in problem["errors"]] == [["target", "value"]]
    assert await stored_counts(app) == before


NON_JSON_NUMBERS: list[tuple[str, dict[str, Any], str]] = [
    ("percent-NaN", NEW_INDICATOR, "NaN"),
    ("quantity-NaN", QUANTITY, "NaN"),
    ("quantity-Infinity", QUANTITY, "Infinity"),
    ("count-Infinity", COUNT, "Infinity"),
    ("count-NaN", COUNT, "NaN"),
]


async def test_define_refuses_nan_and_infinity(app: Any, client: httpx.AsyncClient, editor: str,
                                               subtests: pytest.Subtests) -> None:
    """NaN and Infinity are not JSON (RFC 8259): malformed input, 400 or 422, and nothing stored (every case on
    one database, the counts read before each)."""
    for case_id, body, literal in NON_JSON_NUMBERS:
        with subtests.test(msg=case_id):
            before = await stored_counts(app)
            response = await client.post("/v1/indicators", content=raw_json(body, literal),
                                         headers=bearer(editor, **{"Content-Type": "application/json"}))
            assert response.status_code in (400, 422), response.text
            assert response.headers["content-type"] == PROBLEM
            assert await stored_counts(app) == before


@pytest.mark.parametrize("literal", ["Infinity", "NaN", "1e400"])
async def test_revise_refuses_non_finite_targets(app: Any, client: httpx.AsyncClient, editor: str,
                                                 literal: str) -> None:
    before = await stored_counts(app)
    body = '{"target": {"year": 2030, "value": LITERAL}}'.replace("LITERAL", literal)
    response = await client.patch("/v1/indicators/2.4.02", content=body,
                                  headers=bearer(editor, **{"Content-Type": "application/json", "If-Match": "*"}))
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == PROBLEM
    assert await stored_counts(app) == before
    current = (await client.get("/v1/indicators/2.4.02", headers=bearer(editor))).json()
    assert (current["version"], current["target"]) == (1, None)


async def test_concurrent_revisions_with_one_etag_make_one_version(app: Any, editor: str) -> None:
    """Several PATCHes racing with the same If-Match: exactly one wins, the others get 412."""
    transport = httpx.ASGITransport(app=app)
    headers = bearer(editor, **{"If-Match": '"indicator-2.3.01-v1"'})

    async def revise(value: int) -> int:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.patch("/v1/indicators/2.3.01", headers=headers,
                                        json={"target": {"year": 2030, "value": value}})
            return response.status_code

    # Use the token once first: its last_used_at update would otherwise serialize the racers.
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        assert (await http.get("/v1/me", headers=bearer(editor))).status_code == 200
    statuses = await asyncio.gather(*(revise(value) for value in (50, 60, 70, 80)))
    assert sorted(statuses) == [200, 412, 412, 412]
    versions = await sql(app, "SELECT v.version FROM indicator_versions v JOIN indicators i ON i.id = v.indicator_id "
                              "WHERE i.code = '2.3.01' ORDER BY v.version")
    assert versions == [(1,), (2,)]
