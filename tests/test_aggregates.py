"""The municipal pull, GET /v1/aggregates (SPEC §4.1 "Aggregates", §4.2, §6), as Zhengzhou's platform
(the `external` department `zzwf`, scope `aggregates:read`) uses it: authorization, the JSON shape, the
figures (worked out by hand from SPEC §6 and the catalogue), ETag/304, CSV, XLSX, `as_of` and refusals.

Catalogue entries used (app/catalogue/data/indicators.csv, read by hand):
  2.2.01 农作物秸秆综合利用率  %  percent  increase  annual   no baseline, target 2025: 95    lead nyj
  2.2.02 畜禽粪污综合利用率    %  percent  increase  annual   no baseline, target 2025: 95    lead nyj
  1.4.01 人均生活垃圾日产生量  kg/人·日 quantity decrease monthly   no baseline, no target   lead cgj
  4.1.01 boolean, target 2025: true, lead sthj;   3.4.05 boolean, target 2025: true, lead cgj
  1.4.02 count, source cells (every type), no target in the catalogue (a year's target = sum of quotas)
  5.1.04 count, source cells (scenic only), target 2023: 3
Indicators with a target (all others have none): 1.1.03 16 (2025), 1.1.06 18 (2025), 1.3.01 100 (2025),
1.4.03 99.5 (2025), 1.4.04 true (2025), 2.2.01 95, 2.2.02 95, 2.2.03 97, 2.3.01 40 (all 2025),
3.4.05, 4.1.01, 4.1.02, 4.1.03, 4.4.01 true (2025), 5.1.04 3 (2023).
1.2.01 and 1.2.02 are `decrease_vs_previous`: they need no target, so without a value they are `no_data`.

Expected progress (SPEC §6), no baseline so base year 2020, target year 2025:
  2024 → 100 × (2024 − 2020) / (2025 − 2020) = 100 × 4 / 5 = 80.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from tests.factories import assert_problem, bearer, make_token, serving, sql
from tests.test_cells import certified
from tests.test_submissions import NEXT_MONTH, NEXT_QUARTER, NEXT_YEAR, THIS_YEAR, YEAR, acted, create

URL = "/v1/aggregates"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOM = b"\xef\xbb\xbf"
INDICATOR_KEYS = ["code", "name_zh", "unit", "value", "numerator", "denominator", "target", "target_year", "score",
                  "status", "approved_at"]
CELL_KEYS = ["type", "certified", "quota"]
TOP_KEYS = {"region", "period", "as_of", "generated_at", "indicators", "cells"}
REGION = {"code": "410183", "name_zh": "新密市"}

ALL_CODES = [
    "1.1.01", "1.1.02", "1.1.03", "1.1.04", "1.1.05", "1.1.06", "1.2.01", "1.2.02", "1.2.03", "1.3.01",
    "1.3.02", "1.4.01", "1.4.02", "1.4.03", "1.4.04",
    "2.1.01", "2.1.02", "2.1.03", "2.2.01", "2.2.02", "2.2.03", "2.2.04", "2.2.05", "2.3.01", "2.4.01",
    "2.4.02", "2.4.03", "2.4.04", "2.4.05",
    "3.1.01", "3.1.02", "3.1.05", "3.2.01", "3.4.01", "3.4.02", "3.4.03", "3.4.04", "3.4.05",
    "4.1.01", "4.1.02", "4.1.03", "4.3.01", "4.4.01", "4.4.02",
    "5.1.01", "5.1.02", "5.1.03", "5.1.04",
]
CELL_TYPES = ["agency", "community", "factory", "hospital", "hotel", "mall", "park", "scenic", "school", "village"]

# (target, target_year) of the catalogue, by hand from indicators.csv.
TARGETS: dict[str, tuple[Any, int]] = {
    "1.1.03": (16, 2025), "1.1.06": (18, 2025), "1.3.01": (100, 2025), "1.4.03": (99.5, 2025),
    "1.4.04": (True, 2025), "2.2.01": (95, 2025), "2.2.02": (95, 2025), "2.2.03": (97, 2025),
    "2.3.01": (40, 2025), "3.4.05": (True, 2025), "4.1.01": (True, 2025), "4.1.02": (True, 2025),
    "4.1.03": (True, 2025), "4.4.01": (True, 2025), "5.1.04": (3, 2023),
}
DECREASE_VS_PREVIOUS = {"1.2.01", "1.2.02"}


# ---------------------------------------------------------------------------------------- helpers


@pytest.fixture
async def puller(app: Any) -> str:
    return await make_token(app, "zzwf", ["aggregates:read"], name="zhengzhou platform")


@pytest.fixture
async def reviewer(app: Any) -> str:
    return await make_token(app, "lead", ["submissions:review"], name="lead office reviewer")


@pytest.fixture
async def nyj(app: Any) -> str:
    return await make_token(app, "nyj", ["submissions:write"], name="nyj writer")


@pytest.fixture
async def cgj(app: Any) -> str:
    return await make_token(app, "cgj", ["submissions:write"], name="cgj writer")


@pytest.fixture
async def sthj(app: Any) -> str:
    return await make_token(app, "sthj", ["submissions:write"], name="sthj writer")


async def pull(client: httpx.AsyncClient, token: str, period: str | None, headers: dict[str, str] | None = None,
               **params: str) -> httpx.Response:
    query = {**({"period": period} if period is not None else {}), **params}
    return await client.get(URL, params=query, headers=bearer(token, **(headers or {})))


async def pulled(client: httpx.AsyncClient, token: str, period: str, **params: str) -> dict[str, Any]:
    response = await pull(client, token, period, **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


async def etag_of(client: httpx.AsyncClient, token: str, period: str, **params: str) -> str:
    response = await pull(client, token, period, **params)
    assert response.status_code == 200, response.text
    etag: str = response.headers["ETag"]
    return etag


def rows(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["code"]: row for row in body["indicators"]}


def cells_of(body: dict[str, Any]) -> dict[str, tuple[int, int | None]]:
    return {item["type"]: (item["certified"], item["quota"]) for item in body["cells"]}


def instant(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, text
    return parsed


def figures(row: dict[str, Any]) -> dict[str, Any]:
    """A row without its names, with booleans kept apart from 1 and 0 (True == 1 in Python)."""
    return {key: (("bool", value) if isinstance(value, bool) else value)
            for key, value in row.items() if key not in ("name_zh", "unit")}


def blank(code: str) -> dict[str, Any]:
    """A row of a year after the target year's start without any approved value (no cells certified, no
    quotas), by hand:
    - a target but no value: score null, `no_data`;
    - no target: `no_target` — except `decrease_vs_previous` (needs no target): `no_data`;
    - 1.4.02 (cells): the count 0, no quota so no target → `no_target`;
    - 5.1.04 (scenic cells): the count 0 against 3 (2023): 100 × 0 / 3 = 0; the period's year is past 2023, so
      expected progress is 100 and 0 < 100 → `behind`.
    """
    target, target_year = TARGETS.get(code, (None, None))
    row: dict[str, Any] = {"code": code, "value": None, "numerator": None, "denominator": None, "target": target,
                           "target_year": target_year, "score": None, "approved_at": None,
                           "status": "no_data" if target is not None or code in DECREASE_VS_PREVIOUS else "no_target"}
    if code == "1.4.02":
        row.update(value=0)
    if code == "5.1.04":
        row.update(value=0, score=0, status="behind")
    return figures(row)


async def approved(client: httpx.AsyncClient, writer: str, reviewer: str, indicator: str, period: str,
                   **fields: Any) -> dict[str, Any]:
    """Create, submit and approve; answers the approval's answer."""
    body = await create(client, writer, indicator, period, **fields)
    await acted(client, writer, body["id"], "submit")
    return await acted(client, reviewer, body["id"], "approve")


