"""Issue 16, item 4 (SPEC §6.1, docs/decisions/0022): a board for period P lists only the indicators in force by
the end of P, and a board `as_of` T uses only the versions recorded by T (the catalogue's first versions count
as known at any T). On both databases.

Hand-worked figures: the catalogue has 48 indicators, 6 of them in `support`; on a fresh database only 5.1.04
(0 of 3 scenic areas, 100 × 0 / 3 = 0) has a score, so every board's coverage is 1 of 48 → 0.0208 and
`support` has none (coverage 0.0); with one more indicator in `support` with a score of 100 the overall
coverage is 2 of 49 → 0.0408 and `support`'s 1 of 7 → 0.1429.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from tests.factories import bearer
from tests.test_scores import get_scores, item, report
from tests.test_submissions import THIS_YEAR


def new_indicator(code: str, **fields: Any) -> dict[str, Any]:
    return {"code": code, "name_zh": "无废学校覆盖率", "name_en": "Zero-waste school coverage", "category": "support",
            "group": "测试", "kind": "self_selected", "unit": "%", "value_type": "percent", "direction": "increase",
            "frequency": "annual", "target": {"year": 2030, "value": 80}, "lead_department": "jyj", **fields}


def codes(board: dict[str, Any]) -> list[str]:
    return [entry["code"] for entry in board["indicators"]]


def support(board: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in board["categories"] if c["code"] == "support")


async def defined(client: httpx.AsyncClient, lead_office: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/indicators", headers=bearer(lead_office), json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_an_indicator_defined_now_is_not_on_closed_years_boards(client: httpx.AsyncClient, lead_office: str,
                                                                     jyj_writer: str) -> None:
    before = await get_scores(client, jyj_writer, "2025")
    assert (len(codes(before)), before["overall"]["coverage"]) == (48, 0.0208)
    await defined(client, lead_office, new_indicator("6.1.01"))  # in force from now
    after = await get_scores(client, jyj_writer, "2025")
    assert after == before  # the 2025 books do not move
    this_year = await get_scores(client, jyj_writer, THIS_YEAR)
    assert "6.1.01" in codes(this_year)
    assert len(codes(this_year)) == 49
    # Its value counts on this year's board once approved: 2 of 49 scored; support 1 of 7.
    await report(client, jyj_writer, lead_office, "6.1.01", THIS_YEAR, 90)
    this_year = await get_scores(client, jyj_writer, THIS_YEAR)
    assert (item(this_year, "6.1.01")["score"], this_year["overall"]["coverage"]) == (100.0, 0.0408)
    assert (support(this_year)["score"], support(this_year)["coverage"]) == (100.0, 0.1429)


async def test_an_indicator_in_force_from_2024_is_on_2024s_board_and_not_2023s(
        client: httpx.AsyncClient, lead_office: str, jyj_writer: str) -> None:
    await defined(client, lead_office, new_indicator("6.1.02", valid_from="2024-01-01T00:00:00+08:00"))
    assert "6.1.02" not in codes(await get_scores(client, jyj_writer, "2023"))
    for period in ("2024", "2024Q1", "2025"):
        assert "6.1.02" in codes(await get_scores(client, jyj_writer, period)), period
    # In force from exactly the end of 2023: not yet in force for 2023 (SPEC §2: the version in force at the end).
    await defined(client, lead_office, new_indicator("6.1.03", valid_from="2024-01-01T00:00:00+08:00"))
    assert "6.1.03" not in codes(await get_scores(client, jyj_writer, "2023Q4"))


async def test_as_of_knows_only_what_was_recorded_then(client: httpx.AsyncClient, lead_office: str,
                                                       jyj_writer: str) -> None:
    # The catalogue was loaded when the test's database was made; as it stood in mid-2025 its indicators count.
    mid_2025 = await get_scores(client, jyj_writer, "2025", as_of="2025-06-30T23:59:59+08:00")
    assert len(codes(mid_2025)) == 48
    # An indicator defined now, even in force from 2024, was unknown before now.
    before_definition = datetime.now(UTC).isoformat()
    await defined(client, lead_office, new_indicator("6.1.02", valid_from="2024-01-01T00:00:00+08:00"))
    assert "6.1.02" in codes(await get_scores(client, jyj_writer, "2025"))
    assert "6.1.02" not in codes(await get_scores(client, jyj_writer, "2025", as_of=before_definition))
    # A revision backdated to 2016 re-scores 2024 from now on; `as_of` before it answers with the old target.
    before_revision = datetime.now(UTC).isoformat()
    revised = await client.patch("/v1/indicators/2.3.01", headers=bearer(lead_office, **{"If-Match": "*"}), json={
        "targets": [{"year": 2023, "value": 30}, {"year": 2025, "value": 45}],
        "valid_from": "2016-01-01T00:00:00+08:00"})
    assert revised.status_code == 200, revised.text
    now = item(await get_scores(client, jyj_writer, "2024"), "2.3.01")
    then = item(await get_scores(client, jyj_writer, "2024", as_of=before_revision), "2.3.01")
    assert (now["version"], now["target"]) == (2, {"year": 2025, "value": 45})
    assert (then["version"], then["target"]) == (1, {"year": 2025, "value": 40})
    assert item(await get_scores(client, jyj_writer, "2022"), "2.3.01")["target"] == {"year": 2023, "value": 30}
