"""Certificate numbers under concurrency: 20 cells certified at once never share a number."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.factories import bearer, make_token, sql
from tests.test_cells import applied, evaluate, today


async def test_twenty_concurrent_certifications_get_twenty_numbers(app: Any, client: httpx.AsyncClient) -> None:
    jyj = await make_token(app, "jyj", ["cells:write"])
    reviewer = await make_token(app, "sthj", ["cells:review"])
    ids = []
    for n in range(20):
        cell = await applied(client, jyj, name=f"第{n + 1}小学")
        assert (await evaluate(client, reviewer, cell["id"])).status_code == 201
        ids.append(cell["id"])
    assert (await client.get("/v1/me", headers=bearer(reviewer))).status_code == 200  # token used once

    transport = httpx.ASGITransport(app=app)

    async def certify(cell_id: int) -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.post(f"/v1/cells/{cell_id}/certify", headers=bearer(reviewer))

    responses = await asyncio.gather(*(certify(cell_id) for cell_id in ids))
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses if r.status_code != 200]
    numbers = sorted(r.json()["certificate_no"] for r in responses)
    assert numbers == [f"XM-WF-{today().year}-SCH-{n:04d}" for n in range(1, 21)]
    stored = await sql(app, "SELECT certificate_no, cell_id FROM certificates ORDER BY certificate_no")
    assert [row[0] for row in stored] == numbers
    assert sorted(row[1] for row in stored) == sorted(ids)
    assert await sql(app, "SELECT year, type, last FROM certificate_counters") == [(today().year, "school", 20)]