async def approve_rate(client: httpx.AsyncClient, nyj: str, reviewer: str) -> dict[str, Any]:
    """2.2.01 for 2024: numerator 90, denominator 100 → value 100 × 90 / 100 = 90."""
    answer = await approved(client, nyj, reviewer, "2.2.01", "2024", numerator=90, denominator=100)
    assert (answer["status"], answer["value"]) == ("approved", 90)
    assert answer["approved_at"] is not None
    return answer


# The rate row for 2024 after approve_rate, by hand:
#   value 90; score = 100 × v / t = 100 × 90 / 95 = 94.7368421… → 94.74 (third decimal 6 rounds up);
#   expected progress for 2024 = 80 (see the module docstring); 94.74 ≥ 80 and < 100 → on_track.
RATE_2024 = {"code": "2.2.01", "value": 90, "numerator": 90, "denominator": 100, "target": 95, "target_year": 2025,
             "score": 94.74, "status": "on_track"}


async def stored_counts(app: Any) -> dict[str, int]:
    return {table: (await sql(app, f"SELECT COUNT(*) FROM {table}"))[0][0]
            for table in ("audit_events", "outbox_events", "submissions", "cells")}


# ----------------------------------------------------------------------------------- authorization


async def test_a_token_is_required(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(URL, params={"period": "2024"}), 401, "token_missing")


