"""Issue 16, items 1 and 2 (SPEC §6.1): every indicator version's bounds, and its milestone targets, through
the API on both databases. The refusals of values outside the bounds are in the tables of
tests/test_submissions.py (INVALID), tests/test_submissions_workflow.py (PATCH_INVALID) and
tests/test_indicators.py (RULES, MERGED_REFUSALS); the catalogue's upgrade in tests/test_catalogue_upgrade.py.

Numbers worked out by hand from SPEC §6 and §6.1:
- 1.1.06 (规上工业单位增加值能耗下降率, gxj, percent, increase, no baseline, target 2025: 18, no minimum): a rise of
  2.4 % is −2.4; 100 × −2.4 / 18 = −13.33… → clamped to 0; 2025 is the target year, expected 100 → behind.
- T.MS (a quantity in t, increase, no baseline, milestones 2023: 50 and 2025: 80):
  2022, v 40: the 2023 milestone; 100 × 40 / 50 = 80; expected 100 × (2022 − 2020) / (2023 − 2020) = 66.67 → on_track.
  2023, v 45: 100 × 45 / 50 = 90; expected 100 (the milestone's year) → behind.
  2024, v 60: the 2025 milestone; 100 × 60 / 80 = 75; expected 100 × 4 / 5 = 80 → behind.
  2025, v 80: 100 → achieved.   this year (after 2025), v 85: the last milestone, 80: 106.25 → 100, achieved.
- T.MB (the same with a baseline 2021: 20):
  2022, v 35: 100 × (35 − 20) / (50 − 20) = 50; expected 100 × (2022 − 2021) / (2023 − 2021) = 50 → on_track.
  2024, v 62: 100 × (62 − 20) / (80 − 20) = 70; expected 100 × (2024 − 2021) / (2025 − 2021) = 75 → behind.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from app.core.config import Settings
from tests.factories import assert_problem, bearer, make_token, serving, sql
from tests.test_scores import SINCE_2016, get_scores, item, report, scored
from tests.test_submissions import THIS_YEAR, create


def definition(code: str, value_type: str = "quantity", **fields: Any) -> dict[str, Any]:
    unit = {"percent": "%", "quantity": "t", "count": "个", "ratio": "t/万元", "boolean": "是/否"}[value_type]
    body = {"code": code, "name_zh": f"测试指标 {code}", "name_en": f"Test indicator {code}", "category": "support",
            "group": "测试", "kind": "self_selected", "unit": unit, "value_type": value_type,
            "direction": "boolean" if value_type == "boolean" else "increase", "frequency": "annual",
            "lead_department": "jyj", "valid_from": SINCE_2016}
    return body | fields


async def defined(client: httpx.AsyncClient, lead_office: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/indicators", headers=bearer(lead_office), json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def patched(client: httpx.AsyncClient, lead_office: str, code: str, changes: dict[str, Any]) -> dict[str, Any]:
    response = await client.patch(f"/v1/indicators/{code}", headers=bearer(lead_office, **{"If-Match": "*"}),
                                  json=changes)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# ------------------------------------------------------------------------------------------- bounds


@pytest.mark.parametrize(("value_type", "bounds"), [
    ("percent", (0, 100)), ("quantity", (0, None)), ("count", (0, None)), ("ratio", (0, None)),
    ("boolean", (None, None)),
])
async def test_an_indicator_defined_without_bounds_gets_its_value_types(
        client: httpx.AsyncClient, lead_office: str, value_type: str, bounds: tuple[Any, Any]) -> None:
    body = await defined(client, lead_office, definition("T.B1", value_type))
    assert (body["min_value"], body["max_value"]) == bounds
    got = (await client.get("/v1/indicators/T.B1", headers=bearer(lead_office))).json()
    assert (got["min_value"], got["max_value"]) == bounds


async def test_each_bound_not_given_takes_its_default_and_null_means_none(app: Any, client: httpx.AsyncClient,
                                                                         lead_office: str) -> None:
    # A percentage of change: no minimum given → −100 stays, the maximum defaults to 100.
    body = await defined(client, lead_office, definition("T.B2", "percent", min_value=-100))
    assert (body["min_value"], body["max_value"]) == (-100, 100)
    # Explicit nulls: unbounded on both sides.
    body = await defined(client, lead_office, definition("T.B3", "quantity", min_value=None, max_value=None))
    assert (body["min_value"], body["max_value"]) == (None, None)
    stored = await sql(app, "SELECT i.code, v.min_value, v.max_value FROM indicator_versions v JOIN indicators i "
                            "ON i.id = v.indicator_id WHERE i.code IN ('T.B2', 'T.B3') ORDER BY i.code")
    assert stored == [("T.B2", -100, 100), ("T.B3", None, None)]


async def test_a_new_value_type_without_bounds_takes_the_new_types(client: httpx.AsyncClient, lead_office: str) -> None:
    await defined(client, lead_office, definition("T.B4", "quantity", min_value=5, max_value=None))
    revised = await patched(client, lead_office, "T.B4", {"value_type": "percent", "unit": "%"})
    assert (revised["version"], revised["min_value"], revised["max_value"]) == (2, 0, 100)
    # Bounds given with the new type are the ones kept; a bound left out keeps the current one.
    revised = await patched(client, lead_office, "T.B4", {"value_type": "ratio", "unit": "t/万元", "max_value": 3})
    assert (revised["min_value"], revised["max_value"]) == (0, 3)
    revised = await patched(client, lead_office, "T.B4", {"min_value": None})
    assert (revised["version"], revised["min_value"], revised["max_value"]) == (4, None, 3)


async def test_a_rise_in_a_rate_of_decrease_is_reported_and_scores_zero(app: Any, client: httpx.AsyncClient,
                                                                         lead_office: str) -> None:
    gxj = await make_token(app, "gxj", ["submissions:write"])
    indicator = (await client.get("/v1/indicators/1.1.06", headers=bearer(gxj))).json()
    assert (indicator["min_value"], indicator["max_value"]) == (None, 100)
    approved = await report(client, gxj, lead_office, "1.1.06", "2025", -2.4)
    assert (approved["status"], approved["value"]) == ("approved", -2.4)
    entry = item(await get_scores(client, gxj, "2025"), "1.1.06")
    assert scored(entry) == ("2025", -2.4, 0.0, "behind", 100.0)
    assert entry["target"] == {"year": 2025, "value": 18}
    assert entry["formula"] == "100 × v / t = 100 × -2.4 / 18 = 0 (clamped to 0–100)"
    # 3.1.02 (sthj) and 3.4.01 (cgj) have no minimum either; they have no target, so they only show the value.
    for department, code in (("sthj", "3.1.02"), ("cgj", "3.4.01")):
        token = await make_token(app, department, ["submissions:write"])
        assert (await create(client, token, code, "2025", value=-7.5))["value"] == -7.5


async def test_the_ceiling_of_a_unit_is_a_setting(app: Any, settings: Settings) -> None:
    async with serving(settings, unit_ceilings={"万吨": 10.0}, max_magnitude=1000.0) as (application, client):
        sthj = await make_token(application, "sthj", ["submissions:write"])
        refused = assert_problem(await client.post("/v1/submissions", headers=bearer(sthj), json={
            "indicator": "3.1.01", "period": "2024", "value": 10.5}), 422, "validation_failed")
        assert refused["errors"] == [{"loc": ["value"], "type": "implausible_magnitude", "msg": (
            "10.5 is larger than any plausible figure in 万吨 (at most 10); check the unit and the decimal point")}]
        chinese = assert_problem(await client.post("/v1/submissions", headers=bearer(sthj, **{
            "Accept-Language": "zh-CN"}), json={"indicator": "3.1.01", "period": "2024", "value": 10.5}), 422,
            "validation_failed")
        assert chinese["errors"][0]["msg"] == "10.5 超出以“万吨”计的合理数值范围（不超过 10），请核对单位和小数点"
        numerator = assert_problem(await client.post("/v1/submissions", headers=bearer(sthj), json={
            "indicator": "1.1.01", "period": "2024", "numerator": 1500, "denominator": 3000}), 422,
            "validation_failed")
        assert [(e["loc"], e["type"]) for e in numerator["errors"]] == [
            (["numerator"], "implausible_magnitude"), (["denominator"], "implausible_magnitude")]
        accepted = await client.post("/v1/submissions", headers=bearer(sthj), json={
            "indicator": "3.1.01", "period": "2024", "value": 9.5})
        assert accepted.status_code == 201, accepted.text
    assert await sql(app, "SELECT indicator, value FROM submissions") == [("3.1.01", 9.5)]


def test_the_ceilings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZWC_UNIT_CEILINGS", '{"万吨": 500, "吨": 5000000}')
    monkeypatch.setenv("ZWC_MAX_MAGNITUDE", "1e9")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.unit_ceilings, settings.max_magnitude) == ({"万吨": 500.0, "吨": 5e6}, 1e9)
    monkeypatch.delenv("ZWC_UNIT_CEILINGS")
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (defaults.unit_ceilings["万吨"], defaults.unit_ceilings["个"]) == (1e5, 1e6)


# ----------------------------------------------------------------------------------------- milestones


async def test_targets_and_target(app: Any, client: httpx.AsyncClient, lead_office: str) -> None:
    body = await defined(client, lead_office, definition("T.MS", targets=[{"year": 2023, "value": 50},
                                                                    {"year": 2025, "value": 80}]))
    assert body["targets"] == [{"year": 2023, "value": 50}, {"year": 2025, "value": 80}]
    assert body["target"] == {"year": 2025, "value": 80}  # the last milestone
    # `target` sets a one-milestone list; `targets: []` removes them all; a version keeps its own.
    one = await patched(client, lead_office, "T.MS", {"target": {"year": 2030, "value": 95}})
    assert (one["targets"], one["target"]) == ([{"year": 2030, "value": 95}], {"year": 2030, "value": 95})
    none = await patched(client, lead_office, "T.MS", {"targets": []})
    assert (none["targets"], none["target"]) == ([], None)
    versions = (await client.get("/v1/indicators/T.MS/versions", headers=bearer(lead_office))).json()["items"]
    assert [len(v["targets"]) for v in versions] == [0, 1, 2]
    assert await sql(app, "SELECT v.version, m.year, m.value FROM indicator_milestones m "
                          "JOIN indicator_versions v ON v.id = m.version_id JOIN indicators i ON i.id = v.indicator_id "
                          "WHERE i.code = 'T.MS' ORDER BY v.version, m.year") == [(1, 2023, 50), (1, 2025, 80),
                                                                                  (2, 2030, 95)]
    both = await client.patch("/v1/indicators/T.MS", headers=bearer(lead_office, **{"If-Match": "*"}),
                              json={"target": {"year": 2030, "value": 95}, "targets": []})
    problem = assert_problem(both, 422, "validation_failed")
    assert [e["type"] for e in problem["errors"]] == ["target_and_targets"]
    assert (await client.get("/v1/indicators/T.MS", headers=bearer(lead_office))).json()["version"] == 3


async def test_each_period_is_scored_against_its_milestone(app: Any, client: httpx.AsyncClient, lead_office: str,
                                                         jyj_writer: str) -> None:
    milestones = [{"year": 2023, "value": 50}, {"year": 2025, "value": 80}]
    await defined(client, lead_office, definition("T.MS", targets=milestones))
    await defined(client, lead_office, definition("T.MB", targets=milestones, baseline={"year": 2021, "value": 20}))
    for period, value in (("2022", 40), ("2023", 45), ("2024", 60), ("2025", 80), (THIS_YEAR, 85)):
        await report(client, jyj_writer, lead_office, "T.MS", period, value)
    for period, value in (("2022", 35), ("2024", 62)):
        await report(client, jyj_writer, lead_office, "T.MB", period, value)
    expected = {
        "2022": ({"year": 2023, "value": 50}, 40, 80.0, "on_track", 66.67),
        "2023": ({"year": 2023, "value": 50}, 45, 90.0, "behind", 100.0),
        "2024": ({"year": 2025, "value": 80}, 60, 75.0, "behind", 80.0),
        "2025": ({"year": 2025, "value": 80}, 80, 100.0, "achieved", 100.0),
        THIS_YEAR: ({"year": 2025, "value": 80}, 85, 100.0, "achieved", 100.0),
    }
    for period, (target, value, score, status, progress) in expected.items():
        entry = item(await get_scores(client, jyj_writer, period), "T.MS")
        assert (entry["target"], *scored(entry)) == (target, period, value, score, status, progress), period
    with_baseline = {"2022": ({"year": 2023, "value": 50}, 35, 50.0, "on_track", 50.0),
                     "2024": ({"year": 2025, "value": 80}, 62, 70.0, "behind", 75.0)}
    for period, (target, value, score, status, progress) in with_baseline.items():
        entry = item(await get_scores(client, jyj_writer, period), "T.MB")
        assert (entry["target"], *scored(entry)) == (target, period, value, score, status, progress), period
        assert entry["formula"] == (f"100 × (v − b) / (t − b) = 100 × ({value} − 20) / ({target['value']} − 20) "
                                    f"= {score:g}")

    # Zhengzhou's pull and the department's scorecard show the period's milestone too.
    zzwf = await make_token(app, "zzwf", ["aggregates:read"])
    pulled = await client.get("/v1/aggregates", params={"period": "2022"}, headers=bearer(zzwf))
    row = next(r for r in pulled.json()["indicators"] if r["code"] == "T.MS")
    assert (row["target"], row["target_year"], row["score"], row["status"]) == (50, 2023, 80.0, "on_track")
    text = (await client.get("/v1/aggregates", params={"period": "2024", "format": "csv"},
                             headers=bearer(zzwf))).content.decode("utf-8-sig")
    line = next(r for r in csv.DictReader(io.StringIO(text)) if r["code"] == "T.MS")
    assert (line["target"], line["target_year"], line["score"]) == ("80.0", "2025", "75.0")
    book = load_workbook(io.BytesIO((await client.get("/v1/aggregates", params={"period": "2022", "format": "xlsx"},
                                                      headers=bearer(zzwf))).content))
    header, *sheet_rows = book["indicators"].iter_rows(values_only=True)
    cells = dict(zip(header, next(r for r in sheet_rows if r[0] == "T.MS"), strict=True))
    assert (cells["target"], cells["target_year"], cells["score"]) == (50, 2023, 80)
    cards = (await client.get("/v1/scores/departments", params={"period": "2022"}, headers=bearer(jyj_writer))).json()
    card = next(c for c in cards["items"] if c["department"] == "jyj")
    assert [(i["code"], i["target"]) for i in card["indicators"]] == [
        ("T.MB", {"year": 2023, "value": 50}), ("T.MS", {"year": 2023, "value": 50})]
