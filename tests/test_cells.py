"""The cell registry over HTTP: cell types, applications, edits, the life cycle, every refusal, derived
expiry and the public certificate check.

Concurrent certification is in tests/test_cells_concurrency.py; inspections, quotas and the summary in
tests/test_cells_field.py. Both reuse the helpers defined here.

Reference data used (app/catalogue/data, checked by hand): `school` is jyj's, `scenic` wlj's; both pass
at 80 and stay valid 3 years. School criteria: organization 15, source_reduction 25, sorting 20,
utilization 20, disposal 10, education 10, highlights 10 (bonus); every type has the same checklist,
`disposal` included (every type totals 100).
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.webhooks.delivery import run_forever
from tests.factories import assert_problem, bearer, make_token, sql, sql_write

SHANGHAI = ZoneInfo("Asia/Shanghai")
TABLES = ("cells", "cell_evaluations", "certificates", "certificate_counters", "cell_inspections", "cell_quotas",
          "audit_events", "outbox_events")

# Every type's checklist (code, max points, bonus), in the order the API lists it: bonus last, else by code.
CHECKLIST = [("disposal", 10, False), ("education", 10, False), ("organization", 15, False), ("sorting", 20, False),
             ("source_reduction", 25, False), ("utilization", 20, False), ("highlights", 10, True)]
# 15 + 20 + 20 + 15 + 5 + 5 = 80: exactly the pass score.
PASSING = [{"criterion": "organization", "points": 15}, {"criterion": "source_reduction", "points": 20},
           {"criterion": "sorting", "points": 20}, {"criterion": "utilization", "points": 15},
           {"criterion": "education", "points": 5}, {"criterion": "highlights", "points": 5}]
# The same but 1 point fewer on education: 79, one below the pass score.
FAILING = [*PASSING[:4], {"criterion": "education", "points": 4}, PASSING[5]]


def today() -> date:
    return datetime.now(SHANGHAI).date()


@pytest.fixture
async def jyj(app: Any) -> str:
    return await make_token(app, "jyj", ["cells:write"], name="education bureau")


@pytest.fixture
async def reviewer(app: Any) -> str:
    return await make_token(app, "sthj", ["cells:review"], name="sthj reviewer")


@pytest.fixture
async def lead(app: Any) -> str:
    return await make_token(app, "lead", ["cells:write", "cells:review"], name="lead office")


def school(**overrides: Any) -> dict[str, Any]:
    return {"type": "school", "name": "新密市第一高级中学", "town": "qingpingjie", "address": "青屏大街 1 号",
            "contact": "张老师 13800000000", "latitude": 34.54, "longitude": 113.39, **overrides}


async def apply(client: httpx.AsyncClient, token: str, body: dict[str, Any] | None = None,
                **headers: str) -> httpx.Response:
    return await client.post("/v1/cells", json=body or school(), headers=bearer(token, **headers))


async def applied(client: httpx.AsyncClient, token: str, **overrides: Any) -> dict[str, Any]:
    response = await apply(client, token, school(**overrides))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def evaluate(client: httpx.AsyncClient, token: str, cell_id: int, items: list[dict[str, Any]] | None = None,
                   **headers: str) -> httpx.Response:
    body = {"date": today().isoformat(), "evaluator": "王评审", "items": items or PASSING}
    return await client.post(f"/v1/cells/{cell_id}/evaluations", json=body, headers=bearer(token, **headers))


async def act(client: httpx.AsyncClient, token: str, cell_id: int, action: str,
              body: dict[str, Any] | None = None) -> httpx.Response:
    return await client.post(f"/v1/cells/{cell_id}/{action}", json=body, headers=bearer(token))


async def certified(client: httpx.AsyncClient, writer: str, reviewer: str, **overrides: Any) -> dict[str, Any]:
    cell = await applied(client, writer, **overrides)
    assert (await evaluate(client, reviewer, cell["id"])).status_code == 201
    response = await act(client, reviewer, cell["id"], "certify")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def stored_counts(app: Any) -> dict[str, int]:
    return {table: (await sql(app, f"SELECT COUNT(*) FROM {table}"))[0][0] for table in TABLES}


async def events(app: Any, entity_id: int) -> list[str]:
    rows = await sql(app, "SELECT event FROM outbox_events WHERE entity = 'cell' AND entity_id = :id ORDER BY id",
                     id=str(entity_id))
    return [row[0] for row in rows]


def as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# ------------------------------------------------------------------------------------------ types


async def test_cell_types_list_every_type_with_its_criteria(client: httpx.AsyncClient, jyj: str) -> None:
    response = await client.get("/v1/cell-types", headers=bearer(jyj))
    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    assert [t["code"] for t in body["items"]] == sorted(
        ["agency", "school", "community", "mall", "scenic", "hotel", "hospital", "factory", "park", "village"])
    by_code = {t["code"]: t for t in body["items"]}
    school_type = by_code["school"]
    assert {k: v for k, v in school_type.items() if k != "criteria"} == {
        "code": "school", "name_zh": "无废学校", "name_en": "Zero-waste school", "responsible_department": "jyj",
        "pass_score": 80, "validity_years": 3}
    assert [(c["code"], c["max_points"], c["bonus"]) for c in school_type["criteria"]] == CHECKLIST
    assert set(school_type["criteria"][0]) == {"code", "name_zh", "name_en", "max_points", "bonus"}
    # Every type has the whole checklist: 100 points (disposal included) and the 10-point bonus.
    for cell_type in body["items"]:
        assert [(c["code"], c["max_points"]) for c in cell_type["criteria"]] == [
            (code, points) for code, points, _bonus in CHECKLIST], cell_type["code"]
        assert sum(c["max_points"] for c in cell_type["criteria"] if not c["bonus"]) == 100
    first = await client.get("/v1/cell-types?limit=4", headers=bearer(jyj))
    second = await client.get(f"/v1/cell-types?limit=4&cursor={first.json()['next_cursor']}", headers=bearer(jyj))
    assert [t["code"] for t in second.json()["items"]] == ["hotel", "mall", "park", "scenic"]


# ------------------------------------------------------------------------------------- life cycle


async def test_the_whole_life_cycle(app: Any, client: httpx.AsyncClient, jyj: str, reviewer: str) -> None:
    response = await apply(client, jyj)
    assert response.status_code == 201, response.text
    cell = response.json()
    cell_id = cell["id"]
    assert response.headers["Location"] == f"/v1/cells/{cell_id}"
    assert response.headers["ETag"] == f'"cell-{cell_id}-v1"'
    assert cell["status"] == "applied"
    assert cell["department"] == "jyj"
    assert cell["contact"] == "张老师 13800000000"
    assert cell["certificate_no"] is None

    read = await client.get(f"/v1/cells/{cell_id}", headers=bearer(jyj))
    assert read.json() == cell
    assert read.headers["ETag"] == f'"cell-{cell_id}-v1"'

    url = f"/v1/cells/{cell_id}"
    assert_problem(await client.patch(url, json={"address": "新址"}, headers=bearer(jyj)), 428,
                   "precondition_required")
    assert_problem(await client.patch(url, json={"address": "新址"}, headers=bearer(jyj, **{"If-Match": '"x"'})),
                   412, "precondition_failed")
    edited = await client.patch(url, json={"address": "新址"},
                                headers=bearer(jyj, **{"If-Match": f'"cell-{cell_id}-v1"'}))
    assert edited.status_code == 200, edited.text
    assert edited.json()["address"] == "新址"
    assert edited.headers["ETag"] == f'"cell-{cell_id}-v2"'

    evaluation = await evaluate(client, reviewer, cell_id)
    assert evaluation.status_code == 201, evaluation.text
    assert {k: evaluation.json()[k] for k in ("cell_id", "total", "passed", "department")} == {
        "cell_id": cell_id, "total": 80, "passed": True, "department": "sthj"}
    assert (await client.get(url, headers=bearer(jyj))).json()["status"] == "evaluated"

    done = await act(client, reviewer, cell_id, "certify")
    assert done.status_code == 200, done.text
    first_no = f"XM-WF-{today().year}-SCH-0001"
    assert done.json()["status"] == "certified"
    assert done.json()["certificate_no"] == first_no
    assert done.json()["valid_until"] == today().replace(year=today().year + 3).isoformat()

    locked = await client.patch(url, json={"address": "x"}, headers=bearer(jyj, **{"If-Match": done.headers["ETag"]}))
    assert_problem(locked, 409, "cell_locked")
    assert_problem(await act(client, reviewer, cell_id, "certify"), 409, "invalid_transition")

    assert_problem(await act(client, reviewer, cell_id, "revoke", {}), 422, "validation_failed")
    assert_problem(await act(client, reviewer, cell_id, "revoke", {"reason": "  "}), 422, "validation_failed")
    assert_problem(await client.post(f"{url}/revoke", headers=bearer(reviewer)), 422, "validation_failed")
    assert (await client.get(url, headers=bearer(jyj))).json()["status"] == "certified"
    revoked = await act(client, reviewer, cell_id, "revoke", {"reason": "分类设施已拆除"})
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    assert_problem(await act(client, reviewer, cell_id, "revoke", {"reason": "again"}), 409, "invalid_transition")
    assert (await client.get(f"/public/certificates/{first_no}")).json()["status"] == "revoked"
    assert (await sql(app, "SELECT revoke_reason FROM certificates WHERE certificate_no = :n", n=first_no)) == [
        ("分类设施已拆除",)]

    # Re-certification needs a new evaluation and issues a new number; the old one stays revoked.
    assert_problem(await act(client, reviewer, cell_id, "certify"), 409, "no_evaluation")
    assert (await evaluate(client, reviewer, cell_id)).status_code == 201
    again = await act(client, reviewer, cell_id, "certify")
    assert again.status_code == 200, again.text
    assert again.json()["certificate_no"] == f"XM-WF-{today().year}-SCH-0002"
    assert (await client.get(f"/public/certificates/{first_no}")).json()["status"] == "revoked"
    assert (await client.get(f"/public/certificates/{again.json()['certificate_no']}")).json()["status"] == "certified"

    assert await events(app, cell_id) == ["cell.applied", "cell.evaluated", "cell.certified", "cell.revoked",
                                          "cell.evaluated", "cell.certified"]
    audit = await sql(app, "SELECT action, department FROM audit_events WHERE entity = 'cell' AND entity_id = :id "
                           "ORDER BY id", id=str(cell_id))
    assert audit == [("cell.applied", "jyj"), ("cell.edited", "jyj"), ("cell.evaluated", "sthj"),
                     ("cell.certified", "sthj"), ("cell.revoked", "sthj"), ("cell.evaluated", "sthj"),
                     ("cell.certified", "sthj")]
    payloads = await sql(app, "SELECT data FROM outbox_events WHERE entity_id = :id", id=str(cell_id))
    assert all("contact" not in as_json(row[0]) for row in payloads)


async def test_lead_office_applies_for_any_type_but_does_not_evaluate_its_own(
        client: httpx.AsyncClient, lead: str, reviewer: str) -> None:
    cell = await applied(client, lead, type="village", name="岳村", town="yuecun")
    assert cell["department"] == "lead"
    assert_problem(await evaluate(client, lead, cell["id"]), 403, "self_review")
    response = await evaluate(client, reviewer, cell["id"], [{"criterion": "organization", "points": 15}])
    assert response.json()["passed"] is False
    assert response.json()["total"] == 15


async def test_a_bonus_counts_towards_the_total(client: httpx.AsyncClient, jyj: str, reviewer: str) -> None:
    cell = await applied(client, jyj)
    full = [{"criterion": c, "points": p} for c, p in (("organization", 15), ("source_reduction", 25),
                                                        ("sorting", 20), ("utilization", 20), ("disposal", 10),
                                                        ("education", 10), ("highlights", 10))]
    response = await evaluate(client, reviewer, cell["id"], full)
    assert response.status_code == 201
    assert response.json()["total"] == 110
    assert response.json()["items"] == full


# --------------------------------------------------------------------------------------- refusals


async def test_refused_applications_store_nothing(app: Any, client: httpx.AsyncClient, jyj: str) -> None:
    wlj_reader = await make_token(app, "wlj", ["cells:review"])
    before = await stored_counts(app)
    body = assert_problem(await apply(client, jyj, school(type="castle")), 422, "validation_failed")
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [(["type"], "unknown_type")]
    body = assert_problem(await apply(client, jyj, school(town="atlantis")), 422, "validation_failed")
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [(["town"], "unknown_town")]
    body = assert_problem(await apply(client, jyj, school(latitude=91)), 422, "validation_failed")
    assert body["errors"][0]["loc"] == ["body", "latitude"] or body["errors"][0]["loc"][-1] == "latitude"
    body = assert_problem(await apply(client, jyj, school(evidence=["0" * 32])), 422, "validation_failed")
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [(["evidence", 0], "unknown_file")]
    assert_problem(await apply(client, jyj, school(type="scenic")), 403, "not_responsible_for_type")
    assert_problem(await apply(client, wlj_reader, school(type="scenic")), 403, "scope_required")
    assert await stored_counts(app) == before


async def test_refused_evaluations_store_nothing(app: Any, client: httpx.AsyncClient, jyj: str,
                                                 reviewer: str) -> None:
    cell = await applied(client, jyj)
    jyj_reviewer = await make_token(app, "jyj", ["cells:review"])
    before = await stored_counts(app)
    assert_problem(await evaluate(client, jyj_reviewer, cell["id"]), 403, "self_review")
    assert_problem(await evaluate(client, jyj, cell["id"]), 403, "scope_required")
    items = [{"criterion": "organization", "points": 16}, {"criterion": "nonsense", "points": 1},
             {"criterion": "sorting", "points": -1}, {"criterion": "organization", "points": 1}]
    body = assert_problem(await evaluate(client, reviewer, cell["id"], items), 422, "validation_failed")
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [
        (["items", 0, "points"], "points_out_of_range"), (["items", 1, "criterion"], "unknown_criterion"),
        (["items", 2, "points"], "points_out_of_range"), (["items", 3, "criterion"], "duplicate_criterion")]
    body = assert_problem(await evaluate(client, reviewer, cell["id"], [{"criterion": "sorting", "points": 2.5}]),
                          422, "validation_failed")
    assert body["errors"][0]["loc"][-3:] == ["items", 0, "points"]
    assert_problem(await evaluate(client, reviewer, 999999), 404, "not_found")
    assert await stored_counts(app) == before
    # A criterion of another checklist is unknown; `disposal` is on every type's, scenic areas' too.
    wlj = await make_token(app, "wlj", ["cells:write"])
    scenic = await applied(client, wlj, type="scenic", name="某景区", town="fuxishan")
    body = assert_problem(await evaluate(client, reviewer, scenic["id"], [{"criterion": "recycling", "points": 1}]),
                          422, "validation_failed")
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [(["items", 0, "criterion"], "unknown_criterion")]
    full = await evaluate(client, reviewer, scenic["id"], [{"criterion": "disposal", "points": 10}])
    assert (full.status_code, full.json()["total"]) == (201, 10)


async def test_certify_below_the_pass_mark_or_without_evaluation(app: Any, client: httpx.AsyncClient, jyj: str,
                                                                 reviewer: str) -> None:
    cell = await applied(client, jyj)
    assert_problem(await act(client, reviewer, cell["id"], "certify"), 409, "no_evaluation")
    failing = await evaluate(client, reviewer, cell["id"], FAILING)
    assert (failing.json()["total"], failing.json()["passed"]) == (79, False)
    body = assert_problem(await act(client, reviewer, cell["id"], "certify"), 409, "evaluation_not_passed")
    assert "79" in body["detail"]
    assert_problem(await act(client, await make_token(app, "jyj", ["cells:review"]), cell["id"], "certify"), 403,
                   "self_review")
    # The latest evaluation decides: a pass after a fail certifies.
    assert (await evaluate(client, reviewer, cell["id"])).status_code == 201
    assert (await act(client, reviewer, cell["id"], "certify")).status_code == 200
    assert (await sql(app, "SELECT COUNT(*) FROM certificates"))[0][0] == 1


async def test_wrong_department_may_not_edit(app: Any, client: httpx.AsyncClient, jyj: str) -> None:
    cell = await applied(client, jyj)
    swj = await make_token(app, "swj", ["cells:write"])
    response = await client.patch(f"/v1/cells/{cell['id']}", json={"name": "x"},
                                  headers=bearer(swj, **{"If-Match": f'"cell-{cell["id"]}-v1"'}))
    assert_problem(response, 403, "not_responsible_for_type")
    response = await client.patch(f"/v1/cells/{cell['id']}", json={"town": "nowhere"},
                                  headers=bearer(jyj, **{"If-Match": f'"cell-{cell["id"]}-v1"'}))
    assert [e["loc"] for e in assert_problem(response, 422, "validation_failed")["errors"]] == [["town"]]
    assert (await sql(app, "SELECT version, town FROM cells WHERE id = :id", id=cell["id"])) == [(1, "qingpingjie")]


async def test_an_edit_may_give_links(app: Any, client: httpx.AsyncClient, jyj: str) -> None:
    cell = await applied(client, jyj)
    link = {"title": "2026年垃圾分类台账", "url": "https://example.gov.cn/xinmi/jyj/2026-fenlei"}
    response = await client.patch(f"/v1/cells/{cell['id']}", json={"evidence": [link]},
                                  headers=bearer(jyj, **{"If-Match": f'"cell-{cell["id"]}-v1"'}))
    assert response.status_code == 200, response.text
    assert (response.json()["evidence"], response.json()["version"]) == ([link], 2)
    assert (await client.get(f"/v1/cells/{cell['id']}", headers=bearer(jyj))).json()["evidence"] == [link]
    (stored,) = await sql(app, "SELECT evidence FROM cells WHERE id = :id", id=cell["id"])
    assert as_json(stored[0]) == [link]


# ----------------------------------------------------------------------------- reads and contact


async def test_contact_is_shown_only_to_those_concerned(app: Any, client: httpx.AsyncClient, jyj: str,
                                                        reviewer: str) -> None:
    cell = await applied(client, jyj)
    outsider = await make_token(app, "swj", ["cells:write"])
    lead_reader = await make_token(app, "lead", [])
    for token, visible in ((jyj, True), (reviewer, True), (lead_reader, True), (outsider, False)):
        one = (await client.get(f"/v1/cells/{cell['id']}", headers=bearer(token))).json()
        listed = (await client.get("/v1/cells?type=school", headers=bearer(token))).json()["items"]
        assert one["contact"] == ("张老师 13800000000" if visible else None)
        assert listed[0]["contact"] == one["contact"]


async def test_list_filters_and_pagination(app: Any, client: httpx.AsyncClient, jyj: str, reviewer: str) -> None:
    first = await applied(client, jyj, name="一中")
    second = await certified(client, jyj, reviewer, name="二中", town="micun")
    third = await applied(client, jyj, name="三中")

    async def ids(query: str) -> list[int]:
        response = await client.get(f"/v1/cells?{query}", headers=bearer(jyj))
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert await ids("type=school") == [first["id"], second["id"], third["id"]]
    assert len(await ids("status=planned")) == 3  # the plan's seeded scenic areas
    assert await ids("status=certified") == [second["id"]]
    assert await ids("town=micun&type=school") == [second["id"]]
    assert await ids(f"year={today().year}&type=school") == [first["id"], second["id"], third["id"]]
    assert await ids(f"year={today().year - 1}") == []
    page = await client.get("/v1/cells?type=school&limit=2", headers=bearer(jyj))
    assert [c["id"] for c in page.json()["items"]] == [first["id"], second["id"]]
    rest = await client.get(f"/v1/cells?type=school&limit=2&cursor={page.json()['next_cursor']}",
                            headers=bearer(jyj))
    assert [c["id"] for c in rest.json()["items"]] == [third["id"]]
    assert rest.json()["next_cursor"] is None
    assert_problem(await client.get("/v1/cells?status=lost", headers=bearer(jyj)), 422, "validation_failed")
    assert_problem(await client.get("/v1/cells/424242", headers=bearer(jyj)), 404, "not_found")


async def test_a_planned_cell_is_applied_for_by_its_department(app: Any, client: httpx.AsyncClient) -> None:
    wlj = await make_token(app, "wlj", ["cells:write"])
    planned = (await client.get("/v1/cells?status=planned", headers=bearer(wlj))).json()["items"]
    assert sorted(c["name"] for c in planned) == ["三泉湖景区", "伏羲山红石林景区", "银基国际旅游度假区"]
    target = next(c for c in planned if c["name"] == "伏羲山红石林景区")
    assert (target["type"], target["town"], target["department"]) == ("scenic", "fuxishan", "wlj")
    response = await client.patch(f"/v1/cells/{target['id']}", json={"status": "applied", "contact": "李"},
                                  headers=bearer(wlj, **{"If-Match": f'"cell-{target["id"]}-v1"'}))
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["contact"]) == ("applied", "李")
    again = await client.patch(f"/v1/cells/{target['id']}", json={"status": "applied"},
                               headers=bearer(wlj, **{"If-Match": response.headers["ETag"]}))
    assert_problem(again, 409, "invalid_transition")
    assert await events(app, target["id"]) == ["cell.applied"]


async def test_applying_is_idempotent(app: Any, client: httpx.AsyncClient, jyj: str) -> None:
    first = await apply(client, jyj, school(), **{"Idempotency-Key": "cell-1"})
    second = await apply(client, jyj, school(), **{"Idempotency-Key": "cell-1"})
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert_problem(await apply(client, jyj, school(name="别的"), **{"Idempotency-Key": "cell-1"}), 422,
                   "idempotency_key_reused")
    assert (await sql(app, "SELECT COUNT(*) FROM cells WHERE type = 'school'"))[0][0] == 1


# ------------------------------------------------------------------------------ expiry and public


async def _set_valid_until(app: Any, number: str, day: date) -> None:
    await sql_write(app, "UPDATE cells SET valid_until = :d WHERE certificate_no = :n", d=day, n=number)
    await sql_write(app, "UPDATE certificates SET valid_until = :d WHERE certificate_no = :n", d=day, n=number)


async def test_expiry_on_the_boundary_day(app: Any, client: httpx.AsyncClient, jyj: str, reviewer: str) -> None:
    cell = await certified(client, jyj, reviewer)
    number = cell["certificate_no"]
    await _set_valid_until(app, number, today())  # valid through today (Asia/Shanghai)
    assert (await client.get(f"/v1/cells/{cell['id']}", headers=bearer(jyj))).json()["status"] == "certified"
    assert (await client.get(f"/public/certificates/{number}")).json()["status"] == "certified"

    await _set_valid_until(app, number, today() - timedelta(days=1))
    assert (await client.get(f"/public/certificates/{number}")).json()["status"] == "expired"
    read = await client.get(f"/v1/cells/{cell['id']}", headers=bearer(jyj))
    assert read.json()["status"] == "expired"
    assert read.json()["certificate_no"] == number
    assert (await client.get("/v1/cells?status=expired", headers=bearer(jyj))).json()["items"][0]["id"] == cell["id"]
    assert (await events(app, cell["id"])).count("cell.expired") == 1

    # Re-certifying an expired cell: a new evaluation, then a new number; the old one stays expired.
    assert_problem(await act(client, reviewer, cell["id"], "certify"), 409, "no_evaluation")
    assert (await evaluate(client, reviewer, cell["id"])).status_code == 201
    renewed = await act(client, reviewer, cell["id"], "certify")
    assert renewed.json()["certificate_no"] == f"XM-WF-{today().year}-SCH-0002"
    assert (await client.get(f"/public/certificates/{number}")).json()["status"] == "expired"


async def test_public_certificate_shows_nothing_personal(client: httpx.AsyncClient, jyj: str, reviewer: str) -> None:
    cell = await certified(client, jyj, reviewer)
    response = await client.get(f"/public/certificates/{cell['certificate_no']}")
    assert response.status_code == 200
    assert response.json() == {
        "certificate_no": cell["certificate_no"], "name": "新密市第一高级中学", "type": "school",
        "status": "certified", "certified_at": cell["certified_at"], "valid_until": cell["valid_until"]}
    assert "张老师" not in response.text
    assert "青屏大街" not in response.text
    assert_problem(await client.get("/public/certificates/XM-WF-2020-SCH-9999"), 404, "not_found")


async def test_public_certificate_number_too_long_is_a_documented_problem(client: httpx.AsyncClient) -> None:
    """Found by the fuzz suite: the 422 was answered as problem+json but documented as FastAPI's default."""
    body = assert_problem(await client.get(f"/public/certificates/{'X' * 33}"), 422, "validation_failed")
    assert body["errors"][0]["loc"] == ["path", "certificate_no"]
    documented = (await client.get("/openapi.json")).json()["paths"]["/public/certificates/{certificate_no}"]["get"]
    assert list(documented["responses"]["422"]["content"]) == ["application/problem+json"]