@pytest.mark.parametrize("scopes", [
    ["admin"],
    ["indicators:admin", "submissions:write", "submissions:review", "cells:write", "cells:review"],
], ids=["admin", "every-other-scope"])
async def test_the_aggregates_scope_is_required(app: Any, client: httpx.AsyncClient, scopes: list[str]) -> None:
    token = await make_token(app, "lead", scopes)
    assert_problem(await pull(client, token, "2024"), 403, "scope_required")


async def test_zhengzhou_pulls_with_its_token(client: httpx.AsyncClient, puller: str) -> None:
    response = await pull(client, puller, "2024")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")


# ---------------------------------------------------------------------------------------- shape


async def test_shape_of_a_pull_without_any_approved_value(client: httpx.AsyncClient, puller: str) -> None:
    before = datetime.now(UTC)
    body = await pulled(client, puller, "2024")
    after = datetime.now(UTC)
    assert set(body) == TOP_KEYS
    assert body["region"] == REGION
    assert body["period"] == "2024"
    assert body["as_of"] is None
    generated_at = instant(body["generated_at"])
    assert before - timedelta(seconds=1) <= generated_at <= after + timedelta(seconds=1)

    indicators = body["indicators"]
    assert [row["code"] for row in indicators] == ALL_CODES  # all 48, in code order
    assert len(indicators) == 48
    for row in indicators:
        assert set(row) == set(INDICATOR_KEYS), row
        assert figures(row) == blank(row["code"]), row

    # Names and units as in the catalogue.
    by_code = rows(body)
    assert (by_code["2.2.01"]["name_zh"], by_code["2.2.01"]["unit"]) == ("农作物秸秆综合利用率", "%")
    assert (by_code["1.4.01"]["name_zh"], by_code["1.4.01"]["unit"]) == ("人均生活垃圾日产生量", "kg/人·日")
    assert (by_code["5.1.04"]["name_zh"], by_code["5.1.04"]["unit"]) == ("“无废景区”建设数量", "个")
    assert (by_code["4.1.01"]["unit"], by_code["4.1.01"]["target"]) == ("是/否", True)
    catalogue = await client.get("/v1/indicators", params={"limit": 500}, headers=bearer(puller))
    assert catalogue.status_code == 200, catalogue.text
    assert [(row["code"], row["name_zh"], row["unit"]) for row in indicators] == [
        (item["code"], item["name_zh"], item["unit"]) for item in catalogue.json()["items"]]

    # One item per cell type, by code; nothing certified in 2024 (the plan's scenic areas are only planned),
    # no quota set.
    assert [list(item) for item in body["cells"]] == [CELL_KEYS] * 10
    assert [item["type"] for item in body["cells"]] == CELL_TYPES
    assert cells_of(body) == dict.fromkeys(CELL_TYPES, (0, None))


# -------------------------------------------------------------------------------------- figures


async def test_an_approved_rate_with_numerator_and_denominator(client: httpx.AsyncClient, puller: str, nyj: str,
                                                               reviewer: str) -> None:
    answer = await approve_rate(client, nyj, reviewer)
    body = await pulled(client, puller, "2024")
    row = rows(body)["2.2.01"]
    assert {key: row[key] for key in RATE_2024} == RATE_2024
    assert instant(row["approved_at"]) == instant(answer["approved_at"])
    # Every other row is untouched.
    for code in ALL_CODES:
        if code != "2.2.01":
            assert figures(rows(body)[code]) == blank(code), code
    # The annual value of 2024 is no value of 2025.
    assert figures(rows(await pulled(client, puller, "2025"))["2.2.01"]) == blank("2.2.01")


async def test_submitted_values_do_not_count_and_a_reopened_approval_disappears(
        client: httpx.AsyncClient, puller: str, nyj: str, reviewer: str) -> None:
    draft = await create(client, nyj, "2.2.01", "2024", numerator=90, denominator=100)
    assert figures(rows(await pulled(client, puller, "2024"))["2.2.01"]) == blank("2.2.01")
    await acted(client, nyj, draft["id"], "submit")
    assert figures(rows(await pulled(client, puller, "2024"))["2.2.01"]) == blank("2.2.01")  # submitted only

    await acted(client, reviewer, draft["id"], "approve")
    row = rows(await pulled(client, puller, "2024"))["2.2.01"]
    assert {key: row[key] for key in RATE_2024} == RATE_2024

    reopened = await acted(client, reviewer, draft["id"], "reopen", {"reason": "统计口径调整"})
    assert reopened["status"] == "returned"
    assert figures(rows(await pulled(client, puller, "2024"))["2.2.01"]) == blank("2.2.01")


