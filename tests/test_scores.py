"""GET /v1/scores (SPEC §6, §4.2): every direction, every status, expected progress, rounding, weighted
category and overall means with their coverage, approved versus submitted values, monthly and quarterly
values in longer periods, as_of from the revision history, revised definitions, the registry-fed
indicators 1.4.02 and 5.1.04, and every refusal.

Every expected number is worked out by hand in a comment next to it. Facts used from the catalogue
(app/catalogue/data/indicators.csv, read by hand):
  - 48 indicators, all weight 1; per category source_reduction 15, utilization 14, disposal 9, support 6,
    public 4.
  - 15 have a target: 1.1.03 (baseline 2022: 9, target 2025: 16), 1.1.06, 1.3.01, 1.4.03, 1.4.04, 2.2.01,
    2.2.02, 2.2.03, 2.3.01, 3.4.05, 4.1.01, 4.1.02, 4.1.03, 4.4.01 (all target year 2025, no baseline) and
    5.1.04 (target 2023: 3, fed by the cell registry). 1.2.01 and 1.2.02 are decrease_vs_previous.
  - 1.4.02 (source cells, lead office) has no target in the catalogue: its target is the year's quota sum.
  - 5.1.04 always has a value (the count of scenic cells, 0 when none), so in a fresh database it scores
    100 × 0 / 3 = 0 in every period: it is the one indicator scored before anyone reports anything.
  - The support category (4.1.01, 4.1.02, 4.1.03, 4.3.01, 4.4.01, 4.4.02) has no value in a fresh database;
    the indicators these tests define go there, so its score is theirs alone.
  - 2.3.01: percent, annual, increase, no baseline, target 2025: 40, lead cgj.
  - 1.4.03: percent, quarterly, increase, no baseline, target 2025: 99.5, lead cgj.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.cells.models import Cell, Certificate
from tests.factories import PROBLEM, assert_problem, bearer, make_token, sql
from tests.test_indicators import ALL_CODES
from tests.test_submissions import NEXT_MONTH, NEXT_QUARTER, NEXT_YEAR, THIS_YEAR, YEAR, acted, create

SHANGHAI = ZoneInfo("Asia/Shanghai")
LAST_YEAR = str(YEAR - 1)
SINCE_2016 = "2016-01-01T00:00:00+08:00"  # the catalogue's own valid_from, so old periods have a definition

CATEGORIES = ["source_reduction", "utilization", "disposal", "support", "public"]
CATEGORY_NAMES_ZH = {"source_reduction": "源头减量", "utilization": "资源化利用", "disposal": "最终处置",
                     "support": "保障能力", "public": "群众获得感"}
CATEGORY_SIZES = {"source_reduction": 15, "utilization": 14, "disposal": 9, "support": 6, "public": 4}
ITEM_KEYS = {"code", "name_zh", "name_en", "category", "direction", "weight", "source", "version", "period",
             "value", "numerator", "denominator", "previous_value", "target", "baseline", "score", "status",
             "expected_progress", "formula"}
WRITE_TABLES = ("audit_events", "outbox_events", "submissions", "submission_revisions", "indicators",
                "indicator_versions", "cells", "certificates", "cell_quotas", "cell_quota_changes",
                "idempotency_keys", "webhook_deliveries")

# Catalogue indicators with a target (see the module docstring); the rest have none.
WITH_TARGET = {"1.1.03", "1.1.06", "1.3.01", "1.4.03", "1.4.04", "2.2.01", "2.2.02", "2.2.03", "2.3.01", "3.4.05",
               "4.1.01", "4.1.02", "4.1.03", "4.4.01", "5.1.04"}
DECREASE_VS_PREVIOUS = {"1.2.01", "1.2.02"}


# ---------------------------------------------------------------------------------------- helpers


@pytest.fixture
def admin(lead_office: str) -> str:
    """The lead office: defines indicators and reviews submissions (never its own: it writes none here)."""
    return lead_office


@pytest.fixture
def jyj(jyj_writer: str) -> str:
    """The education bureau leads no catalogue indicator: it reports the indicators these tests define."""
    return jyj_writer


@pytest.fixture
async def cgj(app: Any) -> str:
    return await make_token(app, "cgj", ["submissions:write"], name="cgj writer")


@pytest.fixture
async def reader(app: Any) -> str:
    return await make_token(app, "tjj", [], name="reader without scopes")


def point(pair: tuple[int, Any] | None) -> dict[str, Any] | None:
    return None if pair is None else {"year": pair[0], "value": pair[1]}


async def define(client: httpx.AsyncClient, admin: str, code: str, *, direction: str = "increase",
                 baseline: tuple[int, Any] | None = None, target: tuple[int, Any] | None = None,
                 frequency: str = "annual", weight: float = 1, category: str = "support") -> dict[str, Any]:
    """A new indicator led by jyj, in force since 2016 (quantity, or boolean for direction boolean)."""
    value_type = "boolean" if direction == "boolean" else "quantity"
    body = {
        "code": code, "name_zh": f"测试指标 {code}", "name_en": f"Test indicator {code}", "category": category,
        "group": "测试", "kind": "self_selected", "unit": "项" if value_type == "boolean" else "t",
        "value_type": value_type, "direction": direction, "frequency": frequency, "baseline": point(baseline),
        "target": point(target), "lead_department": "jyj", "cooperating_departments": [], "weight": weight,
        "definition": "测试用指标", "valid_from": SINCE_2016,
    }
    response = await client.post("/v1/indicators", headers=bearer(admin), json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def report(client: httpx.AsyncClient, writer: str, reviewer: str, indicator: str, period: str, value: Any,
                 state: str = "approved", **fields: Any) -> dict[str, Any]:
    """A submission taken to ``state`` through the API; answers its last state.

    States: draft, submitted, approved, returned (submitted then returned), reopened (approved then
    reopened: status returned), resubmitted (returned then submitted again).
    """
    if value is not None:
        fields["value"] = value
    body = await create(client, writer, indicator, period, note="测试数据", **fields)
    if state == "draft":
        return body
    body = await acted(client, writer, body["id"], "submit")
    assert body["status"] == "submitted"
    if state in ("approved", "reopened"):
        body = await acted(client, reviewer, body["id"], "approve")
        assert body["status"] == "approved"
    if state in ("returned", "resubmitted"):
        body = await acted(client, reviewer, body["id"], "return", {"reason": "请核实"})
        assert body["status"] == "returned"
    if state == "reopened":
        body = await acted(client, reviewer, body["id"], "reopen", {"reason": "数据有误"})
        assert body["status"] == "returned"
    if state == "resubmitted":
        body = await acted(client, writer, body["id"], "submit")
        assert body["status"] == "submitted"
    return body


async def revise(client: httpx.AsyncClient, admin: str, code: str, changes: dict[str, Any]) -> dict[str, Any]:
    response = await client.patch(f"/v1/indicators/{code}", headers=bearer(admin, **{"If-Match": "*"}), json=changes)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def get_scores(client: httpx.AsyncClient, token: str, period: str, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/scores", headers=bearer(token), params={"period": period, **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def item(body: dict[str, Any], code: str) -> dict[str, Any]:
    found = [entry for entry in body["indicators"] if entry["code"] == code]
    assert len(found) == 1, f"{code} appears {len(found)} times"
    return found[0]


def category(body: dict[str, Any], code: str) -> dict[str, Any]:
    found = [entry for entry in body["categories"] if entry["code"] == code]
    assert len(found) == 1
    return found[0]


def scored(entry: dict[str, Any]) -> tuple[Any, ...]:
    return entry["period"], entry["value"], entry["score"], entry["status"], entry["expected_progress"]


def instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None
    return moment


async def row_counts(app: Any) -> dict[str, int]:
    return {table: (await sql(app, f"SELECT COUNT(*) FROM {table}"))[0][0] for table in WRITE_TABLES}


# --------------------------------------------------------------------------- a fresh database


async def test_a_fresh_database_scores_only_the_scenic_count(app: Any, client: httpx.AsyncClient,
                                                             reader: str) -> None:
    before = await row_counts(app)
    body = await get_scores(client, reader, "2024")
    assert set(body) == {"period", "as_of", "include", "overall", "categories", "indicators"}
    assert (body["period"], body["as_of"], body["include"]) == ("2024", None, "approved")
    # Only 5.1.04 has a score (0, weight 1): overall 0 / 1 = 0; coverage 1 / 48 = 0.020833… → 0.0208.
    assert body["overall"] == {"score": 0.0, "coverage": 0.0208}
    assert [c["code"] for c in body["categories"]] == CATEGORIES
    for entry in body["categories"]:
        assert set(entry) == {"code", "name_zh", "name_en", "score", "coverage"}
        assert entry["name_zh"] == CATEGORY_NAMES_ZH[entry["code"]]
        assert isinstance(entry["name_en"], str)
        assert entry["name_en"]
    assert [(c["score"], c["coverage"]) for c in body["categories"]] == [
        (None, 0.0), (None, 0.0), (None, 0.0), (None, 0.0),
        (0.0, 0.25),  # public: 5.1.04 alone scores 0; 1 of 4 → 0.25
    ]
    assert [entry["code"] for entry in body["indicators"]] == ALL_CODES
    statuses: dict[str, int] = {}
    for entry in body["indicators"]:
        assert set(entry) == ITEM_KEYS, entry["code"]
        assert entry["formula"] is None or isinstance(entry["formula"], str)
        assert entry["period"] == "2024"
        assert entry["version"] == 1
        assert entry["weight"] == 1
        statuses[entry["status"]] = statuses.get(entry["status"], 0) + 1
        code = entry["code"]
        if code == "5.1.04":
            # 0 scenic cells; target 3 (2023), no baseline: 100 × 0 / 3 = 0; 2024 is after 2023 → expected 100.
            assert scored(entry) == ("2024", 0, 0.0, "behind", 100.0)
            assert entry["target"] == {"year": 2023, "value": 3}
            assert entry["source"] == "cells"
        elif code == "1.4.02":
            # the count is 0; no quota for 2024 → no target.
            assert scored(entry) == ("2024", 0, None, "no_target", None)
            assert entry["target"] is None
            assert entry["source"] == "cells"
        elif code in DECREASE_VS_PREVIOUS:
            assert scored(entry) == ("2024", None, None, "no_data", 100.0)
        elif code == "1.1.03":
            # baseline 2022, target 2025: 100 × (2024 − 2022) / (2025 − 2022) = 66.666… → 66.67
            assert scored(entry) == ("2024", None, None, "no_data", 66.67)
            assert (entry["baseline"], entry["target"]) == ({"year": 2022, "value": 9}, {"year": 2025, "value": 16})
        elif code in WITH_TARGET:
            # no baseline: base 2020; 100 × (2024 − 2020) / (2025 − 2020) = 80
            assert scored(entry) == ("2024", None, None, "no_data", 80.0), code
        else:
            assert scored(entry) == ("2024", None, None, "no_target", None), code
            assert entry["target"] is None
    # 31 without a target; 14 with a target and no value + 2 decrease_vs_previous without one; 5.1.04.
    assert statuses == {"no_target": 31, "no_data": 16, "behind": 1}
    assert item(body, "3.4.05")["target"] == {"year": 2025, "value": True}
    assert item(body, "3.4.05")["target"]["value"] is True
    assert await row_counts(app) == before


async def test_one_catalogue_indicator_in_full(app: Any, client: httpx.AsyncClient, cgj: str, admin: str,
                                               reader: str) -> None:
    created = await report(client, cgj, admin, "2.3.01", "2024", None, numerator=3, denominator=10)
    assert created["value"] == 30  # 100 × 3 / 10
    body = await get_scores(client, reader, "2024")
    entry = item(body, "2.3.01")
    formula = entry.pop("formula")
    assert formula is None or isinstance(formula, str)
    assert entry == {
        "code": "2.3.01", "name_zh": "城市建成区建筑垃圾资源化利用率",
        "name_en": "Construction waste utilization rate, urban built-up area", "category": "utilization",
        "direction": "increase", "weight": 1, "source": "submissions", "version": 1, "period": "2024",
        "value": 30, "numerator": 3, "denominator": 10, "previous_value": None,
        "target": {"year": 2025, "value": 40}, "baseline": None,
        "score": 75.0,  # 100 × 30 / 40
        "status": "behind",  # 75 < 80
        "expected_progress": 80.0,  # 100 × (2024 − 2020) / (2025 − 2020)
    }
    # utilization: 75 alone, 1 of 14 → 0.071428… → 0.0714
    assert (category(body, "utilization")["score"], category(body, "utilization")["coverage"]) == (75.0, 0.0714)
    # overall: (75 + 0 [5.1.04]) / 2 = 37.5; 2 of 48 → 0.041666… → 0.0417
    assert body["overall"] == {"score": 37.5, "coverage": 0.0417}


# ------------------------------------------------------------------- one indicator, every rule


@dataclass(frozen=True)
class Case:
    id: str
    direction: str
    baseline: tuple[int, Any] | None
    target: tuple[int, Any] | None
    value: Any
    period: str
    score: float | None
    status: str
    progress: float | None


# Expected progress: with baseline 2022 and target 2025, in 2024: 100 × 2 / 3 = 66.666… → 66.67;
# without baseline (base 2020), target 2025, in 2024: 100 × 4 / 5 = 80.
B, T = (2022, 10), (2025, 40)
CASES = [
    # increase with baseline 10 → target 40 (span 30)
    Case("inc-b-on-track", "increase", B, T, 30, "2024", 66.67, "on_track", 66.67),  # 100×20/30=66.666…; 66.67≥66.67
    Case("inc-b-behind", "increase", B, T, 25, "2024", 50.0, "behind", 66.67),  # 100 × 15 / 30 = 50
    Case("inc-b-reached", "increase", B, T, 40, "2024", 100.0, "achieved", 66.67),  # 100 × 30 / 30
    Case("inc-b-above", "increase", B, T, 55, "2024", 100.0, "achieved", 66.67),  # 100 × 45 / 30 = 150 → 100
    Case("inc-b-below-baseline", "increase", B, T, 4, "2024", 0.0, "behind", 66.67),  # 100 × −6 / 30 = −20 → 0
    # increase without baseline, target 40
    Case("inc-on-track", "increase", None, T, 32, "2024", 80.0, "on_track", 80.0),  # 100 × 32 / 40 = 80 ≥ 80
    Case("inc-behind", "increase", None, T, 10, "2024", 25.0, "behind", 80.0),  # 100 × 10 / 40 = 25
    Case("inc-above", "increase", None, T, 50, "2024", 100.0, "achieved", 80.0),  # 125 → 100
    Case("inc-zero", "increase", None, T, 0, "2024", 0.0, "behind", 80.0),  # 100 × 0 / 40
    # decrease with baseline 100 → target 40 (span 60)
    Case("dec-b-on-track", "decrease", (2022, 100), T, 60, "2024", 66.67, "on_track", 66.67),  # 100×40/60=66.666…
    Case("dec-b-behind", "decrease", (2022, 100), T, 80, "2024", 33.33, "behind", 66.67),  # 100 × 20 / 60 = 33.33…
    Case("dec-b-beyond", "decrease", (2022, 100), T, 30, "2024", 100.0, "achieved", 66.67),  # 116.67 → 100
    Case("dec-b-above-baseline", "decrease", (2022, 100), T, 120, "2024", 0.0, "behind", 66.67),  # −33.33 → 0
    # decrease without baseline, target 40
    Case("dec-at-target", "decrease", None, T, 40, "2024", 100.0, "achieved", 80.0),  # 40 ≤ 40
    Case("dec-below-target", "decrease", None, T, 20, "2024", 100.0, "achieved", 80.0),  # 20 ≤ 40
    Case("dec-zero", "decrease", None, T, 0, "2024", 100.0, "achieved", 80.0),  # 0 ≤ 40
    Case("dec-on-track", "decrease", None, T, 50, "2024", 80.0, "on_track", 80.0),  # 100 × 40 / 50 = 80
    Case("dec-behind", "decrease", None, T, 64, "2024", 62.5, "behind", 80.0),  # 100 × 40 / 64 = 62.5
    # zero spans: 100 when the target is reached, else 0
    Case("inc-target-zero-met", "increase", None, (2025, 0), 0, "2024", 100.0, "achieved", 80.0),  # 0 ≥ 0
    Case("inc-target-zero-above", "increase", None, (2025, 0), 5, "2024", 100.0, "achieved", 80.0),  # 5 ≥ 0
    Case("inc-flat-met", "increase", (2022, 40), T, 40, "2024", 100.0, "achieved", 66.67),  # t = b; 40 ≥ 40
    Case("inc-flat-above", "increase", (2022, 40), T, 41, "2024", 100.0, "achieved", 66.67),  # 41 ≥ 40
    Case("inc-flat-missed", "increase", (2022, 40), T, 39, "2024", 0.0, "behind", 66.67),  # 39 < 40
    Case("dec-flat-met", "decrease", (2022, 40), T, 40, "2024", 100.0, "achieved", 66.67),  # 40 ≤ 40
    Case("dec-flat-missed", "decrease", (2022, 40), T, 41, "2024", 0.0, "behind", 66.67),  # 41 > 40
    Case("dec-target-zero-met", "decrease", None, (2025, 0), 0, "2024", 100.0, "achieved", 80.0),  # 0 ≤ 0
    Case("dec-target-zero-missed", "decrease", None, (2025, 0), 5, "2024", 0.0, "behind", 80.0),  # 100 × 0 / 5
    # boolean
    Case("bool-true", "boolean", None, (2025, True), True, "2024", 100.0, "achieved", 80.0),
    Case("bool-false", "boolean", None, (2025, True), False, "2024", 0.0, "behind", 80.0),
    # rounding half-up to 2 decimals; the status follows the rounded score
    Case("round-two-thirds", "increase", None, (2025, 3), 2, "2024", 66.67, "behind", 80.0),  # 66.666… → 66.67
    Case("round-half-up", "increase", None, (2025, 800), 1, "2024", 0.13, "behind", 80.0),  # 0.125 → 0.13
    Case("round-to-100", "increase", None, (2025, 100000), 99996, "2024", 100.0, "achieved", 80.0),  # 99.996 → 100
    # expected progress over the years (no baseline: base 2020; target 2025: 50)
    Case("progress-2023-on-track", "increase", None, (2025, 50), 30, "2023", 60.0, "on_track", 60.0),  # 100×3/5=60
    Case("progress-2023-behind", "increase", None, (2025, 50), 29, "2023", 58.0, "behind", 60.0),  # 100×29/50=58
    Case("progress-before-base", "increase", None, (2025, 50), 0, "2018", 0.0, "on_track", 0.0),  # 100×−2/5 → 0
    Case("progress-target-year", "increase", None, (2025, 50), 45, "2025", 90.0, "behind", 100.0),  # in target year
    Case("progress-after-target", "increase", None, (2025, 50), 50, "2026", 100.0, "achieved", 100.0),
    Case("progress-baseline-year", "increase", B, T, 10, "2022", 0.0, "on_track", 0.0),  # 100 × 0 / 3 = 0; 0 ≥ 0
    Case("progress-before-baseline", "increase", B, T, 13, "2021", 10.0, "on_track", 0.0),  # 100×3/30=10; −33 → 0
    Case("progress-2023-baseline", "increase", B, T, 20, "2023", 33.33, "on_track", 33.33),  # both 100×1/3 → 33.33
    Case("progress-2023-baseline-behind", "increase", B, T, 19, "2023", 30.0, "behind", 33.33),  # 100 × 9 / 30
    # no target: no score, the value is still shown
    Case("no-target", "increase", None, None, 5, "2024", None, "no_target", None),
    Case("no-target-with-baseline", "increase", B, None, 20, "2024", None, "no_target", None),
    Case("no-target-decrease", "decrease", None, None, 5, "2024", None, "no_target", None),
    Case("no-target-boolean", "boolean", None, None, True, "2024", None, "no_target", None),
]


async def test_score_and_status_of_one_indicator(app: Any, client: httpx.AsyncClient, admin: str, jyj: str,
                                                 subtests: pytest.Subtests) -> None:
    """Every case of CASES on one database, each with its own indicator 9.1.NN (in the order of CASES).

    A case's checks of the support category (its indicator the only one there besides the catalogue's six)
    need the earlier cases' indicators out of it: once checked, each moves to the public category by a
    revision in force since 2016 (no case checks the public category or the overall score)."""
    codes: list[str] = []
    for number, case in enumerate(CASES, start=1):
        code = f"9.1.{number:02d}"
        with subtests.test(msg=case.id, code=code):
            await define(client, admin, code, direction=case.direction, baseline=case.baseline,
                         target=case.target)
            codes.append(code)
            await report(client, jyj, admin, code, case.period, case.value)
            body = await get_scores(client, jyj, case.period)
            entry = item(body, code)
            assert (entry["score"], entry["status"], entry["expected_progress"]) == (
                case.score, case.status, case.progress)
            if isinstance(case.value, bool):
                assert entry["value"] is case.value
            else:
                assert entry["value"] == case.value
            assert (entry["period"], entry["version"], entry["previous_value"]) == (case.period, 1, None)
            assert (entry["baseline"], entry["target"]) == (point(case.baseline), point(case.target))
            assert (entry["direction"], entry["category"], entry["source"], entry["weight"]) == (
                case.direction, "support", "submissions", 1)
            # support: 6 catalogue indicators without a value + this one; a mean of one score is that score.
            support = category(body, "support")
            if case.score is None:
                assert (support["score"], support["coverage"]) == (None, 0.0)
            else:
                assert (support["score"], support["coverage"]) == (case.score, 0.1429)  # 1 / 7 = 0.142857…
            # the catalogue, then the earlier cases' indicators (moved to public) and this case's, in code order
            assert [entry["code"] for entry in body["indicators"]] == [*ALL_CODES, *codes]
            assert [entry["category"] for entry in body["indicators"][len(ALL_CODES):]] == [
                *["public"] * (len(codes) - 1), "support"]
        if code in codes:  # defined: out of the support category before the next case
            await revise(client, admin, code, {"category": "public", "valid_from": SINCE_2016})


# (target, state of the one submission or "none", status, expected progress)
NO_COUNTED_VALUE: list[tuple[tuple[int, Any] | None, str, str, float | None]] = [
    ((2025, 40), "none", "no_data", 80.0),
    ((2025, 40), "draft", "no_data", 80.0),
    ((2025, 40), "submitted", "no_data", 80.0),
    ((2025, 40), "returned", "no_data", 80.0),
    ((2025, 40), "reopened", "no_data", 80.0),
    (None, "none", "no_target", None),  # no_target comes before no_data
]


async def test_no_counted_value(app: Any, client: httpx.AsyncClient, admin: str, jyj: str,
                                subtests: pytest.Subtests) -> None:
    """Every case on one database, each with its own indicator 9.1.NN; a case reads only its own."""
    for number, (target, state, status, progress) in enumerate(NO_COUNTED_VALUE, start=1):
        code = f"9.1.{number:02d}"
        with subtests.test(msg=f"{state}-{status}", code=code, target=target):
            await define(client, admin, code, target=target)
            if state != "none":
                await report(client, jyj, admin, code, "2024", 30, state)
            entry = item(await get_scores(client, jyj, "2024"), code)
            assert scored(entry) == ("2024", None, None, status, progress)
            assert (entry["numerator"], entry["denominator"], entry["previous_value"]) == (None, None, None)


# -------------------------------------------------------------------------- decrease_vs_previous


# (2023 value or None, its state, 2024 value (approved), include, score, status, previous_value)
DECREASE_VS_PREVIOUS_CASES: list[tuple[float | None, str | None, float, str, float | None, str, float | None]] = [
    (10, "approved", 8, "approved", 100.0, "achieved", 10),  # 8 < 10
    (10, "approved", 10, "approved", 0.0, "behind", 10),  # 10 is not below 10
    (10, "approved", 12, "approved", 0.0, "behind", 10),  # 12 > 10
    (None, None, 8, "approved", None, "no_data", None),  # nothing for 2023
    (10, "submitted", 8, "approved", None, "no_data", None),  # 2023 not approved: not counted
    (10, "submitted", 8, "submitted", 100.0, "achieved", 10),  # counted with include=submitted
    (10, "draft", 8, "submitted", None, "no_data", None),  # a draft never counts
    (10, "returned", 8, "submitted", None, "no_data", None),  # nor a returned one
]


async def test_decrease_vs_previous(app: Any, client: httpx.AsyncClient, admin: str, jyj: str,
                                    subtests: pytest.Subtests) -> None:
    """Every case on one database, each with its own indicator 9.1.NN; a case reads only its own."""
    for number, case in enumerate(DECREASE_VS_PREVIOUS_CASES, start=1):
        previous, previous_state, value, include, score, status, previous_value = case
        code = f"9.1.{number:02d}"
        with subtests.test(msg="-".join(map(str, case)), code=code):
            await define(client, admin, code, direction="decrease_vs_previous")
            if previous is not None:
                assert previous_state is not None
                await report(client, jyj, admin, code, "2023", previous, previous_state)
            await report(client, jyj, admin, code, "2024", value)
            body = await get_scores(client, jyj, "2024", include=include)
            assert body["include"] == include
            entry = item(body, code)
            # needs no target; expected progress is 100 for this direction
            assert scored(entry) == ("2024", value, score, status, 100.0)
            assert entry["previous_value"] == previous_value
            assert entry["target"] is None


async def test_decrease_vs_previous_in_the_catalogue(app: Any, client: httpx.AsyncClient, admin: str) -> None:
    nyj = await make_token(app, "nyj", ["submissions:write"])
    await report(client, nyj, admin, "1.2.01", "2022", 120.5)
    await report(client, nyj, admin, "1.2.01", "2023", 118.25)
    await report(client, nyj, admin, "1.2.02", "2023", 7)
    await report(client, nyj, admin, "1.2.02", "2024", 7.5)
    entry = item(await get_scores(client, nyj, "2023"), "1.2.01")
    assert scored(entry) == ("2023", 118.25, 100.0, "achieved", 100.0)  # 118.25 < 120.5
    assert entry["previous_value"] == 120.5
    entry = item(await get_scores(client, nyj, "2024"), "1.2.02")
    assert scored(entry) == ("2024", 7.5, 0.0, "behind", 100.0)  # 7.5 is not below 7
    assert entry["previous_value"] == 7
    entry = item(await get_scores(client, nyj, "2022"), "1.2.01")
    assert scored(entry) == ("2022", 120.5, None, "no_data", 100.0)  # no 2021 value


# ------------------------------------------------------------------------ weighted means, coverage


async def test_weighted_category_and_overall_means(app: Any, client: httpx.AsyncClient, admin: str,
                                                   jyj: str) -> None:
    await define(client, admin, "9.1.01", target=(2025, 100), weight=3)
    await define(client, admin, "9.1.02", target=(2025, 100), weight=1)
    await define(client, admin, "9.1.03", direction="boolean", target=(2025, True), weight=2)
    await define(client, admin, "9.1.04", weight=5)  # no target: shown, never scored
    await define(client, admin, "9.1.05", target=(2025, 100), weight=4)  # no value: no_data
    await define(client, admin, "9.2.01", target=(2025, 80), weight=2.5, category="disposal")
    await report(client, jyj, admin, "9.1.01", "2024", 50)  # 100 × 50 / 100 = 50
    await report(client, jyj, admin, "9.1.02", "2024", 90)  # 90
    await report(client, jyj, admin, "9.1.03", "2024", True)  # 100
    await report(client, jyj, admin, "9.1.04", "2024", 10)
    await report(client, jyj, admin, "9.2.01", "2024", 20)  # 100 × 20 / 80 = 25
    body = await get_scores(client, jyj, "2024")
    assert [entry["code"] for entry in body["indicators"]] == [*ALL_CODES, "9.1.01", "9.1.02", "9.1.03", "9.1.04",
                                                               "9.1.05", "9.2.01"]
    assert [item(body, code)["score"] for code in ("9.1.01", "9.1.02", "9.1.03", "9.1.04", "9.1.05", "9.2.01")] == [
        50.0, 90.0, 100.0, None, None, 25.0]
    assert item(body, "9.2.01")["weight"] == 2.5
    by_code = {entry["code"]: (entry["score"], entry["coverage"]) for entry in body["categories"]}
    assert by_code == {
        "source_reduction": (None, 0.0),
        "utilization": (None, 0.0),
        # 9.2.01 alone: 25; 1 of 9 + 1 = 10 → 0.1
        "disposal": (25.0, 0.1),
        # (3 × 50 + 1 × 90 + 2 × 100) / (3 + 1 + 2) = 440 / 6 = 73.333… → 73.33; 3 of 6 + 5 = 11 → 0.272727… → 0.2727
        "support": (73.33, 0.2727),
        "public": (0.0, 0.25),  # 5.1.04: 0; 1 of 4
    }
    # overall: (150 + 90 + 200 + 2.5 × 25 + 1 × 0 [5.1.04]) / (3 + 1 + 2 + 2.5 + 1) = 502.5 / 9.5 = 52.894736… → 52.89;
    # coverage: 5 scored (9.1.01, 9.1.02, 9.1.03, 9.2.01, 5.1.04) of 48 + 6 = 54 → 0.092592… → 0.0926
    assert body["overall"] == {"score": 52.89, "coverage": 0.0926}


async def test_a_low_weight_changes_the_mean(app: Any, client: httpx.AsyncClient, admin: str, jyj: str) -> None:
    await define(client, admin, "9.1.01", target=(2025, 8), weight=0.5)
    await define(client, admin, "9.1.02", target=(2025, 8), weight=1)
    await report(client, jyj, admin, "9.1.01", "2024", 8)  # 100
    await report(client, jyj, admin, "9.1.02", "2024", 2)  # 100 × 2 / 8 = 25
    body = await get_scores(client, jyj, "2024")
    # (0.5 × 100 + 1 × 25) / 1.5 = 75 / 1.5 = 50; 2 of 8 → 0.25
    assert (category(body, "support")["score"], category(body, "support")["coverage"]) == (50.0, 0.25)
    # (50 + 25 + 1 × 0 [5.1.04]) / 2.5 = 30; 3 of 50 → 0.06
    assert body["overall"] == {"score": 30.0, "coverage": 0.06}


# --------------------------------------------------------------------- approved versus submitted


@pytest.mark.parametrize(
    ("state", "approved_only", "with_submitted"),
    [
        ("approved", True, True),
        ("submitted", False, True),
        ("resubmitted", False, True),
        ("draft", False, False),
        ("returned", False, False),
        ("reopened", False, False),
    ],
)
async def test_only_approved_values_count_unless_submitted_ones_are_asked_for(
        app: Any, client: httpx.AsyncClient, admin: str, jyj: str, state: str, approved_only: bool,
        with_submitted: bool) -> None:
    await define(client, admin, "9.1.01", target=(2025, 40))
    await report(client, jyj, admin, "9.1.01", "2024", 30, state)
    counted = ("2024", 30, 75.0, "behind", 80.0)  # 100 × 30 / 40 = 75 < 80
    missing = ("2024", None, None, "no_data", 80.0)
    plain = await get_scores(client, jyj, "2024")
    assert plain["include"] == "approved"
    assert scored(item(plain, "9.1.01")) == (counted if approved_only else missing)
    explicit = await get_scores(client, jyj, "2024", include="approved")
    assert explicit["include"] == "approved"
    assert scored(item(explicit, "9.1.01")) == (counted if approved_only else missing)
    wider = await get_scores(client, jyj, "2024", include="submitted")
    assert wider["include"] == "submitted"
    assert scored(item(wider, "9.1.01")) == (counted if with_submitted else missing)
    # support: 75 alone, 1 of 7 → 0.1429; overall (75 + 0) / 2 = 37.5, 2 of 49 → 0.040816… → 0.0408
    if with_submitted:
        assert category(wider, "support")["score"] == 75.0
        assert wider["overall"] == {"score": 37.5, "coverage": 0.0408}
    else:
        assert category(wider, "support")["score"] is None
        assert wider["overall"] == {"score": 0.0, "coverage": 0.0204}  # 5.1.04 alone: 1 of 49 = 0.020408… → 0.0204


# ------------------------------------------------------------ monthly and quarterly in longer periods


async def test_monthly_and_quarterly_values_in_longer_periods(app: Any, client: httpx.AsyncClient, admin: str,
                                                             jyj: str, cgj: str) -> None:
    await define(client, admin, "9.1.01", direction="decrease", target=(2025, 40), frequency="monthly")
    await report(client, jyj, admin, "9.1.01", "2024-03", 30, "approved")
    await report(client, jyj, admin, "9.1.01", "2024-09", 50, "approved")
    await report(client, jyj, admin, "9.1.01", "2024-10", 20, "submitted")
    await report(client, jyj, admin, "9.1.01", "2024-11", 35, "returned")
    await report(client, jyj, admin, "9.1.01", "2024-12", 10, "draft")
    await report(client, cgj, admin, "1.4.03", "2024Q3", 79.6, "approved")
    await report(client, cgj, admin, "1.4.03", "2024Q4", 99.5, "returned")
    await report(client, cgj, admin, "2.3.01", "2024", 30, "approved")

    # decrease, no baseline, target 40: 50 → 100 × 40 / 50 = 80; 20 and 30 ≤ 40 → 100.
    # Expected progress in 2024 (base 2020, target 2025): 80, whatever the period's length.
    expected = [
        ("9.1.01", "2024", "approved", ("2024-09", 50, 80.0, "on_track", 80.0)),  # latest approved month
        ("9.1.01", "2024", "submitted", ("2024-10", 20, 100.0, "achieved", 80.0)),  # 11 returned, 12 a draft
        ("9.1.01", "2024Q1", "approved", ("2024-03", 30, 100.0, "achieved", 80.0)),
        ("9.1.01", "2024Q2", "approved", ("2024Q2", None, None, "no_data", 80.0)),
        ("9.1.01", "2024Q3", "approved", ("2024-09", 50, 80.0, "on_track", 80.0)),
        ("9.1.01", "2024Q4", "approved", ("2024Q4", None, None, "no_data", 80.0)),
        ("9.1.01", "2024Q4", "submitted", ("2024-10", 20, 100.0, "achieved", 80.0)),
        ("9.1.01", "2024-09", "approved", ("2024-09", 50, 80.0, "on_track", 80.0)),
        ("9.1.01", "2024-10", "approved", ("2024-10", None, None, "no_data", 80.0)),
        ("9.1.01", "2024-11", "submitted", ("2024-11", None, None, "no_data", 80.0)),
        ("9.1.01", "2024-12", "submitted", ("2024-12", None, None, "no_data", 80.0)),
        # 1.4.03, target 99.5: 100 × 79.6 / 99.5 = 80 (79.6 = 0.8 × 99.5) ≥ 80
        ("1.4.03", "2024", "approved", ("2024Q3", 79.6, 80.0, "on_track", 80.0)),
        ("1.4.03", "2024", "submitted", ("2024Q3", 79.6, 80.0, "on_track", 80.0)),  # Q4 is returned
        ("1.4.03", "2024Q3", "approved", ("2024Q3", 79.6, 80.0, "on_track", 80.0)),
        ("1.4.03", "2024Q4", "submitted", ("2024Q4", None, None, "no_data", 80.0)),
        # an annual indicator has no value in a quarter
        ("2.3.01", "2024Q3", "approved", ("2024Q3", None, None, "no_data", 80.0)),
        ("2.3.01", "2024", "approved", ("2024", 30, 75.0, "behind", 80.0)),  # 100 × 30 / 40 = 75
    ]
    for code, period, include, outcome in expected:
        body = await get_scores(client, jyj, period, include=include)
        assert body["period"] == period
        assert scored(item(body, code)) == outcome, (code, period, include)


# ------------------------------------------------------------------------------------------- as_of


async def test_as_of_follows_the_revision_history(app: Any, client: httpx.AsyncClient, cgj: str, admin: str,
                                                  reader: str) -> None:
    draft = await report(client, cgj, admin, "2.3.01", "2024", 30, "draft")
    submitted = await acted(client, cgj, draft["id"], "submit")
    approved = await acted(client, admin, draft["id"], "approve")
    reopened = await acted(client, admin, draft["id"], "reopen", {"reason": "数据有误"})
    assert reopened["status"] == "returned"
    created_at, submitted_at = draft["created_at"], submitted["submitted_at"]
    approved_at, reopened_at = approved["approved_at"], reopened["updated_at"]
    counted = ("2024", 30, 75.0, "behind", 80.0)  # 100 × 30 / 40 = 75 < 80
    missing = ("2024", None, None, "no_data", 80.0)

    now = await get_scores(client, reader, "2024")
    assert now["as_of"] is None
    assert scored(item(now, "2.3.01")) == missing  # reopened: no longer counted

    then = await get_scores(client, reader, "2024", as_of=approved_at)
    assert instant(then["as_of"]) == instant(approved_at)
    assert instant(then["as_of"]).utcoffset() == timedelta(0)
    assert scored(item(then, "2.3.01")) == counted
    assert then["overall"] == {"score": 37.5, "coverage": 0.0417}  # (75 + 0) / 2; 2 of 48 = 0.041666…
    assert (category(then, "utilization")["score"], category(then, "utilization")["coverage"]) == (75.0, 0.0714)

    # The same instant written in Beijing time; the answer gives it in UTC.
    beijing = instant(approved_at).astimezone(SHANGHAI).isoformat()
    assert beijing.endswith("+08:00")
    same = await get_scores(client, reader, "2024", as_of=beijing)
    assert instant(same["as_of"]) == instant(approved_at)
    assert instant(same["as_of"]).utcoffset() == timedelta(0)
    assert scored(item(same, "2.3.01")) == counted

    cases = [
        (created_at, "submitted", missing),  # a draft then
        (submitted_at, "approved", missing),  # submitted, not approved yet
        (submitted_at, "submitted", counted),
        (reopened_at, "approved", missing),  # reopened
        (reopened_at, "submitted", missing),  # returned is not submitted
    ]
    for as_of, include, outcome in cases:
        body = await get_scores(client, reader, "2024", as_of=as_of, include=include)
        assert body["include"] == include
        assert scored(item(body, "2.3.01")) == outcome, (as_of, include)

    # Approved again after the reopening: counted now, and as of that second approval only.
    resubmitted = await acted(client, cgj, draft["id"], "submit")
    second = await acted(client, admin, draft["id"], "approve")
    assert scored(item(await get_scores(client, reader, "2024"), "2.3.01")) == counted
    assert scored(item(await get_scores(client, reader, "2024", as_of=resubmitted["submitted_at"]),
                       "2.3.01")) == missing
    assert scored(item(await get_scores(client, reader, "2024", as_of=second["approved_at"]),
                       "2.3.01")) == counted


async def test_as_of_uses_the_value_of_that_moment(app: Any, client: httpx.AsyncClient, cgj: str,
                                                   admin: str) -> None:
    draft = await report(client, cgj, admin, "2.3.01", "2024", 30, "submitted")
    first = await acted(client, admin, draft["id"], "approve")
    await acted(client, admin, draft["id"], "reopen", {"reason": "数据有误"})
    etag = (await client.get(f"/v1/submissions/{draft['id']}", headers=bearer(cgj))).headers["ETag"]
    edited = await client.patch(f"/v1/submissions/{draft['id']}", json={"value": 36},
                                headers=bearer(cgj, **{"If-Match": etag}))
    assert edited.status_code == 200, edited.text
    await acted(client, cgj, draft["id"], "submit")
    second = await acted(client, admin, draft["id"], "approve")
    assert instant(second["approved_at"]) > instant(first["approved_at"])
    # now: 100 × 36 / 40 = 90 ≥ 80 → on_track
    assert scored(item(await get_scores(client, cgj, "2024"), "2.3.01")) == ("2024", 36, 90.0, "on_track", 80.0)
    # at the first approval: 30 → 100 × 30 / 40 = 75 < 80 → behind
    then = await get_scores(client, cgj, "2024", as_of=first["approved_at"])
    assert scored(item(then, "2.3.01")) == ("2024", 30, 75.0, "behind", 80.0)


# --------------------------------------------------------------------------- revised definitions


async def test_a_revised_target_applies_from_its_valid_from(app: Any, client: httpx.AsyncClient, admin: str,
                                                            jyj: str) -> None:
    await define(client, admin, "9.1.01", target=(2025, 40))
    await report(client, jyj, admin, "9.1.01", "2024", 20)
    before_revision = await report(client, jyj, admin, "9.1.01", "2025", 20)
    revised = await revise(client, admin, "9.1.01",
                           {"target": {"year": 2025, "value": 80}, "valid_from": "2025-01-01T00:00:00+08:00"})
    assert revised["version"] == 2

    # 2024 ends at 2025-01-01T00:00+08:00, which is not after version 2's valid_from: version 1 (target 40).
    entry = item(await get_scores(client, jyj, "2024"), "9.1.01")
    assert (entry["version"], entry["target"]) == (1, {"year": 2025, "value": 40})
    assert scored(entry) == ("2024", 20, 50.0, "behind", 80.0)  # 100 × 20 / 40 = 50 < 80
    # 2025: version 2, target 80
    entry = item(await get_scores(client, jyj, "2025"), "9.1.01")
    assert (entry["version"], entry["target"]) == (2, {"year": 2025, "value": 80})
    assert scored(entry) == ("2025", 20, 25.0, "behind", 100.0)  # 100 × 20 / 80 = 25; target year → 100
    # 2025 as it stood before the revision was recorded: version 1
    entry = item(await get_scores(client, jyj, "2025", as_of=before_revision["approved_at"]), "9.1.01")
    assert (entry["version"], entry["target"]) == (1, {"year": 2025, "value": 40})
    assert scored(entry) == ("2025", 20, 50.0, "behind", 100.0)  # 100 × 20 / 40 = 50

    # A revision without valid_from takes force now: only periods ending later (this year) use it.
    third = await revise(client, admin, "9.1.01", {"target": {"year": 2025, "value": 20}, "weight": 2})
    assert third["version"] == 3
    entry = item(await get_scores(client, jyj, "2025"), "9.1.01")
    assert (entry["version"], entry["weight"], scored(entry)) == (2, 1, ("2025", 20, 25.0, "behind", 100.0))
    await report(client, jyj, admin, "9.1.01", THIS_YEAR, 20)
    entry = item(await get_scores(client, jyj, THIS_YEAR), "9.1.01")
    assert (entry["version"], entry["weight"], entry["target"]) == (3, 2, {"year": 2025, "value": 20})
    assert scored(entry) == (THIS_YEAR, 20, 100.0, "achieved", 100.0)  # 20 ≥ 20


async def test_a_catalogue_revision_moves_the_score(app: Any, client: httpx.AsyncClient, cgj: str,
                                                    admin: str) -> None:
    approval = await report(client, cgj, admin, "2.3.01", "2024", 30)
    revised = await revise(client, admin, "2.3.01",
                           {"baseline": {"year": 2022, "value": 10}, "valid_from": "2024-06-01T00:00:00+08:00"})
    assert revised["version"] == 2
    entry = item(await get_scores(client, cgj, "2024"), "2.3.01")
    assert (entry["version"], entry["baseline"]) == (2, {"year": 2022, "value": 10})
    # 100 × (30 − 10) / (40 − 10) = 66.666… → 66.67; expected 100 × 2 / 3 = 66.67 → on_track
    assert scored(entry) == ("2024", 30, 66.67, "on_track", 66.67)
    entry = item(await get_scores(client, cgj, "2024", as_of=approval["approved_at"]), "2.3.01")
    assert (entry["version"], entry["baseline"]) == (1, None)
    assert scored(entry) == ("2024", 30, 75.0, "behind", 80.0)  # 100 × 30 / 40
    # 2023 ended before the new valid_from: version 1 even now
    assert item(await get_scores(client, cgj, "2023"), "2.3.01")["version"] == 1


# ------------------------------------------------------------------------ the cell registry (§4.2)


SCHOOL = {"type": "school", "name": "新密市实验小学", "town": "qingpingjie", "address": "青屏大街 2 号"}
SCENIC = {"type": "scenic", "name": "测试景区", "town": "qingpingjie", "address": "景区路 1 号"}
# 15 + 20 + 20 + 15 + 5 + 5 = 80, the pass score of both types (no `disposal` criterion: scenic lacks it).
PASSING = [{"criterion": "organization", "points": 15}, {"criterion": "source_reduction", "points": 20},
           {"criterion": "sorting", "points": 20}, {"criterion": "utilization", "points": 15},
           {"criterion": "education", "points": 5}, {"criterion": "highlights", "points": 5}]


async def certify(client: httpx.AsyncClient, writer: str, reviewer: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/cells", json=body, headers=bearer(writer))
    assert response.status_code == 201, response.text
    cell_id = response.json()["id"]
    today = datetime.now(SHANGHAI).date().isoformat()
    evaluation = await client.post(f"/v1/cells/{cell_id}/evaluations", headers=bearer(reviewer),
                                   json={"date": today, "evaluator": "王评审", "items": PASSING})
    assert evaluation.status_code == 201, evaluation.text
    done = await client.post(f"/v1/cells/{cell_id}/certify", headers=bearer(reviewer))
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "certified"
    return dict(done.json())


async def set_quota(client: httpx.AsyncClient, reviewer: str, year: int, cell_type: str, quota: int) -> None:
    response = await client.put(f"/v1/cell-quotas/{year}/{cell_type}", json={"quota": quota},
                                headers=bearer(reviewer))
    assert response.status_code == 200, response.text


@pytest.fixture
async def cells_reviewer(app: Any) -> str:
    return await make_token(app, "sthj", ["cells:review"], name="sthj cells reviewer")


async def test_registry_indicators_this_year(app: Any, client: httpx.AsyncClient, cells_reviewer: str,
                                             reader: str) -> None:
    jyj_cells = await make_token(app, "jyj", ["cells:write"])
    wlj_cells = await make_token(app, "wlj", ["cells:write"])
    first = await certify(client, jyj_cells, cells_reviewer, SCHOOL)
    await certify(client, jyj_cells, cells_reviewer, {**SCHOOL, "name": "新密市第二小学"})
    await certify(client, wlj_cells, cells_reviewer, SCENIC)
    applied = await client.post("/v1/cells", json={**SCHOOL, "name": "只申请的学校"}, headers=bearer(jyj_cells))
    assert applied.status_code == 201, applied.text  # applied only: not counted

    body = await get_scores(client, reader, THIS_YEAR)
    cells, scenic = item(body, "1.4.02"), item(body, "5.1.04")
    # 2 schools + 1 scenic area certified today (this year: 2026 when written), valid for 3 years;
    # no quota this year → no target.
    assert scored(cells) == (THIS_YEAR, 3, None, "no_target", None)
    assert (cells["target"], cells["source"], cells["version"]) == (None, "cells", 1)
    # 1 scenic area against the catalogue target 3 (2023): 100 × 1 / 3 = 33.33; after 2023 → expected 100
    assert scored(scenic) == (THIS_YEAR, 1, 33.33, "behind", 100.0)
    assert scenic["target"] == {"year": 2023, "value": 3}

    await set_quota(client, cells_reviewer, YEAR, "school", 4)
    await set_quota(client, cells_reviewer, YEAR, "scenic", 2)
    await set_quota(client, cells_reviewer, YEAR - 1, "school", 10)
    await set_quota(client, cells_reviewer, YEAR + 1, "school", 7)  # a later year's quota changes nothing yet
    body = await get_scores(client, reader, THIS_YEAR)
    cells, scenic = item(body, "1.4.02"), item(body, "5.1.04")
    # target = every quota up to this year, 10 + 4 + 2 = 16; 100 × 3 / 16 = 18.75; the target year → expected 100
    assert cells["target"] == {"year": YEAR, "value": 16}
    assert scored(cells) == (THIS_YEAR, 3, 18.75, "behind", 100.0)
    # the scenic quota does not replace the plan's target: still 100 × 1 / 3
    assert scenic["target"] == {"year": 2023, "value": 3}
    assert scored(scenic) == (THIS_YEAR, 1, 33.33, "behind", 100.0)
    # source_reduction: 1.4.02 alone scores 18.75, 1 of 15 → 0.066666… → 0.0667; public: 5.1.04, 1 of 4
    assert (category(body, "source_reduction")["score"], category(body, "source_reduction")["coverage"]) == (
        18.75, 0.0667)
    assert (category(body, "public")["score"], category(body, "public")["coverage"]) == (33.33, 0.25)
    # overall (18.75 + 33.33) / 2 = 26.04; 2 of 48 → 0.0417
    assert body["overall"] == {"score": 26.04, "coverage": 0.0417}

    revoked = await client.post(f"/v1/cells/{first['id']}/revoke", json={"reason": "设施拆除"},
                                headers=bearer(cells_reviewer))
    assert revoked.status_code == 200, revoked.text
    body = await get_scores(client, reader, THIS_YEAR)
    # 1 school + 1 scenic left: 100 × 2 / 16 = 12.5
    assert scored(item(body, "1.4.02")) == (THIS_YEAR, 2, 12.5, "behind", 100.0)
    assert scored(item(body, "5.1.04")) == (THIS_YEAR, 1, 33.33, "behind", 100.0)
    # last year (all cells were certified this year): 0 cells; the quotas up to last year, 10, are its target:
    # 100 × 0 / 10 = 0
    body = await get_scores(client, reader, LAST_YEAR)
    assert item(body, "1.4.02")["target"] == {"year": YEAR - 1, "value": 10}
    assert scored(item(body, "1.4.02")) == (LAST_YEAR, 0, 0.0, "behind", 100.0)
    assert scored(item(body, "5.1.04")) == (LAST_YEAR, 0, 0.0, "behind", 100.0)  # 100 × 0 / 3


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# (name, type, status now, certified_at, valid_until, revoked_at); built by the end of 2024 (SPEC §4.2)?
REGISTRY_2024 = [
    ("c1", "school", "certified", "2024-06-01T10:00:00+08:00", date(2027, 6, 1), None),  # yes
    ("c2", "school", "expired", "2021-03-01T10:00:00+08:00", date(2024, 12, 31), None),  # yes
    ("c3", "school", "expired", "2021-03-01T10:00:00+08:00", date(2024, 12, 30), None),  # yes: expired, still built
    ("c4", "school", "revoked", "2024-03-01T10:00:00+08:00", date(2027, 3, 1), "2024-10-01T09:00:00+08:00"),  # no
    ("c5", "school", "revoked", "2024-03-01T10:00:00+08:00", date(2027, 3, 1), "2025-01-01T00:00:00+08:00"),  # yes:
    # revoked exactly when the period ends, not before
    ("c6", "school", "certified", "2025-01-01T00:00:00+08:00", date(2028, 1, 1), None),  # no: certified at the end
    ("c7", "scenic", "certified", "2024-12-31T23:59:59+08:00", date(2027, 12, 31), None),  # yes
    ("c8", "scenic", "certified", "2024-05-01T10:00:00+08:00", date(2027, 5, 1), None),  # yes
    ("c9", "mall", "certified", "2023-05-01T10:00:00+08:00", date(2026, 5, 1), None),  # yes (not scenic)
]
# Cells with two certificates: (name, type, [(certified_at, valid_until, revoked_at)], oldest first).
RECERTIFIED = [
    # revoked in 2023, certified again in 2024: not built at the end of 2023, built (once) from 2024
    ("c10", "school", [("2022-03-01T10:00:00+08:00", date(2025, 3, 1), "2023-06-01T10:00:00+08:00"),
                       ("2024-02-01T10:00:00+08:00", date(2027, 2, 1), None)]),
    # expired in January 2023 and renewed in February: built, once, from 2020 on
    ("c11", "school", [("2020-01-10T10:00:00+08:00", date(2023, 1, 10), None),
                       ("2023-02-01T10:00:00+08:00", date(2026, 2, 1), None)]),
]


async def insert_registry(app: Any) -> None:
    """Cells and certificates of earlier years, written straight to the tables the registry keeps."""
    certificates = [(name, cell_type, status, [(certified_at, valid_until, revoked_at)])
                    for name, cell_type, status, certified_at, valid_until, revoked_at in REGISTRY_2024]
    certificates += [(name, cell_type, "certified", issued) for name, cell_type, issued in RECERTIFIED]
    async with app.state.database.sessionmaker() as session, session.begin():
        for index, (name, cell_type, status, issued) in enumerate(certificates):
            numbers = [f"XM-WF-T-{index:04d}-{n}" for n in range(len(issued))]
            department = {"school": "jyj", "scenic": "wlj", "mall": "swj"}[cell_type]
            first, last = at(issued[0][0]), issued[-1]
            cell = Cell(type=cell_type, name=f"历史细胞 {name}", town="qingpingjie", department=department,
                        status=status, certificate_no=numbers[-1], certified_at=at(last[0]), valid_until=last[1],
                        version=1, created_at=first - timedelta(days=30), updated_at=at(last[0]))
            session.add(cell)
            await session.flush()
            assert cell.id is not None
            for number, (certified_at, valid_until, revoked_at) in zip(numbers, issued, strict=True):
                session.add(Certificate(certificate_no=number, cell_id=cell.id, certified_at=at(certified_at),
                                        valid_until=valid_until, revoked_at=at(revoked_at) if revoked_at else None,
                                        revoke_reason="测试" if revoked_at else None))


async def test_registry_indicators_in_earlier_years(app: Any, client: httpx.AsyncClient, cells_reviewer: str,
                                                    reader: str) -> None:
    await insert_registry(app)
    await set_quota(client, cells_reviewer, 2024, "school", 5)
    await set_quota(client, cells_reviewer, 2024, "mall", 3)
    await set_quota(client, cells_reviewer, 2024, "scenic", 4)
    body = await get_scores(client, reader, "2024")
    # built by the end of 2024: c1, c2, c3, c5, c10, c11 (schools), c7, c8 (scenic), c9 (mall) → 9;
    # target: every quota up to 2024, 5 + 3 + 4 = 12
    cells = item(body, "1.4.02")
    assert cells["target"] == {"year": 2024, "value": 12}
    assert scored(cells) == ("2024", 9, 75.0, "behind", 100.0)  # 100 × 9 / 12 = 75
    # c7, c8 against the plan's 3 by 2023 (the last milestone; the scenic quota changes nothing): 100 × 2 / 3
    scenic = item(body, "5.1.04")
    assert scenic["target"] == {"year": 2023, "value": 3}
    assert scored(scenic) == ("2024", 2, 66.67, "behind", 100.0)

    body = await get_scores(client, reader, "2025")
    # end of 2025: c5 revoked on 2025-01-01 leaves; c6 certified that day joins → 9; no 2025 quota, so the
    # target is still the 12 set up to 2025
    assert item(body, "1.4.02")["target"] == {"year": 2025, "value": 12}
    assert scored(item(body, "1.4.02")) == ("2025", 9, 75.0, "behind", 100.0)
    assert scored(item(body, "5.1.04")) == ("2025", 2, 66.67, "behind", 100.0)

    body = await get_scores(client, reader, "2023")
    # end of 2023: c2, c3, c11 (schools), c9 → 4 (c10 was revoked in June); no quota up to 2023 → no target
    assert scored(item(body, "1.4.02")) == ("2023", 4, None, "no_target", None)
    # 2023 is the scenic target year: 100 × 0 / 3 = 0, expected 100
    assert scored(item(body, "5.1.04")) == ("2023", 0, 0.0, "behind", 100.0)

    # A quota set for 2023 afterwards counts from 2023 on: 2023's target 2, 2024's and 2025's 12 + 2 = 14.
    await set_quota(client, cells_reviewer, 2023, "agency", 2)
    targets = [item(await get_scores(client, reader, year), "1.4.02")["target"] for year in ("2023", "2024", "2025")]
    assert targets == [{"year": 2023, "value": 2}, {"year": 2024, "value": 14}, {"year": 2025, "value": 14}]
    # 2023: 100 × 4 / 2 = 200 → 100, achieved
    assert scored(item(await get_scores(client, reader, "2023"), "1.4.02")) == ("2023", 4, 100.0, "achieved", 100.0)


# ------------------------------------------------------------------------------- refusals, no writes


SCORE_PATHS = ["/v1/scores", "/v1/scores/departments"]


@pytest.mark.parametrize("path", SCORE_PATHS)
async def test_no_token_is_401(client: httpx.AsyncClient, path: str) -> None:
    assert_problem(await client.get(path, params={"period": "2024"}), 401, "token_missing")
    assert_problem(await client.get(path, params={"period": "2024"}, headers=bearer("zwc_" + "A" * 43)), 401,
                   "token_unknown")


BAD_PERIODS = [
    ("2024Q5", "invalid_period"), ("2024Q0", "invalid_period"), ("2024-13", "invalid_period"),
    ("2024-00", "invalid_period"), ("2024-1", "invalid_period"), ("2024q1", "invalid_period"),
    ("abcd", "invalid_period"), ("2024年", "invalid_period"), ("", "invalid_period"),
    ("2015", "period_too_early"), ("2015Q4", "period_too_early"), ("2015-12", "period_too_early"),
    (NEXT_YEAR, "period_not_started"), (NEXT_QUARTER, "period_not_started"),
    (NEXT_MONTH, "period_not_started"), ("2099", "period_not_started"),
]


async def test_bad_periods_are_422(app: Any, client: httpx.AsyncClient, reader: str,
                                   subtests: pytest.Subtests) -> None:
    """Every bad period on both paths, on one database: each is refused and writes nothing."""
    for period, kind in BAD_PERIODS:
        for path in SCORE_PATHS:
            with subtests.test(msg=f"{period}-{kind}-{path}", period=period, path=path):
                before = await row_counts(app)
                response = await client.get(path, headers=bearer(reader), params={"period": period})
                assert response.status_code == 422, response.text
                assert response.headers["content-type"] == PROBLEM
                errors = response.json()["errors"]
                assert errors[0]["type"] == kind
                assert errors[0]["loc"][-1] == "period"
                assert await row_counts(app) == before


BAD_PARAMETERS: list[tuple[dict[str, str], str]] = [
    ({}, "period"),
    ({"period": "2024", "include": "all"}, "include"),
    ({"period": "2024", "include": "draft"}, "include"),
    ({"period": "2024", "include": "returned"}, "include"),
    ({"period": "2024", "as_of": "2026-01-01T00:00:00"}, "as_of"),  # no offset
    ({"period": "2024", "as_of": "2026-01-01"}, "as_of"),  # a date, not a moment
    ({"period": "2024", "as_of": "yesterday"}, "as_of"),
    ({"period": "2024", "as_of": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, "as_of"),  # future
]


async def test_bad_parameters_are_422(app: Any, client: httpx.AsyncClient, reader: str,
                                      subtests: pytest.Subtests) -> None:
    for index, (params, name) in enumerate(BAD_PARAMETERS):
        for path in SCORE_PATHS:
            with subtests.test(msg=f"params{index}-{name}-{path}", params=params, path=path):
                response = await client.get(path, headers=bearer(reader), params=params)
                assert response.status_code == 422, response.text
                assert response.headers["content-type"] == PROBLEM
                body = response.json()
                assert body["status"] == 422
                assert [error["loc"][-1] for error in body["errors"]] == [name]


async def test_future_as_of_is_refused_even_by_a_minute(app: Any, client: httpx.AsyncClient, reader: str) -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    response = await client.get("/v1/scores", headers=bearer(reader), params={"period": "2024", "as_of": soon})
    assert response.status_code == 422, response.text
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    ok = await get_scores(client, reader, "2024", as_of=past)
    assert instant(ok["as_of"]) == instant(past)


async def test_reading_scores_writes_nothing(app: Any, client: httpx.AsyncClient, cgj: str, admin: str,
                                             reader: str) -> None:
    approved = await report(client, cgj, admin, "2.3.01", "2024", 30)
    await report(client, cgj, admin, "1.4.01", "2024-05", 1.2, "submitted")
    before = await row_counts(app)
    rows = await sql(app, "SELECT id, status, version, updated_at FROM submissions ORDER BY id")
    for params in ({"period": "2024"}, {"period": "2024", "include": "submitted"},
                   {"period": "2024Q2", "as_of": approved["approved_at"]}, {"period": "2024-05"},
                   {"period": "2026"}):
        assert (await client.get("/v1/scores", headers=bearer(reader), params=params)).status_code == 200
        departments = await client.get("/v1/scores/departments", headers=bearer(reader), params=params)
        assert departments.status_code == 200, departments.text
    assert await row_counts(app) == before
    assert await sql(app, "SELECT id, status, version, updated_at FROM submissions ORDER BY id") == rows
