"""GET /v1/scores/departments: per department its led indicators' score, completeness and timeliness.

Worked out by hand from the catalogue (app/catalogue/data/indicators.csv). Departments that lead at least
one indicator, in code order, with what they lead:
  cgj  1.4.01 (monthly), 1.4.03 (quarterly), 2.3.01, 2.4.01, 2.4.03, 3.4.01, 3.4.03, 3.4.05 (annual)
  fgw  1.1.05, 1.4.04, 2.1.03, 4.3.01
  gxj  1.1.03, 1.1.06
  lead 1.4.02 (source cells), 4.1.02, 4.1.03
  nyj  1.2.01, 1.2.02, 1.2.03, 2.2.01, 2.2.02, 2.2.03, 2.2.04, 2.2.05, 3.2.01
  sthj 1.1.01, 1.1.02, 2.1.01, 2.1.02, 2.4.05, 3.1.01, 3.1.02, 3.1.05, 4.1.01, 4.4.01, 4.4.02, 5.1.01, 5.1.02,
       5.1.03
  swj  2.4.02;  wjw 3.4.02;  wlj 5.1.04 (source cells);  zjj 1.3.01, 1.3.02, 2.4.04, 3.4.04;  zrzy 1.1.04
  (8 + 4 + 2 + 3 + 9 + 14 + 1 + 1 + 1 + 4 + 1 = 48.) Every indicator except 1.4.01 and 1.4.03 is annual.

Expected (indicator, period) pairs for period 2025 (every period of 2025 has ended): cgj 12 months of
1.4.01 + 4 quarters of 1.4.03 + 6 annual = 22; fgw 4; gxj 2; lead 2 (1.4.02 is fed by the registry);
nyj 9; sthj 14; swj 1; wjw 1; wlj 0; zjj 4; zrzy 1.

Deadlines (30 days by default) are Asia/Shanghai midnights: the period's end + 30 days. For 2025:
annual 2025 and 2025-12 and 2025Q4 end 2026-01-01 → deadline 2026-01-31T00:00+08:00; 2025-11 ends
2025-12-01 → 2025-12-31T00:00+08:00; 2025-10 ends 2025-11-01 → 2025-12-01T00:00+08:00. All have passed,
so whatever is submitted through the API today is late and whatever was never submitted is overdue; an
on-time first submission is written straight to the tables with its real (past) moments.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.main import create_app
from app.submissions.models import Submission, SubmissionRevision
from tests.factories import assert_problem, bearer, make_token, sql
from tests.test_scores import get_scores, instant, item, report
from tests.test_submissions import acted

DEPARTMENTS = ["cgj", "fgw", "gxj", "lead", "nyj", "sthj", "swj", "wjw", "wlj", "zjj", "zrzy"]
LEADS = {
    "cgj": ["1.4.01", "1.4.03", "2.3.01", "2.4.01", "2.4.03", "3.4.01", "3.4.03", "3.4.05"],
    "fgw": ["1.1.05", "1.4.04", "2.1.03", "4.3.01"],
    "gxj": ["1.1.03", "1.1.06"],
    "lead": ["1.4.02", "4.1.02", "4.1.03"],
    "nyj": ["1.2.01", "1.2.02", "1.2.03", "2.2.01", "2.2.02", "2.2.03", "2.2.04", "2.2.05", "3.2.01"],
    "sthj": ["1.1.01", "1.1.02", "2.1.01", "2.1.02", "2.4.05", "3.1.01", "3.1.02", "3.1.05", "4.1.01", "4.4.01",
             "4.4.02", "5.1.01", "5.1.02", "5.1.03"],
    "swj": ["2.4.02"],
    "wjw": ["3.4.02"],
    "wlj": ["5.1.04"],
    "zjj": ["1.3.01", "1.3.02", "2.4.04", "3.4.04"],
    "zrzy": ["1.1.04"],
}
EXPECTED_2025 = {"cgj": 22, "fgw": 4, "gxj": 2, "lead": 2, "nyj": 9, "sthj": 14, "swj": 1, "wjw": 1, "wlj": 0,
                 "zjj": 4, "zrzy": 1}
ITEM_KEYS = {"department", "name_zh", "name_en", "score", "coverage", "indicators", "completeness", "timeliness"}


@pytest.fixture
async def cgj(app: Any) -> str:
    return await make_token(app, "cgj", ["submissions:write"], name="cgj writer")


@pytest.fixture
async def reviewer(app: Any) -> str:
    return await make_token(app, "lead", ["submissions:review"], name="lead office reviewer")


@pytest.fixture
async def reader(app: Any) -> str:
    return await make_token(app, "tjj", [], name="reader")


async def scorecards(client: httpx.AsyncClient, token: str, period: str, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/scores/departments", headers=bearer(token), params={"period": period, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def card(body: dict[str, Any], department: str) -> dict[str, Any]:
    found = [entry for entry in body["items"] if entry["department"] == department]
    assert len(found) == 1, department
    return found[0]


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


@asynccontextmanager
async def client_with(database_url: str, tmp_path: Path, **overrides: Any) -> AsyncIterator[tuple[Any, Any]]:
    """An app and client on the test's database with settings of our own (like conftest's fixtures)."""
    settings = Settings(database_url=database_url, files_dir=tmp_path / "files", webhook_allow_private=True,
                        _env_file=None, **overrides)  # type: ignore[call-arg]
    application = create_app(settings)
    try:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield application, http
    finally:
        await application.state.database.dispose()


async def backdated(app: Any, indicator: str, period: str, start: date, end: date, value: float,
                    steps: list[tuple[str, str, str]]) -> int:
    """A cgj submission whose history happened in the past: ``steps`` are (action, resulting status, moment).

    Written to the tables the API keeps (the row and one revision per step), as the API would have."""
    times = [moment(at) for _action, _status, at in steps]
    submitted = [moment(at) for action, _status, at in steps if action == "submitted"]
    approved = [moment(at) for action, _status, at in steps if action == "approved"]
    status = steps[-1][1]
    async with app.state.database.sessionmaker() as session, session.begin():
        row = Submission(indicator=indicator, indicator_version=1, period=period, period_start=start, period_end=end,
                         department="cgj", value=value, note="补录", evidence=[], status=status,
                         version=len(steps), created_at=times[0], updated_at=times[-1],
                         submitted_at=submitted[-1] if submitted else None,
                         approved_at=approved[-1] if status == "approved" else None)
        session.add(row)
        await session.flush()
        assert row.id is not None
        for revision, (action, state, at) in enumerate(steps, start=1):
            department = "lead" if action in ("approved", "returned", "reopened") else "cgj"
            session.add(SubmissionRevision(submission_id=row.id, revision=revision, action=action, at=moment(at),
                                           indicator=indicator, period=period, status=state, value=value,
                                           note="补录", evidence=[], department=department,
                                           reason="请核实" if action == "returned" else None))
        return row.id


# --------------------------------------------------------------------------------------- shape


async def test_every_leading_department_in_code_order(app: Any, client: httpx.AsyncClient, reader: str) -> None:
    body = await scorecards(client, reader, "2025")
    assert set(body) == {"period", "as_of", "include", "deadline_days", "items", "next_cursor"}
    assert (body["period"], body["as_of"], body["include"], body["deadline_days"], body["next_cursor"]) == (
        "2025", None, "approved", 30, None)
    assert [entry["department"] for entry in body["items"]] == DEPARTMENTS
    scores = await get_scores(client, reader, "2025")
    for entry in body["items"]:
        department = entry["department"]
        assert set(entry) == ITEM_KEYS
        assert [indicator["code"] for indicator in entry["indicators"]] == LEADS[department]
        # the same items as /v1/scores
        assert entry["indicators"] == [item(scores, code) for code in LEADS[department]]
        expected = EXPECTED_2025[department]
        assert entry["completeness"] == {"expected": expected, "submitted": 0, "approved": 0,
                                         "rate": 0.0 if expected else None}
        # every deadline of 2025 has passed and nothing was submitted: all overdue
        assert entry["timeliness"] == {"on_time": 0, "late": 0, "overdue": expected,
                                       "rate": 0.0 if expected else None}
        if department == "wlj":
            # 5.1.04: 0 scenic cells against 3 → 0; 1 of 1 scored
            assert (entry["score"], entry["coverage"]) == (0.0, 1.0)
        else:
            assert (entry["score"], entry["coverage"]) == (None, 0.0), department
    cgj = card(body, "cgj")
    assert (cgj["name_zh"], cgj["name_en"]) == ("新密市城市管理局", "Urban Management Bureau")
    wlj = card(body, "wlj")
    assert (wlj["name_zh"], wlj["name_en"]) == ("新密市文化广电和旅游局",
                                                "Culture, Radio, Television and Tourism Bureau")


async def test_pages_of_four(app: Any, client: httpx.AsyncClient, reader: str) -> None:
    pages: list[list[str]] = []
    params: dict[str, Any] = {"limit": 4}
    while True:
        body = await scorecards(client, reader, "2025", **params)
        pages.append([entry["department"] for entry in body["items"]])
        if body["next_cursor"] is None:
            break
        assert len(pages) < 5
        params["cursor"] = body["next_cursor"]
    assert pages == [DEPARTMENTS[0:4], DEPARTMENTS[4:8], DEPARTMENTS[8:11]]  # 4 + 4 + 3 = 11


@pytest.mark.parametrize("limit", [0, 501, -1, "ten"])
async def test_bad_limits_are_422(client: httpx.AsyncClient, reader: str, limit: Any) -> None:
    response = await client.get("/v1/scores/departments", headers=bearer(reader),
                                params={"period": "2025", "limit": limit})
    assert response.status_code == 422, response.text
    assert [error["loc"][-1] for error in response.json()["errors"]] == ["limit"]


async def test_a_garbage_cursor_is_400(client: httpx.AsyncClient, reader: str) -> None:
    response = await client.get("/v1/scores/departments", headers=bearer(reader),
                                params={"period": "2025", "cursor": "garbage"})
    assert_problem(response, 400, "invalid_cursor")


# -------------------------------------------------------------- completeness and timeliness


async def test_completeness_and_timeliness_of_one_department(app: Any, client: httpx.AsyncClient, cgj: str,
                                                            reviewer: str, reader: str) -> None:
    # a: first submitted 2026-01-20, before its deadline 2026-01-31T00:00+08:00 → on time; approved
    await backdated(app, "2.3.01", "2025", date(2025, 1, 1), date(2026, 1, 1), 30, [
        ("created", "draft", "2026-01-15T09:00:00+08:00"),
        ("submitted", "submitted", "2026-01-20T10:00:00+08:00"),
        ("approved", "approved", "2026-01-25T10:00:00+08:00")])
    # b: first submitted 2026-02-05, after 2026-01-31 → late; approved
    await backdated(app, "3.4.05", "2025", date(2025, 1, 1), date(2026, 1, 1), 1, [
        ("created", "draft", "2026-02-01T09:00:00+08:00"),
        ("submitted", "submitted", "2026-02-05T10:00:00+08:00"),
        ("approved", "approved", "2026-02-06T10:00:00+08:00")])
    # c: submitted exactly at its deadline (2025-12 ends 2026-01-01, + 30 days) → on time; still submitted
    await backdated(app, "1.4.01", "2025-12", date(2025, 12, 1), date(2026, 1, 1), 1.1, [
        ("created", "draft", "2026-01-10T09:00:00+08:00"),
        ("submitted", "submitted", "2026-01-31T00:00:00+08:00")])
    # d: one second after its deadline (2025-11 ends 2025-12-01, + 30 days = 2025-12-31T00:00+08:00) → late
    await backdated(app, "1.4.01", "2025-11", date(2025, 11, 1), date(2025, 12, 1), 1.1, [
        ("created", "draft", "2025-12-10T09:00:00+08:00"),
        ("submitted", "submitted", "2025-12-31T00:00:01+08:00")])
    # e: first submitted 2025-11-20, before 2025-12-01T00:00+08:00 → on time, although returned and submitted
    #    again long after the deadline
    await backdated(app, "1.4.01", "2025-10", date(2025, 10, 1), date(2025, 11, 1), 1.1, [
        ("created", "draft", "2025-11-15T09:00:00+08:00"),
        ("submitted", "submitted", "2025-11-20T10:00:00+08:00"),
        ("returned", "returned", "2025-11-25T10:00:00+08:00"),
        ("submitted", "submitted", "2026-03-01T10:00:00+08:00")])
    # f: submitted today (late) and returned: late, but not submitted any more
    await report(client, cgj, reviewer, "1.4.03", "2025Q4", 90, "returned")
    # g: a draft never submitted → overdue
    await report(client, cgj, reviewer, "2.4.01", "2025", 50, "draft")

    body = await scorecards(client, reader, "2025")
    entry = card(body, "cgj")
    # expected 22; currently submitted or approved: a, b, c, d, e = 5; approved: a, b = 2; 5 / 22 = 0.22727… → 0.2273
    assert entry["completeness"] == {"expected": 22, "submitted": 5, "approved": 2, "rate": 0.2273}
    # on time a, c, e = 3; late b, d, f = 3; overdue 22 − 6 = 16 (g among them); 3 / 22 = 0.13636… → 0.1364
    assert entry["timeliness"] == {"on_time": 3, "late": 3, "overdue": 16, "rate": 0.1364}
    # 2.3.01: 100 × 30 / 40 = 75; 3.4.05: true → 100; (75 + 100) / 2 = 87.5; 2 of 8 scored → 0.25
    assert (entry["score"], entry["coverage"]) == (87.5, 0.25)
    scores = await get_scores(client, reader, "2025")
    assert entry["indicators"] == [item(scores, code) for code in LEADS["cgj"]]
    assert item(scores, "2.3.01")["score"] == 75.0
    assert item(scores, "3.4.05")["score"] == 100.0
    # the other departments are untouched
    assert card(body, "fgw")["timeliness"] == {"on_time": 0, "late": 0, "overdue": 4, "rate": 0.0}

    # With submitted values the score does not move (1.4.01 has no target; 1.4.03's only 2025 value is returned)
    wider = await scorecards(client, reader, "2025", include="submitted")
    assert wider["include"] == "submitted"
    entry = card(wider, "cgj")
    assert (entry["score"], entry["coverage"]) == (87.5, 0.25)
    monthly = next(indicator for indicator in entry["indicators"] if indicator["code"] == "1.4.01")
    assert (monthly["period"], monthly["value"], monthly["status"]) == ("2025-12", 1.1, "no_target")
    assert entry["completeness"] == {"expected": 22, "submitted": 5, "approved": 2, "rate": 0.2273}


async def test_a_closed_quarter_this_year(app: Any, client: httpx.AsyncClient, cgj: str, reviewer: str,
                                          reader: str) -> None:
    # 2026Q3 ended 2026-10-01: cgj expects 2026-07, 2026-08, 2026-09 (1.4.01) and 2026Q3 (1.4.03) = 4; its
    # annual indicators have no period inside a quarter. Deadlines: 2026-08-31, 2026-10-01, 2026-10-31 and
    # 2026-10-31 (Beijing midnights), all passed.
    await report(client, cgj, reviewer, "1.4.01", "2026-09", 1.05, "submitted")  # today: late
    body = await scorecards(client, reader, "2026Q3")
    assert body["period"] == "2026Q3"
    entry = card(body, "cgj")
    assert entry["completeness"] == {"expected": 4, "submitted": 1, "approved": 0, "rate": 0.25}  # 1 / 4
    assert entry["timeliness"] == {"on_time": 0, "late": 1, "overdue": 3, "rate": 0.0}  # 0 / 4
    for department in DEPARTMENTS:
        if department != "cgj":  # annual indicators only
            other = card(body, department)
            assert other["completeness"] == {"expected": 0, "submitted": 0, "approved": 0, "rate": None}
            assert other["timeliness"] == {"on_time": 0, "late": 0, "overdue": 0, "rate": None}


async def test_a_longer_deadline_from_the_settings(database_url: str, tmp_path: Path) -> None:
    async with client_with(database_url, tmp_path, submission_deadline_days=366) as (application, http):
        cgj = await make_token(application, "cgj", ["submissions:write"])
        reviewer = await make_token(application, "lead", ["submissions:review"])
        await report(http, cgj, reviewer, "1.4.01", "2026-09", 1.05, "submitted")
        body = await scorecards(http, cgj, "2026Q3")
        assert body["deadline_days"] == 366
        entry = card(body, "cgj")
        # 2026Q3: 2026-07, 2026-08, 2026-09 and 2026Q3 = 4 pairs; the earliest deadline is 2026-08-01 + 366 days
        # = 2027-08-02: submitted today is on time, and nothing is overdue yet.
        assert entry["timeliness"] == {"on_time": 1, "late": 0, "overdue": 0, "rate": 1.0}  # 1 / 1
        assert entry["completeness"] == {"expected": 4, "submitted": 1, "approved": 0, "rate": 0.25}  # 1 / 4
        # 2025 with the same setting: 2.3.01's deadline 2026-01-01 + 366 days = 2027-01-02
        await report(http, cgj, reviewer, "2.3.01", "2025", 30, "approved")
        entry = card(await scorecards(http, cgj, "2025"), "cgj")
        assert entry["completeness"]["approved"] == 1
        assert entry["timeliness"]["on_time"] == 1


async def test_deadline_days_from_the_environment(database_url: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZWC_SUBMISSION_DEADLINE_DAYS", "45")
    async with client_with(database_url, tmp_path) as (application, http):
        reader = await make_token(application, "tjj", [])
        body = await scorecards(http, reader, "2026Q3")
        assert body["deadline_days"] == 45
        # 2026-07 → 2026-09-15, 2026-08 → 2026-10-16, 2026-09 and 2026Q3 → 2026-11-15: all passed
        assert card(body, "cgj")["timeliness"] == {"on_time": 0, "late": 0, "overdue": 4, "rate": 0.0}


async def test_as_of_on_the_scorecards(app: Any, client: httpx.AsyncClient, cgj: str, reviewer: str,
                                       reader: str) -> None:
    approved = await report(client, cgj, reviewer, "2.3.01", "2024", 30, "approved")
    reopened = await acted(client, reviewer, approved["id"], "reopen", {"reason": "数据有误"})
    assert reopened["status"] == "returned"

    now = card(await scorecards(client, reader, "2024"), "cgj")
    assert (now["score"], now["coverage"]) == (None, 0.0)
    # 2024: 22 pairs like 2025; the reopened one is no longer submitted, but it was submitted (late: today)
    assert now["completeness"] == {"expected": 22, "submitted": 0, "approved": 0, "rate": 0.0}
    assert now["timeliness"] == {"on_time": 0, "late": 1, "overdue": 21, "rate": 0.0}

    body = await scorecards(client, reader, "2024", as_of=approved["approved_at"])
    assert instant(body["as_of"]) == instant(approved["approved_at"])
    then = card(body, "cgj")
    # 2.3.01 approved then: 100 × 30 / 40 = 75, 1 of 8 → 0.125
    assert (then["score"], then["coverage"]) == (75.0, 0.125)
    assert then["completeness"] == {"expected": 22, "submitted": 1, "approved": 1, "rate": 0.0455}  # 1 / 22
    assert then["timeliness"] == {"on_time": 0, "late": 1, "overdue": 21, "rate": 0.0}


async def test_reading_scorecards_writes_nothing(app: Any, client: httpx.AsyncClient, cgj: str, reviewer: str,
                                                 reader: str) -> None:
    await report(client, cgj, reviewer, "2.3.01", "2025", 30)
    counts = [(await sql(app, f"SELECT COUNT(*) FROM {table}"))[0][0]
              for table in ("audit_events", "outbox_events", "submissions", "submission_revisions")]
    for period in ("2025", "2026", "2026Q3", "2025-12"):
        await scorecards(client, reader, period)
    assert [(await sql(app, f"SELECT COUNT(*) FROM {table}"))[0][0]
            for table in ("audit_events", "outbox_events", "submissions", "submission_revisions")] == counts