async def test_a_monthly_indicator_counts_with_its_latest_approved_month(
        client: httpx.AsyncClient, puller: str, cgj: str, reviewer: str) -> None:
    # 1.4.01 is monthly, decrease, no target → `no_target`, no score; the value is still shown.
    march = await approved(client, cgj, reviewer, "1.4.01", "2024-03", value=1.2)
    november = await approved(client, cgj, reviewer, "1.4.01", "2024-11", value=1.05)  # 1.05 / 1.2 = −12.5%
    december = await create(client, cgj, "1.4.01", "2024-12", value=0.98)
    await acted(client, cgj, december["id"], "submit")  # submitted, not approved: does not count
    await approved(client, cgj, reviewer, "1.4.01", "2025-01", value=1.0)  # outside 2024

    expected_november = figures({"code": "1.4.01", "value": 1.05, "numerator": None, "denominator": None,
                                 "target": None, "target_year": None, "score": None, "status": "no_target",
                                 "approved_at": None})
    for period in ("2024", "2024Q4"):  # the latest approved month inside: November (December only submitted)
        row = rows(await pulled(client, puller, period))["1.4.01"]
        assert instant(row.pop("approved_at")) == instant(november["approved_at"]), period
        assert figures({**row, "approved_at": None}) == expected_november, period
    row = rows(await pulled(client, puller, "2024-03"))["1.4.01"]
    assert (row["value"], row["status"]) == (1.2, "no_target")
    assert instant(row["approved_at"]) == instant(march["approved_at"])
    row = rows(await pulled(client, puller, "2024Q2"))["1.4.01"]  # April–June: nothing approved
    assert (row["value"], row["approved_at"], row["status"]) == (None, None, "no_target")


async def test_boolean_indicators_show_true_and_false(client: httpx.AsyncClient, puller: str, sthj: str,
                                                      cgj: str, reviewer: str) -> None:
    await approved(client, sthj, reviewer, "4.1.01", "2024", value=True)
    await approved(client, cgj, reviewer, "3.4.05", "2024", value=False)
    by_code = rows(await pulled(client, puller, "2024"))
    yes, no = by_code["4.1.01"], by_code["3.4.05"]
    # true: 100 → achieved.
    assert yes["value"] is True
    assert yes["target"] is True
    assert (yes["score"], yes["status"], yes["target_year"]) == (100, "achieved", 2025)
    # false: 0; expected progress for 2024 is 80 and 0 < 80 → behind.
    assert no["value"] is False
    assert no["target"] is True
    assert (no["score"], no["status"]) == (0, "behind")
    assert (yes["numerator"], yes["denominator"], no["numerator"], no["denominator"]) == (None, None, None, None)


async def test_certified_cells_and_quotas(app: Any, client: httpx.AsyncClient, puller: str) -> None:
    jyj = await make_token(app, "jyj", ["cells:write"])
    cells_reviewer = await make_token(app, "sthj", ["cells:review"])
    cell = await certified(client, jyj, cells_reviewer)  # a school, certified today
    assert cell["status"] == "certified"
    for cell_type, quota in (("school", 4), ("agency", 3)):
        put = await client.put(f"/v1/cell-quotas/{THIS_YEAR}/{cell_type}", json={"quota": quota},
                               headers=bearer(cells_reviewer))
        assert put.status_code == 200, put.text

    body = await pulled(client, puller, THIS_YEAR)
    assert cells_of(body) == {**dict.fromkeys(CELL_TYPES, (0, None)),
                              "school": (1, 4), "agency": (0, 3)}
    row = rows(body)["1.4.02"]
    # 1.4.02: value = cells certified and valid at the end of the year = 1; target = 4 + 3 = 7 for this year;
    # score = 100 × 1 / 7 = 14.2857… → 14.29; the period's year is the target year, so expected progress 100
    # and 14.29 < 100 → behind.
    assert figures(row) == figures({"code": "1.4.02", "value": 1, "numerator": None, "denominator": None,
                                    "target": 7, "target_year": YEAR, "score": 14.29, "status": "behind",
                                    "approved_at": None})
    assert rows(body)["5.1.04"]["value"] == 0  # no scenic cell certified

    # Last year's figures do not know today's certificate nor this year's quotas.
    last = await pulled(client, puller, str(YEAR - 1))
    assert cells_of(last) == dict.fromkeys(CELL_TYPES, (0, None))
    assert (rows(last)["1.4.02"]["value"], rows(last)["1.4.02"]["target"]) == (0, None)


# ---------------------------------------------------------------------------------------- ETag/304


