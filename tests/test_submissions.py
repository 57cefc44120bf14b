"""Submissions over HTTP: creation and every validation rule, reads and visibility, batches.

Edits, idempotency, the life cycle and outliers are in tests/test_submissions_workflow.py, which
reuses the helpers defined here.

Indicators used (from app/catalogue/data/indicators.csv, checked by hand):
  2.3.01 percent  annual     lead cgj,  cooperating zjj
  2.4.01 percent  annual     lead cgj,  cooperating swj
  1.4.03 percent  quarterly  lead cgj
  1.4.01 quantity monthly    lead cgj,  cooperating tjj
  3.4.05 boolean  annual     lead cgj,  cooperating fgw
  1.1.01 ratio    annual     lead sthj, cooperating tjj, gxj
  1.1.03 count    annual     lead gxj,  cooperating fgw
  4.1.01 boolean  annual     lead sthj, cooperating sfj
  4.1.02 boolean  annual     lead lead (the lead office itself)
  1.4.02 count    annual     source cells (lead lead);  5.1.04 count annual source cells (lead wlj)
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.factories import assert_problem, bearer, make_token, sql
from tests.test_files import png_bytes, upload

SHANGHAI = ZoneInfo("Asia/Shanghai")
TABLES = ("submissions", "submission_revisions", "submission_evidence_files", "audit_events", "outbox_events")

# "Now" in Asia/Shanghai, to name the current period and the first one that has not started.
_NOW = datetime.now(SHANGHAI)
YEAR = _NOW.year
THIS_YEAR = str(YEAR)
NEXT_YEAR = str(YEAR + 1)
THIS_MONTH = f"{YEAR}-{_NOW.month:02d}"
NEXT_MONTH = f"{YEAR + 1}-01" if _NOW.month == 12 else f"{YEAR}-{_NOW.month + 1:02d}"
_QUARTER = (_NOW.month - 1) // 3 + 1
THIS_QUARTER = f"{YEAR}Q{_QUARTER}"
NEXT_QUARTER = f"{YEAR + 1}Q1" if _QUARTER == 4 else f"{YEAR}Q{_QUARTER + 1}"


# ---------------------------------------------------------------------------------------- helpers


@pytest.fixture
async def cgj(app: Any) -> str:
    return await make_token(app, "cgj", ["submissions:write"], name="cgj writer")


@pytest.fixture
async def reviewer(app: Any) -> str:
    return await make_token(app, "lead", ["submissions:review"], name="lead office reviewer")


@pytest.fixture
async def sthj(app: Any) -> str:
    return await make_token(app, "sthj", ["submissions:write"], name="sthj writer")




def issues(body: dict[str, Any]) -> list[tuple[list[Any], str]]:
    return [(error["loc"], error["type"]) for error in body["errors"]]


def as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def stored_counts(app: Any) -> dict[str, int]:
    return {table: (await sql(app, f"SELECT COUNT(*) FROM {table}"))[0][0] for table in TABLES}


async def stored(app: Any, submission_id: int) -> dict[str, Any]:
    """The stored row of one submission (what the database holds, not what the API shows)."""
    rows = await sql(app, "SELECT indicator, period, department, value, numerator, denominator, note, status, "
                          "version, reviewer_note, submitted_at, approved_at FROM submissions WHERE id = :id",
                     id=submission_id)
    assert len(rows) == 1
    return dict(rows[0]._mapping)


async def post(client: httpx.AsyncClient, token: str, body: Any, **headers: str) -> httpx.Response:
    return await client.post("/v1/submissions", headers=bearer(token, **headers), json=body)


async def create(client: httpx.AsyncClient, token: str, indicator: str, period: str, **fields: Any) -> dict[str, Any]:
    response = await post(client, token, {"indicator": indicator, "period": period, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def act(client: httpx.AsyncClient, token: str, submission_id: int, action: str,
              body: Any = None) -> httpx.Response:
    url = f"/v1/submissions/{submission_id}/{action}"
    if body is None:
        return await client.post(url, headers=bearer(token))
    return await client.post(url, headers=bearer(token), json=body)


async def acted(client: httpx.AsyncClient, token: str, submission_id: int, action: str,
                body: Any = None) -> dict[str, Any]:
    response = await act(client, token, submission_id, action, body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def advance(client: httpx.AsyncClient, writer: str, reviewer: str, submission_id: int, status: str) -> None:
    """Take a fresh draft (with a value) to ``status`` through the API."""
    if status == "draft":
        return
    await acted(client, writer, submission_id, "submit")
    if status == "approved":
        await acted(client, reviewer, submission_id, "approve")
    elif status == "returned":
        await acted(client, reviewer, submission_id, "return", {"reason": "please check the source"})
    else:
        assert status == "submitted"


async def listed(client: httpx.AsyncClient, token: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/submissions", headers=bearer(token), params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    items: list[dict[str, Any]] = body["items"]
    return items


# ------------------------------------------------------------------------------------- creation


async def test_create_answers_a_draft_and_stores_one_row_revision_and_audit_event(
        app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    before = await stored_counts(app)
    evidence = [{"title": "2024 年垃圾分类台账", "url": "https://example.org/ledger.pdf"}]
    response = await post(client, cgj, {"indicator": "2.3.01", "period": "2024", "value": 75.5,
                                        "note": "全年统计", "evidence": evidence})
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["Location"] == f"/v1/submissions/{body['id']}"
    assert response.headers["ETag"]
    assert {key: body[key] for key in ("indicator", "period", "department", "value", "numerator", "denominator",
                                       "note", "status", "warnings", "version", "submitted_at", "approved_at",
                                       "reviewer_note")} == {
        "indicator": "2.3.01", "period": "2024", "department": "cgj", "value": 75.5, "numerator": None,
        "denominator": None, "note": "全年统计", "status": "draft", "warnings": [], "version": 1,
        "submitted_at": None, "approved_at": None, "reviewer_note": None,
    }
    assert body["evidence"] == evidence
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None
    after = await stored_counts(app)
    assert after == {**before, "submissions": before["submissions"] + 1,
                     "submission_revisions": before["submission_revisions"] + 1,
                     "audit_events": before["audit_events"] + 1}
    revisions = await sql(app, "SELECT revision, action, status, value, department FROM submission_revisions "
                               "WHERE submission_id = :id", id=body["id"])
    assert [tuple(r) for r in revisions] == [(1, "created", "draft", 75.5, "cgj")]
    audit = await sql(app, "SELECT action, entity, department FROM audit_events WHERE entity_id = :id "
                           "AND entity = 'submission'", id=str(body["id"]))
    assert [tuple(r) for r in audit] == [("submission.created", "submission", "cgj")]

    again = await client.get(response.headers["Location"], headers=bearer(cgj))
    assert again.status_code == 200
    assert again.json() == body
    assert again.headers["ETag"] == response.headers["ETag"]


async def test_a_cooperating_department_may_create(app: Any, client: httpx.AsyncClient) -> None:
    fgw = await make_token(app, "fgw", ["submissions:write"])  # cooperates on 1.1.03 (lead gxj)
    body = await create(client, fgw, "1.1.03", "2024", value=12)
    assert (body["department"], body["status"], body["value"]) == ("fgw", "draft", 12)
    zjj = await make_token(app, "zjj", ["submissions:write"])  # cooperates on 2.3.01 (lead cgj)
    assert (await create(client, zjj, "2.3.01", "2023", value=50))["department"] == "zjj"


@pytest.mark.parametrize(("department", "indicator"), [
    ("cgj", "4.1.01"),   # lead sthj, cooperating sfj
    ("gxj", "2.3.01"),   # lead cgj, cooperating zjj
    ("sthj", "1.4.03"),  # lead cgj only
    ("fgw", "1.1.01"),   # lead sthj, cooperating tjj and gxj
])
async def test_a_department_not_responsible_gets_403_and_nothing_is_stored(
        app: Any, client: httpx.AsyncClient, department: str, indicator: str) -> None:
    token = await make_token(app, department, ["submissions:write"])
    before = await stored_counts(app)
    period = "2024Q1" if indicator == "1.4.03" else "2024"
    value = True if indicator == "4.1.01" else 10
    body = assert_problem(await post(client, token, {"indicator": indicator, "period": period, "value": value}),
                          403, "not_responsible")
    assert "existing_id" not in body
    assert await stored_counts(app) == before


async def test_create_needs_the_write_scope_and_a_token(app: Any, client: httpx.AsyncClient) -> None:
    reviewer = await make_token(app, "cgj", ["submissions:review", "aggregates:read"])
    before = await stored_counts(app)
    body = {"indicator": "2.3.01", "period": "2024", "value": 70}
    assert_problem(await client.post("/v1/submissions", json=body), 401, "token_missing")
    assert_problem(await post(client, reviewer, body), 403, "scope_required")
    assert await stored_counts(app) == before


# ---------------------------------------------------------------------- values and computed values


async def test_numerator_and_denominator_compute_a_percent(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    body = await create(client, cgj, "2.3.01", "2024", numerator=45, denominator=60)
    assert body["value"] == pytest.approx(75.0, abs=1e-9)  # 100 × 45 / 60
    assert (body["numerator"], body["denominator"]) == (45, 60)
    row = await stored(app, body["id"])
    assert (row["numerator"], row["denominator"]) == (45, 60)
    assert row["value"] == pytest.approx(75.0, abs=1e-9)


async def test_numerator_and_denominator_compute_a_ratio(app: Any, client: httpx.AsyncClient, sthj: str) -> None:
    body = await create(client, sthj, "1.1.01", "2024", numerator=3, denominator=4)
    assert body["value"] == pytest.approx(0.75, abs=1e-12)  # 3 / 4, not × 100
    assert (await stored(app, body["id"]))["value"] == pytest.approx(0.75, abs=1e-12)


async def test_a_value_within_1e_6_of_the_computed_one_is_accepted(app: Any, client: httpx.AsyncClient,
                                                                   cgj: str) -> None:
    # 100 × 1 / 3 = 33.3333333…; 33.333333 differs by 3.3e-7
    body = await create(client, cgj, "2.3.01", "2024", numerator=1, denominator=3, value=33.333333)
    assert body["value"] == pytest.approx(100 / 3, abs=1e-6)
    assert (await stored(app, body["id"]))["value"] == pytest.approx(100 / 3, abs=1e-6)


# (indicator, fields, value shown, value stored)
ZERO_AND_FALSE: list[tuple[str, dict[str, Any], Any, float]] = [
    ("2.3.01", {"value": 0}, 0, 0.0),                            # percent
    ("2.3.01", {"numerator": 0, "denominator": 5}, 0, 0.0),     # percent computed: 100 × 0 / 5
    ("1.4.01", {"value": 0}, 0, 0.0),                            # quantity (monthly)
    ("3.4.05", {"value": False}, False, 0.0),                    # boolean false
    ("3.4.05", {"value": True}, True, 1.0),
    ("2.3.01", {"value": 100}, 100, 100.0),                      # the top of the percent range
]


async def test_explicit_zero_and_false_are_values(app: Any, client: httpx.AsyncClient, cgj: str,
                                                  subtests: pytest.Subtests) -> None:
    """Every case on one database, each in a year of its own (2024, 2023, …) so no two share an indicator
    and period."""
    for index, (indicator, fields, shown, stored_value) in enumerate(ZERO_AND_FALSE):
        year = 2024 - index
        period = f"{year}-06" if indicator == "1.4.01" else str(year)
        with subtests.test(msg=f"{indicator}-{fields}", period=period):
            body = await create(client, cgj, indicator, period, **fields)
            assert body["value"] == shown
            if isinstance(shown, bool):
                assert body["value"] is shown
            rows = await sql(app, "SELECT value, value IS NULL FROM submissions WHERE id = :id", id=body["id"])
            assert rows[0][0] == stored_value
            assert not rows[0][1]


async def test_a_count_of_zero_is_a_value(app: Any, client: httpx.AsyncClient) -> None:
    gxj = await make_token(app, "gxj", ["submissions:write"])
    body = await create(client, gxj, "1.1.03", "2024", value=0)
    assert body["value"] == 0
    assert (await sql(app, "SELECT value FROM submissions WHERE id = :id", id=body["id"]))[0][0] == 0.0


async def test_a_ratio_may_exceed_one(client: httpx.AsyncClient, sthj: str) -> None:
    body = await create(client, sthj, "1.1.01", "2024", numerator=5, denominator=2)
    assert body["value"] == pytest.approx(2.5)  # 5 / 2: a ratio is only bounded below


async def test_evidence_names_only_files_of_the_own_department(app: Any, client: httpx.AsyncClient, cgj: str,
                                                               sthj: str) -> None:
    theirs = await upload(client, sthj, png_bytes(b"sthj"), "photo.png", "image/png")
    mine = await upload(client, cgj, png_bytes(b"cgj"), "photo.png", "image/png")
    assert (theirs.status_code, mine.status_code) == (201, 201)
    before = await stored_counts(app)
    problem = assert_problem(await post(client, cgj, {"indicator": "2.3.01", "period": "2024", "value": 50,
                                                      "evidence": [theirs.json()["id"]]}), 422, "validation_failed")
    assert issues(problem) == [(["evidence", 0], "unknown_file")]
    assert await stored_counts(app) == before
    link = {"title": "公示", "url": "https://example.org/notice"}
    body = await create(client, cgj, "2.3.01", "2024", value=50, evidence=[mine.json()["id"], link])
    assert body["evidence"] == [mine.json()["id"], link]
    rows = await sql(app, "SELECT file_id FROM submission_evidence_files WHERE submission_id = :id", id=body["id"])
    assert [r[0] for r in rows] == [mine.json()["id"]]


async def test_a_draft_without_a_value_stores_null(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    body = await create(client, cgj, "2.3.01", "2024", note="数据待统计局核实")
    assert body["value"] is None
    assert (await sql(app, "SELECT value IS NULL FROM submissions WHERE id = :id", id=body["id"]))[0][0]


# ------------------------------------------------------------------------------ validation rules

# (department, body, loc, type): every one answers 422 and stores nothing.
INVALID: list[tuple[str, dict[str, Any], list[Any], str]] = [
    # value type
    ("cgj", {"indicator": "2.3.01", "period": "2024", "value": 100.5}, ["value"], "out_of_range"),
    ("cgj", {"indicator": "2.3.01", "period": "2024", "value": -0.1}, ["value"], "out_of_range"),
    ("cgj", {"indicator": "2.3.01", "period": "2024", "value": True}, ["value"], "number_expected"),
    ("cgj", {"indicator": "3.4.05", "period": "2024", "value": 1}, ["value"], "boolean_expected"),
    ("cgj", {"indicator": "3.4.05", "period": "2024", "value": 0}, ["value"], "boolean_expected"),
    ("gxj", {"indicator": "1.1.03", "period": "2024", "value": -1}, ["value"], "out_of_range"),
    ("gxj", {"indicator": "1.1.03", "period": "2024", "value": 2.5}, ["value"], "not_integer"),
    ("sthj", {"indicator": "1.1.01", "period": "2024", "value": -0.01}, ["value"], "out_of_range"),
    ("cgj", {"indicator": "1.4.01", "period": "2024-03", "value": -5}, ["value"], "out_of_range"),
    # a rate of change has no minimum, but a maximum of 100 %
    ("gxj", {"indicator": "1.1.06", "period": "2024", "value": 100.5}, ["value"], "out_of_range"),
    # no maximum, but no plausible figure of landfill reaches 10⁵ 万吨 (a billion tonnes)
    ("sthj", {"indicator": "3.1.01", "period": "2024", "value": 1.2e16}, ["value"], "implausible_magnitude"),
    ("sthj", {"indicator": "1.1.01", "period": "2024", "numerator": 2e12, "denominator": 1}, ["numerator"],
     "implausible_magnitude"),
    ("cgj", {"indicator": "2.3.01", "period": "2024", "numerator": 1, "denominator": 0}, ["denominator"],
     "greater_than"),
    ("cgj", {"indicator": "2.3.01", "period": "2024", "numerator": -1, "denominator": 4}, ["numerator"],
     "greater_than_equal"),
    ("cgj", {"indicator": "2.3.01", "period": "2024", "numerator": 1, "denominator": -4}, ["denominator"],
     "greater_than"),
    ("cgj", {"indicator": "2.3.01", "period": "2024", "value": "75"}, ["value"], "number_or_bool_type"),
    # numerator and denominator
    ("cgj", {"indicator": "2.3.01", "period": "2024", "numerator": 90, "denominator": 60}, ["value"],
     "out_of_range"),  # 100 × 90 / 60 = 150
    ("cgj", {"indicator": "2.3.01", "period": "2024", "numerator": 45, "denominator": 60, "value": 75.5}, ["value"],
     "value_mismatch"),  # computed 75
    ("cgj", {"indicator": "2.3.01", "period": "2024", "numerator": 1, "denominator": 3, "value": 33.3333}, ["value"],
     "value_mismatch"),  # 33.3333… − 33.3333 = 3.3e-5 > 1e-6
    ("cgj", {"indicator": "2.3.01", "period": "2024", "numerator": 45, "denominator": 60, "value": 0.75}, ["value"],
     "value_mismatch"),  # a percent is 100 × n / d, not n / d
    ("sthj", {"indicator": "1.1.01", "period": "2024", "numerator": 3, "denominator": 4, "value": 75}, ["value"],
     "value_mismatch"),  # a ratio is n / d = 0.75, not 100 × n / d
    ("cgj", {"indicator": "2.3.01", "period": "2024", "numerator": 5}, ["denominator"],
     "numerator_denominator_pair"),
    ("cgj", {"indicator": "2.3.01", "period": "2024", "denominator": 5}, ["numerator"],
     "numerator_denominator_pair"),
    ("gxj", {"indicator": "1.1.03", "period": "2024", "numerator": 1, "denominator": 2}, ["numerator"], "not_a_rate"),
    ("cgj", {"indicator": "2.3.01", "period": "2024", "numerator": 1, "denominator": 0}, ["denominator"],
     "greater_than"),
    ("cgj", {"indicator": "2.3.01", "period": "2024", "numerator": -1, "denominator": 5}, ["numerator"],
     "greater_than_equal"),
    # periods: format, frequency, range
    ("cgj", {"indicator": "2.3.01", "period": "2024Q1", "value": 50}, ["period"], "period_frequency"),
    ("cgj", {"indicator": "2.3.01", "period": "2024-01", "value": 50}, ["period"], "period_frequency"),
    ("cgj", {"indicator": "1.4.03", "period": "2024", "value": 50}, ["period"], "period_frequency"),
    ("cgj", {"indicator": "1.4.03", "period": "2024-03", "value": 50}, ["period"], "period_frequency"),
    ("cgj", {"indicator": "1.4.01", "period": "2024Q1", "value": 50}, ["period"], "period_frequency"),
    ("cgj", {"indicator": "1.4.01", "period": "2024", "value": 50}, ["period"], "period_frequency"),
    ("cgj", {"indicator": "2.3.01", "period": "2015", "value": 50}, ["period"], "period_too_early"),
    ("cgj", {"indicator": "1.4.03", "period": "2015Q4", "value": 50}, ["period"], "period_too_early"),
    ("cgj", {"indicator": "1.4.01", "period": "2015-12", "value": 50}, ["period"], "period_too_early"),
    ("cgj", {"indicator": "2.3.01", "period": NEXT_YEAR, "value": 50}, ["period"], "period_not_started"),
    ("cgj", {"indicator": "1.4.03", "period": NEXT_QUARTER, "value": 50}, ["period"], "period_not_started"),
    ("cgj", {"indicator": "1.4.01", "period": NEXT_MONTH, "value": 50}, ["period"], "period_not_started"),
    ("cgj", {"indicator": "1.4.03", "period": "2024Q5", "value": 50}, ["period"], "invalid_period"),
    ("cgj", {"indicator": "1.4.03", "period": "2024Q0", "value": 50}, ["period"], "invalid_period"),
    ("cgj", {"indicator": "1.4.01", "period": "2024-13", "value": 50}, ["period"], "invalid_period"),
    ("cgj", {"indicator": "1.4.01", "period": "2024-00", "value": 50}, ["period"], "invalid_period"),
    ("cgj", {"indicator": "1.4.01", "period": "2024-1", "value": 50}, ["period"], "invalid_period"),
    ("cgj", {"indicator": "2.3.01", "period": "2024年", "value": 50}, ["period"], "invalid_period"),
    ("cgj", {"indicator": "2.3.01", "period": "abcd", "value": 50}, ["period"], "invalid_period"),
    # found by the fuzz suite: years no date can hold answered 500
    ("cgj", {"indicator": "2.3.01", "period": "0000", "value": 50}, ["period"], "invalid_period"),
    ("cgj", {"indicator": "1.4.01", "period": "9999-12", "value": 50}, ["period"], "invalid_period"),
    ("cgj", {"indicator": "2.3.01", "period": "24", "value": 50}, ["period"], "string_too_short"),
    ("cgj", {"indicator": "2.3.01", "value": 50}, ["period"], "missing"),
    # indicators
    ("cgj", {"indicator": "9.9.99", "period": "2024", "value": 50}, ["indicator"], "unknown_indicator"),
    ("lead", {"indicator": "1.4.02", "period": "2024", "value": 3}, ["indicator"], "cells_source"),
    ("wlj", {"indicator": "5.1.04", "period": "2024", "value": 1}, ["indicator"], "cells_source"),
    # unknown fields, including ones a client might try to set itself
    ("cgj", {"indicator": "2.3.01", "period": "2024", "value": 50, "unit": "%"}, ["unit"], "extra_forbidden"),
    ("cgj", {"indicator": "2.3.01", "period": "2024", "value": 50, "status": "approved"}, ["status"],
     "extra_forbidden"),
    ("cgj", {"indicator": "2.3.01", "period": "2024", "value": 50, "department": "sthj"}, ["department"],
     "extra_forbidden"),
    # evidence naming a file nobody in the department uploaded
    ("cgj", {"indicator": "2.3.01", "period": "2024", "value": 50, "evidence": ["0" * 32]}, ["evidence", 0],
     "unknown_file"),
]


async def test_invalid_submissions_get_422_and_change_nothing(app: Any, client: httpx.AsyncClient,
                                                              subtests: pytest.Subtests) -> None:
    """Every case of INVALID on one database: each is refused and leaves the counts as they were before it."""
    tokens: dict[str, str] = {}
    for index, (department, body, loc, kind) in enumerate(INVALID):
        with subtests.test(msg=f"{kind}-{body.get('indicator')}-{index}", department=department, body=body):
            if department not in tokens:
                tokens[department] = await make_token(app, department, ["submissions:write"])
            before = await stored_counts(app)
            problem = assert_problem(await post(client, tokens[department], body), 422,
                                     "out_of_range" if kind == "out_of_range" else "validation_failed")
            assert (loc, kind) in issues(problem), problem
            assert await stored_counts(app) == before


async def test_validation_messages_follow_accept_language(client: httpx.AsyncClient, cgj: str) -> None:
    body = {"indicator": "2.3.01", "period": "2024", "value": 101}
    english = assert_problem(await post(client, cgj, body), 422, "out_of_range")
    chinese = assert_problem(await post(client, cgj, body, **{"Accept-Language": "zh-CN"}), 422, "out_of_range")
    assert issues(english) == issues(chinese) == [(["value"], "out_of_range")]
    assert english["errors"][0]["msg"] == "101 is out of range: it must be between 0 and 100"
    assert chinese["errors"][0]["msg"] == "101 超出取值范围：应在 0 到 100 之间"


FIRST_AND_CURRENT_PERIODS = [
    ("2.3.01", "2016"),          # the earliest year
    ("1.4.03", "2016Q1"),
    ("1.4.01", "2016-01"),
    ("2.3.01", THIS_YEAR),       # the current periods have started
    ("1.4.03", THIS_QUARTER),
    ("1.4.01", THIS_MONTH),
]


async def test_periods_from_2016_to_the_current_one_are_accepted(client: httpx.AsyncClient, cgj: str,
                                                                 subtests: pytest.Subtests) -> None:
    """Every case on one database (each a different indicator and period)."""
    for indicator, period in FIRST_AND_CURRENT_PERIODS:
        with subtests.test(msg=f"{indicator}-{period}"):
            body = await create(client, cgj, indicator, period, value=10)
            assert (body["indicator"], body["period"], body["status"]) == (indicator, period, "draft")


async def test_a_second_submission_for_the_same_indicator_and_period_is_409(
        app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    zjj = await make_token(app, "zjj", ["submissions:write"])
    first = await create(client, cgj, "2.3.01", "2024", value=70)
    before = await stored_counts(app)
    problem = assert_problem(await post(client, cgj, {"indicator": "2.3.01", "period": "2024", "value": 71}),
                             409, "submission_exists")
    assert problem["existing_id"] == first["id"]
    # a cooperating department meets the same submission
    problem = assert_problem(await post(client, zjj, {"indicator": "2.3.01", "period": "2024", "value": 72}),
                             409, "submission_exists")
    assert problem["existing_id"] == first["id"]
    assert await stored_counts(app) == before
    assert (await stored(app, first["id"]))["value"] == 70


async def test_concurrent_creates_for_one_indicator_and_period_store_one(app: Any, cgj: str) -> None:
    """Racing creates (no Idempotency-Key): one row; every loser gets the documented 409."""
    transport = httpx.ASGITransport(app=app)

    async def send(value: int) -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.post("/v1/submissions", headers=bearer(cgj),
                                   json={"indicator": "2.4.01", "period": "2024", "value": value})

    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        assert (await http.get("/v1/me", headers=bearer(cgj))).status_code == 200
    answers = await asyncio.gather(*(send(value) for value in range(10, 18)))
    rows = await sql(app, "SELECT id FROM submissions WHERE indicator = '2.4.01' AND period = '2024'")
    assert len(rows) == 1
    assert sorted(answer.status_code for answer in answers) == [201] + [409] * 7
    for answer in answers:
        if answer.status_code == 409:
            assert assert_problem(answer, 409, "submission_exists")["existing_id"] == rows[0][0]


# ------------------------------------------------------------------------------- reads and lists


async def test_list_filters_by_indicator_period_department_and_status(
        app: Any, client: httpx.AsyncClient, cgj: str, reviewer: str) -> None:
    zjj = await make_token(app, "zjj", ["submissions:write"])
    a = await create(client, cgj, "2.3.01", "2023", value=40)
    b = await create(client, cgj, "2.3.01", "2024", value=45)
    c = await create(client, cgj, "2.4.01", "2024", value=30)
    d = await create(client, cgj, "1.4.03", "2024Q1", value=20)
    e = await create(client, zjj, "2.3.01", "2022", value=35)
    await advance(client, cgj, reviewer, a["id"], "approved")
    await advance(client, cgj, reviewer, c["id"], "submitted")

    def ids(items: list[dict[str, Any]]) -> list[int]:
        return [item["id"] for item in items]

    assert ids(await listed(client, cgj)) == [a["id"], b["id"], c["id"], d["id"]]
    assert ids(await listed(client, cgj, indicator="2.3.01")) == [a["id"], b["id"]]
    assert ids(await listed(client, cgj, period="2024")) == [b["id"], c["id"]]
    assert ids(await listed(client, cgj, period="2024Q1")) == [d["id"]]
    assert ids(await listed(client, cgj, status="draft")) == [b["id"], d["id"]]
    assert ids(await listed(client, cgj, status="submitted")) == [c["id"]]
    assert ids(await listed(client, cgj, status="approved")) == [a["id"]]
    assert ids(await listed(client, cgj, indicator="2.3.01", status="draft")) == [b["id"]]
    assert ids(await listed(client, zjj, department="zjj")) == [e["id"]]
    assert ids(await listed(client, zjj, department="cgj")) == [a["id"]]  # approved ones only
    assert ids(await listed(client, cgj, indicator="9.9.99")) == []
    bad = await client.get("/v1/submissions", headers=bearer(cgj), params={"status": "deleted"})
    assert_problem(bad, 422, "validation_failed")


async def test_cursor_pagination_walks_every_submission_once(client: httpx.AsyncClient, cgj: str) -> None:
    created = [(await create(client, cgj, "1.4.01", f"2024-{month:02d}", value=month))["id"] for month in range(1, 6)]
    pages: list[list[int]] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        response = await client.get("/v1/submissions", headers=bearer(cgj), params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item["id"] for item in body["items"]])
        if body["next_cursor"] is None:
            break
        assert len(pages) < 10
        params["cursor"] = body["next_cursor"]
    assert pages == [created[0:2], created[2:4], created[4:5]]
    assert_problem(await client.get("/v1/submissions", headers=bearer(cgj), params={"cursor": "not-a-cursor"}),
                   400, "invalid_cursor")
    for limit in (0, 501):
        assert_problem(await client.get("/v1/submissions", headers=bearer(cgj), params={"limit": limit}),
                       422, "validation_failed")


async def test_visibility_of_submissions(app: Any, client: httpx.AsyncClient, cgj: str, reviewer: str,
                                         sthj: str) -> None:
    """Own department: all; a reviewer: all but other departments' drafts; anyone else: approved only."""
    draft = await create(client, cgj, "2.3.01", "2021", value=10)
    submitted = await create(client, cgj, "2.3.01", "2022", value=10)
    approved = await create(client, cgj, "2.3.01", "2023", value=10)
    returned = await create(client, cgj, "2.3.01", "2024", value=10)
    await advance(client, cgj, reviewer, submitted["id"], "submitted")
    await advance(client, cgj, reviewer, approved["id"], "approved")
    await advance(client, cgj, reviewer, returned["id"], "returned")
    lead_writer = await make_token(app, "lead", ["submissions:write"])
    lead_draft = await create(client, lead_writer, "4.1.02", "2024", value=True)
    zzwf = await make_token(app, "zzwf", ["aggregates:read"])
    cgj_reader = await make_token(app, "cgj", ["aggregates:read"])  # same department, another token

    everything = {"draft": draft, "submitted": submitted, "approved": approved, "returned": returned,
                  "lead_draft": lead_draft}
    expected = {
        cgj: {"draft", "submitted", "approved", "returned"},
        cgj_reader: {"draft", "submitted", "approved", "returned"},
        reviewer: {"submitted", "approved", "returned", "lead_draft"},  # its own department's draft too
        sthj: {"approved"},
        zzwf: {"approved"},
    }
    for token, names in expected.items():
        seen = [item["id"] for item in await listed(client, token)]
        assert seen == sorted(everything[name]["id"] for name in names), names
        for name, item in everything.items():
            one = await client.get(f"/v1/submissions/{item['id']}", headers=bearer(token))
            revisions = await client.get(f"/v1/submissions/{item['id']}/revisions", headers=bearer(token))
            if name in names:
                assert one.status_code == 200, (name, one.text)
                assert one.json()["status"] == (name if name != "lead_draft" else "draft")
                assert revisions.status_code == 200
            else:
                assert_problem(one, 404, "not_found")
                assert_problem(revisions, 404, "not_found")
    assert_problem(await client.get("/v1/submissions/999999", headers=bearer(cgj)), 404, "not_found")


