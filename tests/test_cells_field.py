"""Inspections from mobile apps, quotas, and the summary per type worked out by hand."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import assert_problem, bearer, make_token, sql
from tests.test_cells import act, applied, certified, evaluate, today
from tests.test_files import png_bytes, upload


def inspection(**overrides: Any) -> dict[str, Any]:
    return {"inspected_at": "2026-05-01T09:30:00+08:00", "inspector": "赵巡查", "findings": "分类桶满溢",
            "score": 85.5, "latitude": 34.5, "longitude": 113.4, **overrides}


async def test_inspections_from_the_field(app: Any, client: httpx.AsyncClient) -> None:
    jyj = await make_token(app, "jyj", ["cells:write"])
    swj = await make_token(app, "swj", ["cells:write"])
    cell = await applied(client, jyj)
    url = f"/v1/cells/{cell['id']}/inspections"
    own = (await upload(client, jyj, png_bytes(b"own"), "p.png", "image/png")).json()["id"]
    theirs = (await upload(client, swj, png_bytes(b"theirs"), "q.png", "image/png")).json()["id"]

    refused = await client.post(url, json=inspection(photos=[own, theirs]), headers=bearer(jyj))
    body = assert_problem(refused, 422, "validation_failed")
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [(["photos", 1], "unknown_file")]
    assert_problem(await client.post(url, json=inspection(latitude=-91), headers=bearer(jyj)), 422,
                   "validation_failed")
    assert_problem(await client.post(url, json=inspection(), headers=bearer(swj)), 403, "not_responsible_for_type")
    assert (await sql(app, "SELECT COUNT(*) FROM cell_inspections"))[0][0] == 0

    headers = bearer(jyj, **{"Idempotency-Key": "inspection-7"})
    first = await client.post(url, json=inspection(photos=[own]), headers=headers)
    again = await client.post(url, json=inspection(photos=[own]), headers=headers)
    assert first.status_code == again.status_code == 201, first.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    out = first.json()
    assert (out["inspected_at"], out["photos"], out["department"], out["score"]) == (
        "2026-05-01T01:30:00Z", [own], "jyj", 85.5)
    assert (await sql(app, "SELECT COUNT(*) FROM cell_inspections"))[0][0] == 1
    assert (await sql(app, "SELECT COUNT(*) FROM outbox_events WHERE event = 'cell.inspected'"))[0][0] == 1

    listed = await client.get(url, headers=bearer(jyj))
    assert listed.json() == {"items": [out], "next_cursor": None}
    assert_problem(await client.get(url, headers=bearer(swj)), 403, "not_responsible_for_type")


async def test_quotas_and_the_summary(app: Any, client: httpx.AsyncClient) -> None:
    jyj = await make_token(app, "jyj", ["cells:write"])
    reviewer = await make_token(app, "sthj", ["cells:review"])
    writer_only = await make_token(app, "jyj", ["cells:write"])
    year = today().year

    assert_problem(await client.put(f"/v1/cell-quotas/{year}/school", json={"quota": 4}, headers=bearer(jyj)), 403,
                   "scope_required")
    assert_problem(await client.put(f"/v1/cell-quotas/{year}/school", json={"quota": -1},
                                    headers=bearer(reviewer)), 422, "validation_failed")
    assert_problem(await client.put(f"/v1/cell-quotas/{year}/castle", json={"quota": 1},
                                    headers=bearer(reviewer)), 422, "validation_failed")
    put = await client.put(f"/v1/cell-quotas/{year}/school", json={"quota": 5}, headers=bearer(reviewer))
    assert put.status_code == 200, put.text
    put = await client.put(f"/v1/cell-quotas/{year}/school", json={"quota": 4}, headers=bearer(reviewer))
    assert (put.json()["year"], put.json()["type"], put.json()["quota"]) == (year, "school", 4)
    assert await sql(app, "SELECT year, type, quota FROM cell_quotas") == [(year, "school", 4)]

    # School: one applied, one evaluated, two certified of which one revoked this year.
    await applied(client, jyj, name="甲")
    evaluated = await applied(client, jyj, name="乙")
    assert (await evaluate(client, reviewer, evaluated["id"])).status_code == 201
    await certified(client, jyj, reviewer, name="丙")
    gone = await certified(client, jyj, reviewer, name="丁")
    assert (await act(client, reviewer, gone["id"], "revoke", {"reason": "不再符合"})).status_code == 200

    response = await client.get(f"/v1/cells/summary?year={year}", headers=bearer(writer_only))
    assert response.status_code == 200, response.text
    by_type = {item["type"]: item for item in response.json()["items"]}
    assert len(by_type) == 10
    # Built to date (cumulative): 丙; 丁 was revoked.
    assert by_type["school"] == {"type": "school", "planned": 0, "applied": 2, "certified": 1, "cumulative": 1,
                                 "revoked": 1, "quota": 4, "progress": 0.25}
    # The plan's three scenic areas are planned; no quota, so no progress.
    assert by_type["scenic"] == {"type": "scenic", "planned": 3, "applied": 0, "certified": 0, "cumulative": 0,
                                 "revoked": 0, "quota": None, "progress": None}
    # Nothing was certified or revoked last year, and its quota is not this year's.
    last = {i["type"]: i for i in (await client.get(f"/v1/cells/summary?year={year - 1}",
                                                    headers=bearer(jyj))).json()["items"]}
    assert (last["school"]["certified"], last["school"]["cumulative"], last["school"]["revoked"],
            last["school"]["quota"]) == (0, 0, 0, None)


async def test_files_named_by_cells_are_readable_by_those_who_may_read_them(app: Any,
                                                                             client: httpx.AsyncClient) -> None:
    """Cell evidence: every token (cells are public to tokens). Inspection photos: whoever may read the
    inspections (SPEC §4: `cells:write` of the type's responsible department or of the lead office), so not
    a reviewer without `cells:write`, nor the lead office's reviewing token."""
    jyj = await make_token(app, "jyj", ["cells:write"])
    outsider = await make_token(app, "swj", ["cells:write"])
    lead = await make_token(app, "lead", ["cells:write"])
    reviewer = await make_token(app, "sthj", ["cells:review"])
    lead_reviewer = await make_token(app, "lead", ["cells:review"])
    evidence = (await upload(client, jyj, png_bytes(b"evidence"), "e.png", "image/png")).json()["id"]
    photo = (await upload(client, jyj, png_bytes(b"photo"), "p.png", "image/png")).json()["id"]
    unused = (await upload(client, jyj, png_bytes(b"unused"), "u.png", "image/png")).json()["id"]
    cell = await applied(client, jyj, evidence=[evidence])
    posted = await client.post(f"/v1/cells/{cell['id']}/inspections", json=inspection(photos=[photo]),
                               headers=bearer(jyj))
    assert posted.status_code == 201, posted.text
    assert await sql(app, "SELECT role, file_id FROM cell_files ORDER BY role") == [
        ("evidence", evidence), ("photo", photo)]

    async def status(token: str, file_id: str) -> int:
        return (await client.get(f"/v1/files/{file_id}", headers=bearer(token))).status_code

    readers = (outsider, lead, reviewer, lead_reviewer, jyj)
    assert [await status(t, evidence) for t in readers] == [200, 200, 200, 200, 200]
    assert [await status(t, photo) for t in readers] == [404, 200, 404, 404, 200]
    assert [await status(t, unused) for t in readers] == [404, 404, 404, 404, 200]  # jyj uploaded it


async def test_an_inspection_is_read_back_at_its_location(app: Any, client: httpx.AsyncClient) -> None:
    jyj = await make_token(app, "jyj", ["cells:write"])
    lead = await make_token(app, "lead", ["cells:write"])
    swj = await make_token(app, "swj", ["cells:write"])
    reader = await make_token(app, "jyj", [])
    cell = await applied(client, jyj)
    other = await applied(client, jyj, name="另一所学校")
    posted = await client.post(f"/v1/cells/{cell['id']}/inspections", json=inspection(), headers=bearer(jyj))
    assert posted.status_code == 201, posted.text
    location = posted.headers["Location"]
    assert location == f"/v1/cells/{cell['id']}/inspections/{posted.json()['id']}"
    for token in (jyj, lead):
        followed = await client.get(location, headers=bearer(token))
        assert followed.status_code == 200, followed.text
        assert followed.json() == posted.json()
    assert_problem(await client.get(location, headers=bearer(swj)), 403, "not_responsible_for_type")
    assert_problem(await client.get(location, headers=bearer(reader)), 403, "scope_required")
    inspection_id = posted.json()["id"]
    assert_problem(await client.get(f"/v1/cells/{other['id']}/inspections/{inspection_id}", headers=bearer(jyj)),
                   404, "not_found")
    assert_problem(await client.get(f"/v1/cells/{cell['id']}/inspections/424242", headers=bearer(jyj)), 404,
                   "not_found")
    assert_problem(await client.get(f"/v1/cells/424242/inspections/{inspection_id}", headers=bearer(jyj)), 404,
                   "not_found")


async def test_the_summary_per_town(app: Any, client: httpx.AsyncClient) -> None:
    jyj = await make_token(app, "jyj", ["cells:write"])
    reviewer = await make_token(app, "sthj", ["cells:review"])
    anyone = await make_token(app, "swj", [])
    year = today().year
    assert (await client.put(f"/v1/cell-quotas/{year}/school", json={"quota": 4},
                             headers=bearer(reviewer))).status_code == 200
    # qingpingjie: 甲 applied, 丙 certified. micun: 乙 evaluated, 丁 certified then revoked this year.
    await applied(client, jyj, name="甲")
    evaluated = await applied(client, jyj, name="乙", town="micun")
    assert (await evaluate(client, reviewer, evaluated["id"])).status_code == 201
    await certified(client, jyj, reviewer, name="丙")
    gone = await certified(client, jyj, reviewer, name="丁", town="micun")
    assert (await act(client, reviewer, gone["id"], "revoke", {"reason": "不再符合"})).status_code == 200

    response = await client.get(f"/v1/cells/summary?year={year}&by=town", headers=bearer(anyone))
    assert response.status_code == 200, response.text
    fields = ("town", "type", "planned", "applied", "certified", "cumulative", "revoked")

    def rows(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        assert all(set(item) == set(fields) for item in items)
        return [tuple(item[f] for f in fields) for item in items]

    # The plan's scenic areas are planned in fuxishan, chengguan and micun; ordered by town, then type.
    assert response.json()["next_cursor"] is None
    assert rows(response.json()["items"]) == [
        ("chengguan", "scenic", 1, 0, 0, 0, 0),
        ("fuxishan", "scenic", 1, 0, 0, 0, 0),
        ("micun", "scenic", 1, 0, 0, 0, 0),
        ("micun", "school", 0, 1, 0, 0, 1),
        ("qingpingjie", "school", 0, 1, 1, 1, 0),
    ]
    # Last year nothing was certified or revoked; planned and applied count the statuses now.
    last = await client.get(f"/v1/cells/summary?year={year - 1}&by=town", headers=bearer(anyone))
    assert rows(last.json()["items"])[3:] == [("micun", "school", 0, 1, 0, 0, 0),
                                              ("qingpingjie", "school", 0, 1, 0, 0, 0)]

    # The per-type answer is unchanged, and `by=type` is the default.
    by_type = await client.get(f"/v1/cells/summary?year={year}", headers=bearer(anyone))
    assert by_type.json() == (await client.get(f"/v1/cells/summary?year={year}&by=type",
                                               headers=bearer(anyone))).json()
    school = next(item for item in by_type.json()["items"] if item["type"] == "school")
    assert school == {"type": "school", "planned": 0, "applied": 2, "certified": 1, "cumulative": 1, "revoked": 1,
                      "quota": 4, "progress": 0.25}
    assert_problem(await client.get("/v1/cells/summary?by=city", headers=bearer(anyone)), 422, "validation_failed")