async def test_etag_is_strong_and_if_none_match_answers_304(client: httpx.AsyncClient, puller: str) -> None:
    first = await pull(client, puller, "2024")
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert not etag.startswith("W/")
    assert first.headers.get("Cache-Control")

    await asyncio.sleep(0.01)
    second = await pull(client, puller, "2024")
    assert second.status_code == 200
    assert second.headers["ETag"] == etag  # nothing changed …
    assert second.json()["generated_at"] != first.json()["generated_at"]  # … though generated_at did
    assert {k: v for k, v in second.json().items() if k != "generated_at"} == {
        k: v for k, v in first.json().items() if k != "generated_at"}

    for if_none_match in (etag, f'"x", {etag}', "*"):
        response = await pull(client, puller, "2024", headers={"If-None-Match": if_none_match})
        assert response.status_code == 304, (if_none_match, response.text)
        assert response.content == b""
        assert response.headers["ETag"] == etag
    other = await pull(client, puller, "2024", headers={"If-None-Match": '"x"'})
    assert other.status_code == 200
    assert other.json()["period"] == "2024"
    # Another period is other figures.
    assert await etag_of(client, puller, "2025") != etag


async def test_etag_changes_with_approvals_and_reopens_not_with_drafts_or_submissions(
        client: httpx.AsyncClient, puller: str, nyj: str, reviewer: str) -> None:
    initial = await etag_of(client, puller, "2024")
    draft = await create(client, nyj, "2.2.01", "2024", numerator=90, denominator=100)
    assert await etag_of(client, puller, "2024") == initial  # a draft changes no figure
    await acted(client, nyj, draft["id"], "submit")
    assert await etag_of(client, puller, "2024") == initial  # nor does a submission that is only submitted
    assert (await pull(client, puller, "2024", headers={"If-None-Match": initial})).status_code == 304

    await acted(client, reviewer, draft["id"], "approve")
    after_approval = await etag_of(client, puller, "2024")
    assert after_approval != initial
    assert (await pull(client, puller, "2024", headers={"If-None-Match": initial})).status_code == 200

    await acted(client, reviewer, draft["id"], "reopen", {"reason": "统计口径调整"})
    after_reopen = await etag_of(client, puller, "2024")
    assert after_reopen != after_approval
    assert (await pull(client, puller, "2024", headers={"If-None-Match": after_approval})).status_code == 200


async def test_etag_changes_when_a_definition_in_force_is_revised(app: Any, client: httpx.AsyncClient,
                                                                  puller: str) -> None:
    editor = await make_token(app, "lead", ["indicators:admin"])
    this_year, past = await etag_of(client, puller, THIS_YEAR), await etag_of(client, puller, "2024")
    response = await client.patch("/v1/indicators/2.2.01", json={"target": {"year": 2030, "value": 98}},
                                  headers=bearer(editor, **{"If-Match": "*"}))
    assert response.status_code == 200, response.text
    # valid_from defaults to now, before the end of this year: this year is scored with the new version …
    assert await etag_of(client, puller, THIS_YEAR) != this_year
    row = rows(await pulled(client, puller, THIS_YEAR))["2.2.01"]
    assert (row["target"], row["target_year"]) == (98, 2030)
    # … and 2024 (ended before the revision) with the old one: same figures, same ETag.
    assert await etag_of(client, puller, "2024") == past
    row = rows(await pulled(client, puller, "2024"))["2.2.01"]
    assert (row["target"], row["target_year"]) == (95, 2025)


async def test_etag_changes_when_a_cell_is_certified(app: Any, client: httpx.AsyncClient, puller: str) -> None:
    jyj = await make_token(app, "jyj", ["cells:write"])
    cells_reviewer = await make_token(app, "sthj", ["cells:review"])
    this_year, last_year = await etag_of(client, puller, THIS_YEAR), await etag_of(client, puller, str(YEAR - 1))
    await certified(client, jyj, cells_reviewer)
    changed = await etag_of(client, puller, THIS_YEAR)
    assert changed != this_year
    assert (await pull(client, puller, THIS_YEAR, headers={"If-None-Match": this_year})).status_code == 200
    assert await etag_of(client, puller, str(YEAR - 1)) == last_year  # certified this year, not last year
    put = await client.put(f"/v1/cell-quotas/{THIS_YEAR}/school", json={"quota": 4}, headers=bearer(cells_reviewer))
    assert put.status_code == 200, put.text
    assert await etag_of(client, puller, THIS_YEAR) != changed  # a quota is a figure too


# -------------------------------------------------------------------------------------------- CSV