# ------------------------------------------------------------------------------------------ batch


def batch_items() -> list[dict[str, Any]]:
    return [
        {"indicator": "2.3.01", "period": "2024", "value": 70},
        {"indicator": "1.4.03", "period": "2024Q1", "numerator": 3, "denominator": 4},
        {"indicator": "3.4.05", "period": "2024", "value": True},
        {"indicator": "1.4.01", "period": "2024-02", "value": 0},
    ]


async def post_batch(client: httpx.AsyncClient, token: str, items: list[dict[str, Any]], *,
                     dry_run: bool = False) -> httpx.Response:
    params = {"dry_run": "true"} if dry_run else {}
    return await client.post("/v1/submissions/batch", headers=bearer(token), params=params, json={"items": items})


async def test_batch_creates_every_item_in_order(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    before = await stored_counts(app)
    response = await post_batch(client, cgj, batch_items())
    assert response.status_code == 201, response.text
    items = response.json()["items"]
    assert [(i["indicator"], i["period"], i["status"], i["department"]) for i in items] == [
        ("2.3.01", "2024", "draft", "cgj"), ("1.4.03", "2024Q1", "draft", "cgj"),
        ("3.4.05", "2024", "draft", "cgj"), ("1.4.01", "2024-02", "draft", "cgj"),
    ]
    assert [i["value"] for i in items] == [70, pytest.approx(75.0), True, 0]  # 100 × 3 / 4 = 75
    ids = [i["id"] for i in items]
    assert ids == sorted(ids)
    after = await stored_counts(app)
    assert after["submissions"] == before["submissions"] + 4
    assert after["submission_revisions"] == before["submission_revisions"] + 4
    assert after["audit_events"] == before["audit_events"] + 4
    assert [tuple(r) for r in await sql(app, "SELECT indicator, period FROM submissions ORDER BY id")] == [
        ("2.3.01", "2024"), ("1.4.03", "2024Q1"), ("3.4.05", "2024"), ("1.4.01", "2024-02")]


async def test_one_bad_item_fails_the_batch_and_stores_nothing(app: Any, client: httpx.AsyncClient,
                                                               cgj: str) -> None:
    before = await stored_counts(app)
    items = batch_items()
    items[2] = {"indicator": "3.4.05", "period": "2024", "value": 1}  # a boolean indicator
    problem = assert_problem(await post_batch(client, cgj, items), 422, "validation_failed")
    assert issues(problem) == [(["items", 2, "value"], "boolean_expected")]
    assert await stored_counts(app) == before
    assert await listed(client, cgj) == []


async def test_batch_reports_every_failing_item_by_index(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    before = await stored_counts(app)
    items = [
        {"indicator": "2.3.01", "period": "2024", "value": 120},                 # 0: percent over 100
        {"indicator": "2.4.01", "period": "2024", "value": 20},                  # 1: fine
        {"indicator": "4.1.01", "period": "2024", "value": True},                # 2: sthj's indicator
        {"indicator": "1.4.03", "period": NEXT_QUARTER, "value": 5},             # 3: not started
        {"indicator": "1.4.02", "period": "2024", "value": 5},                   # 4: counted from cells
        {"indicator": "2.4.03", "period": "2024", "value": 5},                   # 5: fine
    ]
    problem = assert_problem(await post_batch(client, cgj, items), 422, "validation_failed")
    assert sorted(issues(problem)) == sorted([
        (["items", 0, "value"], "out_of_range"), (["items", 2, "indicator"], "not_responsible"),
        (["items", 3, "period"], "period_not_started"), (["items", 4, "indicator"], "cells_source"),
    ])
    assert await stored_counts(app) == before


async def test_an_unknown_field_in_one_item_fails_the_batch(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    before = await stored_counts(app)
    items = batch_items()
    items[3]["department"] = "sthj"
    problem = assert_problem(await post_batch(client, cgj, items), 422, "validation_failed")
    assert issues(problem) == [(["items", 3, "department"], "extra_forbidden")]
    assert await stored_counts(app) == before


async def test_batch_refuses_duplicates_inside_it_and_existing_submissions(
        app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    before = await stored_counts(app)
    items = [*batch_items(), {"indicator": "2.3.01", "period": "2024", "value": 71}]
    problem = assert_problem(await post_batch(client, cgj, items), 422, "validation_failed")
    assert issues(problem) == [(["items", 4, "period"], "duplicate_in_batch")]
    assert await stored_counts(app) == before

    existing = await create(client, cgj, "1.4.03", "2024Q1", value=10)
    before = await stored_counts(app)
    problem = assert_problem(await post_batch(client, cgj, batch_items()), 422, "validation_failed")
    assert issues(problem) == [(["items", 1, "indicator"], "submission_exists")]
    assert str(existing["id"]) in problem["errors"][0]["msg"]
    assert await stored_counts(app) == before


async def test_batch_size_is_between_1_and_500(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    before = await stored_counts(app)
    too_many = [{"indicator": "1.4.01", "period": "2024-01", "value": n} for n in range(501)]
    problem = assert_problem(await post_batch(client, cgj, too_many), 422, "validation_failed")
    assert issues(problem) == [(["items"], "too_long")]
    problem = assert_problem(await post_batch(client, cgj, []), 422, "validation_failed")
    assert issues(problem) == [(["items"], "too_short")]
    assert await stored_counts(app) == before


async def test_a_batch_of_500_is_stored(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    """500 distinct (indicator, period) pairs: four monthly indicators led by cgj, 125 months each."""
    admin = await make_token(app, "lead", ["indicators:admin"])
    codes = [f"6.9.0{n}" for n in range(1, 5)]
    for code in codes:
        definition = {
            "code": code, "name_zh": f"测试月度指标{code}", "name_en": f"Monthly test {code}",
            "category": "support", "group": "测试", "kind": "self_selected", "unit": "t",
            "value_type": "quantity", "direction": "decrease", "frequency": "monthly", "baseline": None,
            "target": None, "lead_department": "cgj", "cooperating_departments": [], "definition": "测试",
        }
        response = await client.post("/v1/indicators", headers=bearer(admin), json=definition)
        assert response.status_code == 201, response.text
    months = [f"{2016 + m // 12}-{m % 12 + 1:02d}" for m in range(125)]  # 2016-01 … 2026-05
    items = [{"indicator": code, "period": month, "value": 1.5} for code in codes for month in months]
    assert len(items) == 500
    before = await stored_counts(app)
    response = await post_batch(client, cgj, items)
    assert response.status_code == 201, response.text
    answered = response.json()["items"]
    assert [(i["indicator"], i["period"]) for i in answered] == [(i["indicator"], i["period"]) for i in items]
    after = await stored_counts(app)
    assert after["submissions"] - before["submissions"] == 500
    assert after["submission_revisions"] - before["submission_revisions"] == 500


async def test_dry_run_previews_and_stores_nothing(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    before = await stored_counts(app)
    response = await post_batch(client, cgj, batch_items(), dry_run=True)
    assert response.status_code == 200, response.text
    previews = response.json()["items"]
    assert [(p["indicator"], p["period"], p["department"], p["status"], p["warnings"]) for p in previews] == [
        ("2.3.01", "2024", "cgj", "draft", []), ("1.4.03", "2024Q1", "cgj", "draft", []),
        ("3.4.05", "2024", "cgj", "draft", []), ("1.4.01", "2024-02", "cgj", "draft", []),
    ]
    assert [p["value"] for p in previews] == [70, pytest.approx(75.0), True, 0]
    assert all("id" not in p for p in previews)
    assert await stored_counts(app) == before

    items = batch_items()
    items[0]["value"] = -1
    problem = assert_problem(await post_batch(client, cgj, items, dry_run=True), 422, "out_of_range")
    assert issues(problem) == [(["items", 0, "value"], "out_of_range")]
    assert await stored_counts(app) == before

    # nothing was reserved by the dry run: the same items can be created
    assert (await post_batch(client, cgj, batch_items())).status_code == 201


async def test_batch_needs_the_write_scope(app: Any, client: httpx.AsyncClient, reviewer: str) -> None:
    before = await stored_counts(app)
    assert_problem(await post_batch(client, reviewer, batch_items()), 403, "scope_required")
    assert await stored_counts(app) == before