# ------------------------------------------------------------------------------- evaluations read


async def test_evaluations_are_read_back_by_every_token(app: Any, client: httpx.AsyncClient, jyj: str,
                                                        reviewer: str) -> None:
    cell = await applied(client, jyj)
    other = await applied(client, jyj, name="另一所学校")
    outsider = await make_token(app, "swj", [])
    posted = [await evaluate(client, reviewer, cell["id"], FAILING), await evaluate(client, reviewer, cell["id"])]
    assert [p.status_code for p in posted] == [201, 201]
    assert [(p.json()["total"], p.json()["passed"]) for p in posted] == [(79, False), (80, True)]
    for response in posted:
        location = response.headers["Location"]
        assert location == f"/v1/cells/{cell['id']}/evaluations/{response.json()['id']}"
        for token in (outsider, jyj, reviewer):
            followed = await client.get(location, headers=bearer(token))
            assert followed.status_code == 200, followed.text
            assert followed.json() == response.json()

    url = f"/v1/cells/{cell['id']}/evaluations"
    listed = await client.get(url, headers=bearer(outsider))
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"items": [p.json() for p in posted], "next_cursor": None}
    first = await client.get(f"{url}?limit=1", headers=bearer(outsider))
    assert first.json()["items"] == [posted[0].json()]
    rest = await client.get(f"{url}?limit=1&cursor={first.json()['next_cursor']}", headers=bearer(outsider))
    assert rest.json() == {"items": [posted[1].json()], "next_cursor": None}
    assert (await client.get(f"/v1/cells/{other['id']}/evaluations", headers=bearer(jyj))).json() == {
        "items": [], "next_cursor": None}

    evaluation_id = posted[0].json()["id"]
    assert_problem(await client.get(f"/v1/cells/{other['id']}/evaluations/{evaluation_id}", headers=bearer(jyj)),
                   404, "not_found")
    assert_problem(await client.get(f"{url}/424242", headers=bearer(jyj)), 404, "not_found")
    assert_problem(await client.get(f"/v1/cells/424242/evaluations/{evaluation_id}", headers=bearer(jyj)), 404,
                   "not_found")
    assert_problem(await client.get("/v1/cells/424242/evaluations", headers=bearer(jyj)), 404, "not_found")
    assert_problem(await client.get(f"{url}/0", headers=bearer(jyj)), 422, "validation_failed")
    cells_cursor = (await client.get("/v1/cells?limit=1", headers=bearer(jyj))).json()["next_cursor"]
    assert_problem(await client.get(f"{url}?cursor={cells_cursor}", headers=bearer(jyj)), 400, "invalid_cursor")
    assert_problem(await client.get(url), 401, "token_missing")