def parse_csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(BOM)
    text = response.content.decode("utf-8-sig")
    assert not text.startswith("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    header, *data = list(reader)
    assert header == INDICATOR_KEYS
    return [dict(zip(header, row, strict=True)) for row in data]


async def test_csv_by_accept_and_by_format(client: httpx.AsyncClient, puller: str, nyj: str, reviewer: str) -> None:
    answer = await approve_rate(client, nyj, reviewer)
    json_body = await pulled(client, puller, "2024")
    by_accept = await pull(client, puller, "2024", headers={"Accept": "text/csv"})
    by_format = await pull(client, puller, "2024", format="csv")
    table = parse_csv(by_accept)
    assert parse_csv(by_format) == table
    assert len(table) == 48
    assert [row["code"] for row in table] == ALL_CODES
    # Chinese names intact, the same as in JSON.
    assert [(row["name_zh"], row["unit"]) for row in table] == [
        (row["name_zh"], row["unit"]) for row in json_body["indicators"]]
    by_code = {row["code"]: row for row in table}
    assert by_code["2.2.01"]["name_zh"] == "农作物秸秆综合利用率"
    assert by_code["1.4.01"]["unit"] == "kg/人·日"

    # The rate row: 90 = 100 × 90 / 100; score 100 × 90 / 95 = 94.74; progress 80 → on_track.
    rate = by_code["2.2.01"]
    assert [float(rate[key]) for key in ("value", "numerator", "denominator", "target", "score")] == [
        90, 90, 100, 95, 94.74]
    assert (rate["target_year"], rate["status"]) == ("2025", "on_track")
    assert instant(rate["approved_at"]) == instant(answer["approved_at"])
    # Nulls are empty fields: 2.2.02 has a target and no value; 1.1.01 has neither.
    assert {key: by_code["2.2.02"][key] for key in ("value", "numerator", "denominator", "score", "approved_at")} \
        == {"value": "", "numerator": "", "denominator": "", "score": "", "approved_at": ""}
    assert (float(by_code["2.2.02"]["target"]), by_code["2.2.02"]["status"]) == (95, "no_data")
    assert {key: by_code["1.1.01"][key] for key in INDICATOR_KEYS[3:]} == {
        "value": "", "numerator": "", "denominator": "", "target": "", "target_year": "", "score": "",
        "status": "no_target", "approved_at": ""}

    # format=json wins over Accept: text/csv.
    overridden = await pull(client, puller, "2024", headers={"Accept": "text/csv"}, format="json")
    assert overridden.status_code == 200
    assert overridden.headers["content-type"].startswith("application/json")
    assert rows(overridden.json())["2.2.01"]["score"] == 94.74


async def test_csv_has_its_own_etag_and_304(client: httpx.AsyncClient, puller: str) -> None:
    json_etag = await etag_of(client, puller, "2024")
    response = await pull(client, puller, "2024", headers={"Accept": "text/csv"})
    assert response.status_code == 200
    csv_etag = response.headers["ETag"]
    assert not csv_etag.startswith("W/")
    assert response.headers.get("Cache-Control")
    assert csv_etag != json_etag
    assert (await pull(client, puller, "2024", format="csv")).headers["ETag"] == csv_etag
    for headers, params in (({"Accept": "text/csv"}, {}), ({}, {"format": "csv"})):
        again = await pull(client, puller, "2024", headers={**headers, "If-None-Match": csv_etag}, **params)
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["ETag"] == csv_etag
    # The JSON representation's ETag does not validate the CSV one, nor the reverse.
    assert (await pull(client, puller, "2024", headers={"Accept": "text/csv", "If-None-Match": json_etag})
            ).status_code == 200
    assert (await pull(client, puller, "2024", headers={"If-None-Match": csv_etag})).status_code == 200


# ------------------------------------------------------------------------------------------- XLSX


def cell_text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


async def test_xlsx_holds_the_same_figures(client: httpx.AsyncClient, puller: str, nyj: str, sthj: str,
                                           reviewer: str) -> None:
    await approve_rate(client, nyj, reviewer)
    await approved(client, sthj, reviewer, "4.1.01", "2024", value=True)
    json_body = await pulled(client, puller, "2024")
    response = await pull(client, puller, "2024", format="xlsx")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    assert response.headers["ETag"] != await etag_of(client, puller, "2024")
    workbook = load_workbook(io.BytesIO(response.content))
    assert {"indicators", "cells"} <= set(workbook.sheetnames)

    sheet = list(workbook["indicators"].iter_rows(values_only=True))
    assert list(sheet[0]) == INDICATOR_KEYS
    assert len(sheet) == 49  # header + 48
    for values, expected in zip(sheet[1:], json_body["indicators"], strict=True):
        got = dict(zip(INDICATOR_KEYS, values, strict=True))
        for key in INDICATOR_KEYS:
            if key == "approved_at":
                assert (got[key] is None) == (expected[key] is None), got
                if expected[key] is not None:
                    moment = got[key]
                    parsed = moment.replace(tzinfo=UTC) if isinstance(moment, datetime) else instant(moment)
                    assert parsed == instant(expected[key]), got
            elif isinstance(expected[key], bool):
                assert got[key] is expected[key], (key, got)
            else:
                assert got[key] == expected[key], (key, got, expected)
    rate = dict(zip(INDICATOR_KEYS, sheet[1 + ALL_CODES.index("2.2.01")], strict=True))
    # 90 = 100 × 90 / 100; 94.74 = 100 × 90 / 95 rounded; on_track since 94.74 ≥ 80.
    assert (rate["name_zh"], rate["value"], rate["numerator"], rate["denominator"], rate["target"],
            rate["target_year"], rate["score"], rate["status"]) == (
        "农作物秸秆综合利用率", 90, 90, 100, 95, 2025, 94.74, "on_track")

    cells = list(workbook["cells"].iter_rows(values_only=True))
    assert list(cells[0]) == CELL_KEYS
    assert [tuple(row) for row in cells[1:]] == [(cell_type, 0, None) for cell_type in CELL_TYPES]
    assert [tuple(row) for row in cells[1:]] == [(i["type"], i["certified"], i["quota"]) for i in json_body["cells"]]


# ------------------------------------------------------------------------------------------- as_of


async def test_as_of_answers_the_figures_as_they_stood(client: httpx.AsyncClient, puller: str, nyj: str,
                                                       reviewer: str) -> None:
    answer = await approve_rate(client, nyj, reviewer)
    approved_at = instant(answer["approved_at"])
    await acted(client, reviewer, answer["id"], "reopen", {"reason": "统计口径调整"})

    at_approval = await pulled(client, puller, "2024", as_of=approved_at.isoformat())
    assert instant(at_approval["as_of"]) == approved_at
    row = rows(at_approval)["2.2.01"]
    assert {key: row[key] for key in RATE_2024} == RATE_2024  # reported then, though reopened since
    assert instant(row["approved_at"]) == approved_at

    just_before = approved_at - timedelta(microseconds=1)  # only submitted at that moment
    before = await pulled(client, puller, "2024", as_of=just_before.isoformat())
    assert figures(rows(before)["2.2.01"]) == blank("2.2.01")
    assert rows(before)["2.2.01"]["status"] == "no_data"

    now = await pulled(client, puller, "2024")  # reopened: gone
    assert figures(rows(now)["2.2.01"]) == blank("2.2.01")
    # The past is other figures than the present, so another ETag.
    assert await etag_of(client, puller, "2024", as_of=approved_at.isoformat()) != await etag_of(
        client, puller, "2024")


# ----------------------------------------------------------------------------------------- refusals


REFUSALS: list[tuple[dict[str, str], list[str], str]] = [
    ({}, ["query", "period"], "missing"),
    ({"period": "2024Q5"}, ["query", "period"], "invalid_period"),
    ({"period": "2024-13"}, ["query", "period"], "invalid_period"),
    ({"period": "24"}, ["query", "period"], "invalid_period"),
    ({"period": "2024-1"}, ["query", "period"], "invalid_period"),
    ({"period": NEXT_YEAR}, ["query", "period"], "period_not_started"),  # 2027 on 2026-11-28
    ({"period": NEXT_MONTH}, ["query", "period"], "period_not_started"),  # 2026-12 on 2026-11-28
    ({"period": NEXT_QUARTER}, ["query", "period"], "period_not_started"),  # 2027Q1 on 2026-11-28
    ({"period": "2024", "as_of": "2024-06-30T00:00:00"}, ["query", "as_of"], "timezone_aware"),
    ({"period": "2024", "as_of": "2099-01-01T00:00:00+08:00"}, ["query", "as_of"], "as_of_in_future"),
]


async def test_refusals_answer_422_and_write_nothing(app: Any, client: httpx.AsyncClient, puller: str,
                                                     subtests: pytest.Subtests) -> None:
    """Every refusal on one database: each answers 422 and leaves the counts as they were before it."""
    for index, (params, loc, kind) in enumerate(REFUSALS):
        with subtests.test(msg=f"{kind}-{index}", params=params):
            before = await stored_counts(app)
            response = await client.get(URL, params=params, headers=bearer(puller))
            problem = assert_problem(response, 422, "validation_failed")
            assert problem["errors"][0]["type"] == kind, problem
            assert problem["errors"][0]["loc"] == loc, problem
            assert await stored_counts(app) == before


async def test_as_of_in_the_future_by_a_minute(client: httpx.AsyncClient, puller: str) -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    problem = assert_problem(await pull(client, puller, "2024", as_of=soon), 422, "validation_failed")
    assert [(error["loc"], error["type"]) for error in problem["errors"]] == [(["query", "as_of"], "as_of_in_future")]


async def test_pulls_write_nothing(app: Any, client: httpx.AsyncClient, puller: str) -> None:
    before = await stored_counts(app)
    etag = await etag_of(client, puller, "2024")
    for params, headers in (({}, {}), ({"format": "csv"}, {}), ({"format": "xlsx"}, {}),
                            ({}, {"If-None-Match": etag}), ({"as_of": "2025-06-30T00:00:00+08:00"}, {})):
        response = await pull(client, puller, "2024", headers=headers, **params)
        assert response.status_code in (200, 304), response.text
    assert await stored_counts(app) == before


# ------------------------------------------------------------------ cached figures stay exact


async def test_a_new_indicator_and_a_quota_change_the_figures(app: Any, client: httpx.AsyncClient,
                                                                puller: str) -> None:
    from tests.test_indicators import NEW_INDICATOR

    editor = await make_token(app, "lead", ["indicators:admin"])
    reviewer = await make_token(app, "lead", ["cells:review"])
    this_year = THIS_YEAR
    before, current = await etag_of(client, puller, "2024"), await etag_of(client, puller, this_year)
    # Defined now: in force from now, so it is on this year's figures and not on 2024's (SPEC §6.1).
    assert (await client.post("/v1/indicators", headers=bearer(editor), json=NEW_INDICATOR)).status_code == 201
    assert await etag_of(client, puller, "2024") == before
    assert len((await pulled(client, puller, "2024"))["indicators"]) == 48
    assert await etag_of(client, puller, this_year) != current
    assert rows(await pulled(client, puller, this_year))["6.1.01"]["target"] == 80
    # Defined in force from 2024: on 2024's figures.
    backdated = {**NEW_INDICATOR, "code": "6.1.02", "valid_from": "2024-01-01T00:00:00+08:00"}
    assert (await client.post("/v1/indicators", headers=bearer(editor), json=backdated)).status_code == 201
    after = await etag_of(client, puller, "2024")
    assert after != before
    body = await pulled(client, puller, "2024")
    assert len(body["indicators"]) == 49
    assert (rows(body)["6.1.02"]["target"], rows(body)["6.1.02"]["target_year"]) == (80, 2030)
    put = await client.put("/v1/cell-quotas/2024/school", json={"quota": 5}, headers=bearer(reviewer))
    assert put.status_code == 200, put.text
    assert await etag_of(client, puller, "2024") != after
    assert cells_of(await pulled(client, puller, "2024"))["school"] == (0, 5)


async def test_a_change_made_by_another_process_is_seen_at_once(app: Any, client: httpx.AsyncClient, puller: str,
                                                                 nyj: str, reviewer: str) -> None:
    """Two processes: this one pulls (and keeps the figures); another, with its own connection pool,
    approves. The next pull here must show the approval, not the kept figures."""
    first = await pulled(client, puller, "2024")
    assert rows(first)["2.2.01"]["value"] is None
    async with serving(app.state.settings) as (_, elsewhere):
        await approve_rate(elsewhere, nyj, reviewer)
    now = figures(rows(await pulled(client, puller, "2024"))["2.2.01"])
    assert now.pop("approved_at") is not None
    assert now == figures(RATE_2024)


async def test_kept_scores_follow_changes_made_by_another_process(app: Any, client: httpx.AsyncClient, puller: str,
                                                                  nyj: str, reviewer: str) -> None:
    """Scores are rendered once per data version and kept per process: a submission and an approval made
    through another process (its own pool) show in this process's next read, in the right view."""
    async def rate_row(include: str) -> dict[str, Any]:
        response = await client.get("/v1/scores", params={"period": "2024", "include": include},
                                    headers=bearer(puller))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        (row,) = [item for item in response.json()["indicators"] if item["code"] == "2.2.01"]
        return {key: row[key] for key in ("value", "score", "status")}

    nothing = {"value": None, "score": None, "status": "no_data"}
    assert await rate_row("approved") == nothing
    assert await rate_row("submitted") == nothing
    async with serving(app.state.settings) as (_, elsewhere):
        created = await elsewhere.post("/v1/submissions", headers=bearer(nyj), json={
            "indicator": "2.2.01", "period": "2024", "numerator": 90, "denominator": 100})
        assert created.status_code == 201, created.text
        submitted = await elsewhere.post(f"/v1/submissions/{created.json()['id']}/submit", headers=bearer(nyj))
        assert submitted.status_code == 200, submitted.text
        # RATE_2024 by hand: 100 × 90 / 95 = 94.74, on track against the expected 80.
        assert await rate_row("submitted") == {"value": 90, "score": 94.74, "status": "on_track"}
        assert await rate_row("approved") == nothing
        approved = await elsewhere.post(f"/v1/submissions/{created.json()['id']}/approve",
                                        headers=bearer(reviewer))
        assert approved.status_code == 200, approved.text
    assert await rate_row("approved") == {"value": 90, "score": 94.74, "status": "on_track"}