# ---------------------------------------------------------------------------------- Excel export

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADERS = ["编号", "类型", "名称", "乡镇", "地址", "状态", "证书编号", "认证日期", "有效期至", "联系方式"]


async def test_the_list_as_a_workbook(app: Any, client: httpx.AsyncClient, jyj: str, reviewer: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from openpyxl import load_workbook

    from app.cells import export

    await applied(client, jyj, name="一中")
    await certified(client, jyj, reviewer, name="二中", town="micun", address=None)
    await applied(client, jyj, name="三中", contact=None)
    outsider = await make_token(app, "swj", [])
    towns = dict(await sql(app, "SELECT code, name_zh FROM towns"))

    async def sheet_rows(token: str, query: str) -> list[list[Any]]:
        response = await client.get(f"/v1/cells?{query}&format=xlsx", headers=bearer(token))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == XLSX
        assert response.headers["content-disposition"].startswith("attachment; filename=")
        workbook = load_workbook(io.BytesIO(response.content))
        sheet = workbook.active
        assert sheet is not None
        assert sheet.freeze_panes == "A2"
        assert all((sheet.column_dimensions[letter].width or 0) >= 8 for letter in "ABCDEFGHIJ")
        rows = [list(row) for row in sheet.iter_rows(values_only=True)]
        assert rows[0] == HEADERS
        return rows[1:]

    def expected(cells: list[dict[str, Any]]) -> list[list[Any]]:
        return [[c["id"], c["type"], c["name"], towns[c["town"]], c["address"], c["status"], c["certificate_no"],
                 datetime.fromisoformat(c["certified_at"]).astimezone(SHANGHAI).date() if c["certified_at"] else None,
                 date.fromisoformat(c["valid_until"]) if c["valid_until"] else None, c["contact"]] for c in cells]

    def dated(rows: list[list[Any]]) -> list[list[Any]]:  # openpyxl reads dates back as midnight datetimes
        return [[v.date() if isinstance(v, datetime) else v for v in row] for row in rows]

    for token in (jyj, outsider):
        for query in ("type=school&limit=1", "status=certified", "town=micun&type=school", f"year={today().year}",
                      "type=castle"):
            listed = (await client.get(f"/v1/cells?{query.replace('limit=1', 'limit=500')}",
                                       headers=bearer(token))).json()
            assert listed["next_cursor"] is None
            assert dated(await sheet_rows(token, query)) == expected(listed["items"]), query
    schools = dated(await sheet_rows(jyj, "type=school"))
    assert [(r[2], r[3], r[5], r[9]) for r in schools] == [
        ("一中", "青屏街街道", "applied", "张老师 13800000000"), ("二中", "米村镇", "certified", "张老师 13800000000"),
        ("三中", "青屏街街道", "applied", None)]
    assert schools[1][6].startswith(f"XM-WF-{today().year}-SCH-")
    assert schools[1][7] == today()
    assert [r[9] for r in dated(await sheet_rows(outsider, "type=school"))] == [None, None, None]

    monkeypatch.setattr(export, "EXPORT_LIMIT", 2)
    body = assert_problem(await client.get("/v1/cells?type=school&format=xlsx", headers=bearer(jyj)), 422,
                          "export_too_large")
    assert "2" in body["detail"]
    assert len(await sheet_rows(jyj, "type=school&status=applied")) == 2
    assert_problem(await client.get("/v1/cells?format=pdf", headers=bearer(jyj)), 422, "validation_failed")


async def test_the_worker_observes_an_expiry_without_any_cell_request(app: Any, client: httpx.AsyncClient, jyj: str,
                                                                      reviewer: str) -> None:
    cell = await certified(client, jyj, reviewer)
    await _set_valid_until(app, cell["certificate_no"], today() - timedelta(days=1))
    stop = asyncio.Event()
    worker = asyncio.create_task(run_forever(app.state.database, app.state.settings, stop))
    try:
        for _ in range(100):
            if "cell.expired" in await events(app, cell["id"]):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)
    assert (await events(app, cell["id"])).count("cell.expired") == 1
    assert (await sql(app, "SELECT status FROM cells WHERE id = :i", i=cell["id"]))[0][0] == "expired"
