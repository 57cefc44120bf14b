"""docs/SCORING.md and docs/SCORING.zh-CN.md, the scoring guide: both languages carry the same code blocks and
sections; every worked example of its section 9 is reproduced through the API (submissions by the lead
departments, approvals by the lead office, cells certified, then GET /v1/scores and /v1/scores/departments)
and every number the guide gives is checked; every block marked `<!-- tested: tests/test_guide_scoring.py -->`
is run, taken from both files: the curl commands (bash, against a real `zwc serve` on the test's database),
the Python means (exec'd, compared with the API's means on every board), the JavaScript module and its usage
(`node`, whose output must be the guide's printed output).

The numbers, worked out by hand from SPEC §4.2, §6 and §6.1 (catalogue facts from app/catalogue/data/indicators.csv;
the guide's section 9 shows the same steps):
  1.1.03 increase, baseline 2022: 9, target 2025: 16. 2024, v 13: 100 × 4 / 7 = 57.142857… → 57.14; expected
         100 × (2024 − 2022) / 3 = 66.67 → behind. 2025, v 17: 100 × 8 / 7 = 114.29 → 100 (clamped); expected
         100 (target year) → achieved.
  2.3.01 increase, no baseline, target 2025: 40. 45600 / 120000 → 38; 100 × 38 / 40 = 95; expected
         100 × 4 / 5 = 80 → on_track. First approved at 42000 / 120000 → 35: 87.5 → on_track.
  1.1.01 decrease, revised (v2 from 2024-01-01 +08:00): baseline 2020: 0.85, target 2025: 0.6, weight 2.
         2024, v 0.7: 100 × 0.15 / 0.25 = 60; expected 80 → behind. 2023 ends at v2's valid_from → v1, no
         target → no_target, value 0.78 shown.
  1.4.01 decrease, monthly, revised (v2): target 2025: 1.0. Approved 2024-10 0.98, 2024-11 1.04; 2024-12 1.25
         submitted. 2024: latest approved 2024-11: 100 × 1 / 1.04 = 96.1538… → 96.15 ≥ 80 → on_track; with
         include=submitted 2024-12: 100 × 1 / 1.25 = 80 ≥ 80 → on_track. 2024-10: 0.98 ≤ 1 → 100, achieved.
  4.1.01 boolean true → 100 achieved (expected 80); 3.4.05 false → 0 behind.
  1.2.01 decrease_vs_previous 21.6 → 20.9: 100 achieved, expected 100; in 2023 no 2022 value → no_data.
  1.2.02 2024 0.42, no 2023 → no_data.
  1.4.02 counts cells built (latest certificate not revoked) by the period's end; target = every quota of every
         type for every year up to the period's year, target year = the period's year. Quotas: 2025 school 1; this
         year school 2, scenic 2. This year: 2 cells (the school and 伏羲山红石林景区, certified this year); target
         1 + 2 + 2 = 5 → 100 × 2 / 5 = 40, expected 100 → behind. 2025: 0 cells by the end of 2025, target 1 (the
         2025 quota) → 100 × 0 / 1 = 0, expected 100 → behind. 2024: no quota up to 2024 → no_target, value 0.
  5.1.04 the same count of scenic cells, against its own milestone 2023: 3 (the scenic quota does not replace it).
         This year: 1 → 100 × 1 / 3 = 33.333… → 33.33, expected 100 (after 2023) → behind. 2024, 2025: 0 / 3 → 0,
         expected 100 → behind. 2022: 0 / 3 → 0, expected 100 × (2022 − 2020) / (2023 − 2020) = 66.67 → behind.
  cells summary, this year: school and scenic each certified 1, cumulative 1, quota 2; 2025: school certified 0,
         cumulative 0, quota 1.
  source_reduction 2024: (2 × 60 + 57.14 + 100 + 96.15) / 5 = 373.29 / 5 = 74.658 → 74.66; 4 of 15 → 0.2667.
  overall 2024: (373.29 + 95 + 0 + 100 + 0) / 9 = 568.29 / 9 = 63.1433… → 63.14; 8 of 48 → 0.1667. (The rules of
         issue 16 leave 2024 as it was: no quota up to 2024, 5.1.04 0 against 3 either way, 2.3.01 against 2025: 40,
         and 5.1.05 is not in force by the end of 2024.)
  include=submitted: source_reduction 357.14 / 5 = 71.428 → 71.43; overall 552.14 / 9 = 61.3488… → 61.35.
  as_of the first approval of 2.3.01: 1.1.03 (57.14), 2.3.01 (87.5), 5.1.04 (0): 144.64 / 3 = 48.2133… →
         48.21; 3 of 48 → 0.0625; source_reduction 57.14, 1 of 15 → 0.0667; utilization 87.5, 1 of 14 → 0.0714.
  cgj scorecard 2024: (96.15 + 95 + 0) / 3 = 63.7166… → 63.72; 3 of 8 → 0.375; expected 12 + 4 + 6 = 22,
         submitted 5 (three months of 1.4.01, 2.3.01, 3.4.05), approved 4, 5 / 22 → 0.2273; all five first
         submitted long after 2024's deadlines → late 5; the other 17 never → overdue 17; on time 0 → 0.0.
         (5.1.05, which cgj leads, is not in force in 2024: still eight indicators.)
  2.3.01 milestones (example 12; version 2 valid from 2016-01-01 +08:00): 2023: 30, 2025: 40. The target of a
         period is the first milestone at or after its year, else the last. 2022, v 18: 2023: 30 → 100 × 18 / 30 =
         60; expected 100 × (2022 − 2020) / (2023 − 2020) = 66.666… → 66.67; 60 < 66.67 → behind. 2024, v 38:
         2025: 40 → 95, expected 80 → on_track (now version 2). This year, v 39: none at or after it → the last,
         2025: 40 → 100 × 39 / 40 = 97.5, expected 100 → behind.
  1.1.06 (example 13) increase, no baseline, no minimum, maximum 100, target 2025: 18. 2025, v −2.4 (a rise):
         100 × (−2.4) / 18 = −13.33… → 0 (clamped), expected 100 (target year) → behind. 120 > 100 → 422
         out_of_range "120 is out of range: it must be at most 100", nothing written.
  2025 board: 1.1.03 100, 1.1.06 0, 1.4.02 0, 5.1.04 0 → overall 100 / 4 = 25, 4 of 48 → 0.0833;
         source_reduction (100 + 0 + 0) / 3 = 33.333… → 33.33, 3 of 15 → 0.2; public 0, 1 of 4 → 0.25; the others
         none, 0.0. 5.1.05, defined today (example 14), is not on it (48 entries), so its coverage is unchanged.
  This year's board: 49 entries, 5.1.05 among them (percent, baseline 2025: 80, target 2030: 95, no value →
         no_data, expected 100 × (year − 2025) / (2030 − 2025): 20 in 2026). Scored: 1.4.02 40, 5.1.04 33.33,
         2.3.01 97.5 → (40 + 33.33 + 97.5) / 3 = 170.83 / 3 = 56.9433… → 56.94, 3 of 49 = 0.061224… → 0.0612;
         source_reduction 40, 1 of 15 → 0.0667; utilization 97.5, 1 of 14 → 0.0714; public 33.33, 1 of 5 → 0.2;
         disposal and support none, 0.0.
  2022 board (example 14, as it stood): now 2.3.01 60 and 5.1.04 0 → (60 + 0) / 2 = 30, 2 of 48 → 0.0417;
         utilization 60, 1 of 14 → 0.0714; public 0, 1 of 4 → 0.25; 1.4.02 no_target (no quota up to 2022), so
         source_reduction, disposal and support none, 0.0. as_of the 2022 value's approval (before the
         revision was recorded): version 1, target 2025: 40 → 100 × 18 / 40 = 45, expected 100 × 2 / 5 = 40;
         45 ≥ 40 → on_track; overall (45 + 0) / 2 = 22.5. This year's board as_of then: 48 entries (5.1.05 not yet
         defined).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.factories import assert_problem, bearer, make_token
from tests.guide_blocks import DOCS, FENCE, Block, read_blocks
from tests.servers import start_serve
from tests.test_scores import get_scores, item, report
from tests.test_submissions import NEXT_YEAR, THIS_YEAR, YEAR, acted

GUIDES = ("SCORING.md", "SCORING.zh-CN.md")
MARK = "<!-- tested: tests/test_guide_scoring.py -->"
GUIDE_NAMES = {"QUICKSTART", "AUTHENTICATION", "SUBMISSIONS", "ZHENGZHOU", "MOBILE", "SCORING", "ERRORS",
               "VERSIONING", "OPERATIONS"}
NODE = shutil.which("node") or "/usr/bin/node"
SHANGHAI = ZoneInfo("Asia/Shanghai")
CATEGORIES = ["source_reduction", "utilization", "disposal", "support", "public"]


# ------------------------------------------------------------------------------------------- the documents


def blocks(name: str) -> list[Block]:
    return read_blocks(name, MARK)


def guide_block(containing: str, lang: str | None = None) -> str:
    """The one tested block containing ``containing`` (of language ``lang``), the same in both languages."""
    found = []
    for name in GUIDES:
        matching = [block.code for block in blocks(name)
                    if block.tested and containing in block.code and lang in (None, block.lang)]
        assert len(matching) == 1, (name, containing, len(matching))
        found.append(matching[0])
    english, chinese = found
    assert english == chinese
    return english


def test_both_languages_carry_the_same_code_blocks() -> None:
    english, chinese = (blocks(name) for name in GUIDES)
    assert english == chinese  # code, commands, JSON and output identical, tested marks in the same places
    assert [block.lang for block in english if block.tested] == [
        "sh", "sh", "python", "sh", "sh", "sh", "sh", "sh", "sh", "js", "js", "text"]
    # every command and program is tested; only the answers shown (JSON) are not run
    assert {block.lang for block in english if not block.tested} == {"json"}


def test_the_guide_s_definition_changes_are_the_ones_the_examples_make() -> None:
    """The bodies of the guide's PATCH and POST commands are those the ASGI run of section 9 sends."""
    for containing, body in (('-X PATCH "$API/v1/indicators/1.1.01"', REVISION_1_1_01),
                             ('-X PATCH "$API/v1/indicators/2.3.01"', REVISION_2_3_01),
                             ('-X POST "$API/v1/indicators"', DEFINITION_5_1_05)):
        [data] = re.findall(r"-d '([^']*)'", guide_block(containing, "sh"))
        assert json.loads(data) == body, containing


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to hyphens."""
    kept = "".join(ch for ch in heading.strip().lower()
                   if ch in " -_" or unicodedata.category(ch)[0] in "LMN")
    return kept.replace(" ", "-")


def headings(name: str) -> list[tuple[int, str]]:
    text = FENCE.sub("", (DOCS / name).read_text(encoding="utf-8"))
    return [(len(match.group(1)), match.group(2)) for match in re.finditer(r"^(#{1,6}) (.+)$", text, re.M)]


def test_language_switch_sections_and_links() -> None:
    english, chinese = (headings(name) for name in GUIDES)
    assert [level for level, _ in english] == [level for level, _ in chinese]  # same sections, same order
    for ours, theirs in zip(english, chinese, strict=True):  # numbered alike
        assert re.match(r"[\d.]*", ours[1]).group(0) == re.match(r"[\d.]*", theirs[1]).group(0)  # type: ignore[union-attr]
    for name, switch in (("SCORING.md", "English · [简体中文](SCORING.zh-CN.md)"),
                         ("SCORING.zh-CN.md", "[English](SCORING.md) · 简体中文")):
        text = (DOCS / name).read_text(encoding="utf-8")
        lines = text.splitlines()
        assert lines[0].startswith("# ")
        assert next(line for line in lines[1:4] if line) == switch
        prose = FENCE.sub("", text)
        for target in re.findall(r"\]\(([^)#]+\.md)(?:#[^)]*)?\)", prose):
            assert "/" not in target, target
            assert target.removesuffix(".md").removesuffix(".zh-CN") in GUIDE_NAMES, target
        anchors = {slug(heading) for _, heading in headings(name)}
        links = re.findall(r"\]\(#([^)]+)\)", prose)
        assert links
        for anchor in links:
            assert anchor in anchors, (name, anchor)


# --------------------------------------------------------------------------------------- the worked examples


@dataclass
class Tokens:
    lead: str  # the lead office: revises indicators, reviews submissions and cells
    reader: str  # a dashboard's token: reads only
    gxj: str
    cgj: str
    nyj: str
    sthj: str
    jyj: str
    wlj: str


async def tokens(app: Any) -> Tokens:
    writers = {code: await make_token(app, code, ["submissions:write"]) for code in ("gxj", "cgj", "nyj", "sthj")}
    return Tokens(
        lead=await make_token(app, "lead", ["indicators:admin", "submissions:review", "cells:review"]),
        reader=await make_token(app, "tjj", ["aggregates:read"], name="dashboard"),
        jyj=await make_token(app, "jyj", ["cells:write"]), wlj=await make_token(app, "wlj", ["cells:write"]),
        **writers)


REVISION_1_1_01 = {"baseline": {"year": 2020, "value": 0.85}, "target": {"year": 2025, "value": 0.6}, "weight": 2,
                   "valid_from": "2024-01-01T00:00:00+08:00"}
REVISION_1_4_01 = {"target": {"year": 2025, "value": 1.0}, "valid_from": "2024-01-01T00:00:00+08:00"}
SCENIC_CRITERIA = [{"criterion": "organization", "points": 14}, {"criterion": "source_reduction", "points": 22},
                   {"criterion": "sorting", "points": 18}, {"criterion": "utilization", "points": 16},
                   {"criterion": "education", "points": 8}, {"criterion": "highlights", "points": 4}]  # 82
SCHOOL_CRITERIA = [*SCENIC_CRITERIA, {"criterion": "disposal", "points": 8}]  # 90


async def patch_indicator(http: httpx.AsyncClient, t: Tokens, code: str, etag: str, body: dict[str, Any]
                          ) -> dict[str, Any]:
    response = await http.patch(f"/v1/indicators/{code}", json=body,
                                headers=bearer(t.lead, **{"If-Match": etag}))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def certify(http: httpx.AsyncClient, t: Tokens, cell_id: int, criteria: list[dict[str, Any]],
                  total: int) -> None:
    today = datetime.now(SHANGHAI).date().isoformat()
    evaluation = await http.post(f"/v1/cells/{cell_id}/evaluations", headers=bearer(t.lead),
                                 json={"date": today, "evaluator": "市无废办评估组", "items": criteria})
    assert evaluation.status_code == 201, evaluation.text
    assert (evaluation.json()["total"], evaluation.json()["passed"]) == (total, True)
    done = await http.post(f"/v1/cells/{cell_id}/certify", headers=bearer(t.lead))
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "certified"


REVISION_2_3_01 = {"targets": [{"year": 2023, "value": 30}, {"year": 2025, "value": 40}],
                   "valid_from": "2016-01-01T00:00:00+08:00"}
DEFINITION_5_1_05 = {
    "code": "5.1.05", "name_zh": "生活垃圾分类知晓率", "name_en": "Awareness of household waste sorting",
    "category": "public", "group": "群众获得感", "kind": "self_selected", "unit": "%", "value_type": "percent",
    "direction": "increase", "frequency": "annual", "baseline": {"year": 2025, "value": 80},
    "target": {"year": 2030, "value": 95}, "lead_department": "cgj",
}


@dataclass
class LeadOffice:
    """The lead office's three definition changes of section 9, made by the guide's curl or by the same call."""

    revise_1_1_01: Callable[[], Awaitable[dict[str, Any]]]
    set_milestones_2_3_01: Callable[[], Awaitable[dict[str, Any]]]
    define_5_1_05: Callable[[], Awaitable[dict[str, Any]]]


def by_api(http: httpx.AsyncClient, t: Tokens) -> LeadOffice:
    async def define() -> dict[str, Any]:
        response = await http.post("/v1/indicators", json=DEFINITION_5_1_05, headers=bearer(t.lead))
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    return LeadOffice(
        revise_1_1_01=lambda: patch_indicator(http, t, "1.1.01", '"indicator-1.1.01-v1"', REVISION_1_1_01),
        set_milestones_2_3_01=lambda: patch_indicator(http, t, "2.3.01", '"indicator-2.3.01-v1"', REVISION_2_3_01),
        define_5_1_05=define)


@dataclass
class Moments:
    first_approval: str  # of 2.3.01's 2024 value (example 10)
    approval_2022: str  # of 2.3.01's 2022 value, before its milestones were recorded (example 14)


async def run_examples(http: httpx.AsyncClient, t: Tokens, office: LeadOffice) -> Moments:
    """The steps of the guide's section 9, in its order; answers the moments examples 10 and 14 ask about."""
    # 1. the lead office sets the missing targets
    revised = await office.revise_1_1_01()
    assert (revised["version"], revised["weight"], revised["baseline"], revised["target"]) == (
        2, 2, {"year": 2020, "value": 0.85}, {"year": 2025, "value": 0.6})
    revised = await patch_indicator(http, t, "1.4.01", '"indicator-1.4.01-v1"', REVISION_1_4_01)
    assert (revised["version"], revised["target"], revised["baseline"]) == (2, {"year": 2025, "value": 1}, None)
    # 2.–7. the departments report, the lead office approves
    await report(http, t.gxj, t.lead, "1.1.03", "2024", 13)
    await report(http, t.gxj, t.lead, "1.1.03", "2025", 17)
    construction = await report(http, t.cgj, t.lead, "2.3.01", "2024", None, numerator=42000, denominator=120000)
    assert construction["value"] == 35  # 100 × 42000 / 120000
    await report(http, t.sthj, t.lead, "1.1.01", "2023", 0.78)
    await report(http, t.sthj, t.lead, "1.1.01", "2024", 0.7)
    await report(http, t.cgj, t.lead, "1.4.01", "2024-10", 0.98)
    await report(http, t.cgj, t.lead, "1.4.01", "2024-11", 1.04)
    await report(http, t.cgj, t.lead, "1.4.01", "2024-12", 1.25, "submitted")
    await report(http, t.sthj, t.lead, "4.1.01", "2024", True)
    await report(http, t.cgj, t.lead, "3.4.05", "2024", False)
    await report(http, t.nyj, t.lead, "1.2.01", "2023", 21.6)
    await report(http, t.nyj, t.lead, "1.2.01", "2024", 20.9)
    await report(http, t.nyj, t.lead, "1.2.02", "2024", 0.42)
    # 8. 2.3.01 reopened, corrected, approved again
    sid = construction["id"]
    await acted(http, t.lead, sid, "reopen", {"reason": "建筑垃圾资源化利用量漏报一处消纳场，请更正"})
    etag = (await http.get(f"/v1/submissions/{sid}", headers=bearer(t.cgj))).headers["ETag"]
    edited = await http.patch(f"/v1/submissions/{sid}", json={"numerator": 45600},
                              headers=bearer(t.cgj, **{"If-Match": etag}))
    assert edited.status_code == 200, edited.text
    assert edited.json()["value"] == 38  # 100 × 45600 / 120000
    await acted(http, t.cgj, sid, "submit")
    assert (await acted(http, t.lead, sid, "approve"))["status"] == "approved"
    # 9. quotas (2025: school 1; this year: school 2, scenic 2), a school and the planned 伏羲山红石林景区 certified
    for year, cell_type, quota in ((2025, "school", 1), (YEAR, "school", 2), (YEAR, "scenic", 2)):
        response = await http.put(f"/v1/cell-quotas/{year}/{cell_type}", json={"quota": quota},
                                  headers=bearer(t.lead))
        assert response.status_code == 200, response.text
    school = await http.post("/v1/cells", headers=bearer(t.jyj), json={
        "type": "school", "name": "新密市实验小学", "town": "qingpingjie", "address": "青屏大街 2 号"})
    assert school.status_code == 201, school.text
    await certify(http, t, school.json()["id"], SCHOOL_CRITERIA, 90)
    planned = (await http.get("/v1/cells", params={"status": "planned", "type": "scenic"},
                              headers=bearer(t.reader))).json()["items"]
    fuxishan = next(cell for cell in planned if cell["name"] == "伏羲山红石林景区")
    etag = (await http.get(f"/v1/cells/{fuxishan['id']}", headers=bearer(t.wlj))).headers["ETag"]
    applied = await http.patch(f"/v1/cells/{fuxishan['id']}", json={"status": "applied"},
                               headers=bearer(t.wlj, **{"If-Match": etag}))
    assert applied.status_code == 200, applied.text
    await certify(http, t, fuxishan["id"], SCENIC_CRITERIA, 82)
    # 10. 2.3.01's 2022 value, approved before the milestones are set
    earlier = await report(http, t.cgj, t.lead, "2.3.01", "2022", 18)
    # 11. the lead office sets 2.3.01's milestones, reaching back over the plan period
    revised = await office.set_milestones_2_3_01()
    assert (revised["version"], revised["target"], revised["targets"]) == (
        2, {"year": 2025, "value": 40}, [{"year": 2023, "value": 30}, {"year": 2025, "value": 40}])
    assert datetime.fromisoformat(revised["valid_from"]) == datetime(2016, 1, 1, tzinfo=SHANGHAI)
    # 12. 2.3.01 this year; 1.1.06 for 2025: 120 is refused, then the rise is reported as −2.4
    await report(http, t.cgj, t.lead, "2.3.01", THIS_YEAR, 39)
    refused = await http.post("/v1/submissions", headers=bearer(t.gxj),
                              json={"indicator": "1.1.06", "period": "2025", "value": 120})
    problem = assert_problem(refused, 422, "out_of_range")
    assert problem["errors"] == [{"loc": ["value"], "msg": "120 is out of range: it must be at most 100",
                                  "type": "out_of_range"}]
    refused = await http.post("/v1/submissions", headers=bearer(t.gxj, **{"Accept-Language": "zh-CN"}),
                              json={"indicator": "1.1.06", "period": "2025", "value": 120})
    assert assert_problem(refused, 422, "out_of_range")["errors"][0]["msg"] == "120 超出取值范围：应不大于 100"
    reported = await http.get("/v1/submissions", params={"indicator": "1.1.06"}, headers=bearer(t.gxj))
    assert reported.json()["items"] == []  # nothing written
    await report(http, t.gxj, t.lead, "1.1.06", "2025", -2.4)
    # 13. the lead office defines an indicator of the next plan, in force from now
    defined = await office.define_5_1_05()
    assert (defined["code"], defined["version"], defined["min_value"], defined["max_value"]) == ("5.1.05", 1, 0, 100)
    assert datetime.fromisoformat(defined["valid_from"]) > datetime.fromisoformat(earlier["approved_at"])
    return Moments(first_approval=construction["approved_at"], approval_2022=earlier["approved_at"])


def means(body: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    found = {entry["code"]: (entry["score"], entry["coverage"]) for entry in body["categories"]}
    found["overall"] = (body["overall"]["score"], body["overall"]["coverage"])
    return found


def outcome(entry: dict[str, Any]) -> tuple[Any, ...]:
    return (entry["version"], entry["period"], entry["value"], entry["score"], entry["status"],
            entry["expected_progress"])


ENTRY_1_1_03_2024 = {  # shown whole in the guide's section 1
    "code": "1.1.03", "name_zh": "绿色工厂创建数量（累计）", "name_en": "Green factories created (cumulative)",
    "category": "source_reduction", "direction": "increase", "weight": 1.0, "source": "submissions", "version": 1,
    "period": "2024", "value": 13, "numerator": None, "denominator": None, "previous_value": None,
    "target": {"year": 2025, "value": 16}, "baseline": {"year": 2022, "value": 9}, "score": 57.14,
    "status": "behind", "expected_progress": 66.67,
    "formula": "100 × (v − b) / (t − b) = 100 × (13 − 9) / (16 − 9) = 57.14",
}
MEANS_2024 = {"source_reduction": (74.66, 0.2667), "utilization": (95.0, 0.0714), "disposal": (0.0, 0.1111),
              "support": (100.0, 0.1667), "public": (0.0, 0.25), "overall": (63.14, 0.1667)}


def check_board_2024(body: dict[str, Any]) -> None:
    assert (body["period"], body["as_of"], body["include"]) == ("2024", None, "approved")
    assert means(body) == MEANS_2024
    assert item(body, "1.1.03") == ENTRY_1_1_03_2024
    entry = item(body, "2.3.01")  # example 2, with example 12's milestones: 2024 against the 2025 one
    assert outcome(entry) == (2, "2024", 38, 95.0, "on_track", 80.0)
    assert (entry["numerator"], entry["denominator"], entry["target"], entry["baseline"]) == (
        45600, 120000, {"year": 2025, "value": 40}, None)
    assert entry["formula"] == "100 × v / t = 100 × 38 / 40 = 95"
    entry = item(body, "1.1.01")  # example 3
    assert outcome(entry) == (2, "2024", 0.7, 60.0, "behind", 80.0)
    assert (entry["weight"], entry["baseline"], entry["target"]) == (
        2, {"year": 2020, "value": 0.85}, {"year": 2025, "value": 0.6})
    assert entry["formula"] == "100 × (b − v) / (b − t) = 100 × (0.85 − 0.7) / (0.85 − 0.6) = 60"
    entry = item(body, "1.4.01")  # example 4
    assert outcome(entry) == (2, "2024-11", 1.04, 96.15, "on_track", 80.0)
    assert entry["formula"] == "100 × t / v = 100 × 1 / 1.04 = 96.15"
    # example 5
    assert outcome(item(body, "4.1.01")) == (1, "2024", True, 100.0, "achieved", 80.0)
    assert item(body, "4.1.01")["value"] is True
    assert item(body, "4.1.01")["formula"] == "boolean: true → 100"
    assert outcome(item(body, "3.4.05")) == (1, "2024", False, 0.0, "behind", 80.0)
    assert item(body, "3.4.05")["value"] is False
    assert item(body, "3.4.05")["formula"] == "boolean: false → 0"
    # example 6
    entry = item(body, "1.2.01")
    assert outcome(entry) == (1, "2024", 20.9, 100.0, "achieved", 100.0)
    assert (entry["previous_value"], entry["target"]) == (21.6, None)
    assert entry["formula"] == "decrease_vs_previous: v=20.9 < previous=21.6 → 100"
    entry = item(body, "1.2.02")
    assert outcome(entry) == (1, "2024", 0.42, None, "no_data", 100.0)
    assert (entry["previous_value"], entry["formula"]) == (None, None)
    # example 7, in 2024
    assert outcome(item(body, "1.4.02")) == (1, "2024", 0, None, "no_target", None)
    assert item(body, "1.4.02")["target"] is None
    assert outcome(item(body, "5.1.04")) == (1, "2024", 0, 0.0, "behind", 100.0)
    assert item(body, "5.1.04")["target"] == {"year": 2023, "value": 3}
    # section 10's counts
    counts: dict[str, int] = {}
    for entry in body["indicators"]:
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    assert counts == {"achieved": 2, "on_track": 2, "behind": 4, "no_data": 11, "no_target": 29}
    assert len(body["indicators"]) == 48


def check_board_submitted(body: dict[str, Any]) -> None:
    assert (body["period"], body["as_of"], body["include"]) == ("2024", None, "submitted")
    entry = item(body, "1.4.01")
    assert outcome(entry) == (2, "2024-12", 1.25, 80.0, "on_track", 80.0)
    assert entry["formula"] == "100 × t / v = 100 × 1 / 1.25 = 80"
    assert means(body) == {**MEANS_2024, "source_reduction": (71.43, 0.2667), "overall": (61.35, 0.1667)}


def check_board_as_of(body: dict[str, Any], first_approval: str) -> None:
    assert datetime.fromisoformat(body["as_of"]) == datetime.fromisoformat(first_approval)
    assert body["as_of"].endswith("Z")
    assert body["include"] == "approved"
    assert means(body) == {"source_reduction": (57.14, 0.0667), "utilization": (87.5, 0.0714), "disposal": (None, 0.0),
                           "support": (None, 0.0), "public": (0.0, 0.25), "overall": (48.21, 0.0625)}
    entry = item(body, "2.3.01")
    assert outcome(entry) == (1, "2024", 35, 87.5, "on_track", 80.0)
    assert (entry["numerator"], entry["denominator"]) == (42000, 120000)
    assert entry["formula"] == "100 × v / t = 100 × 35 / 40 = 87.5"
    assert item(body, "1.1.03")["score"] == 57.14
    assert item(body, "1.1.01")["value"] is None  # approved later


def check_scorecard(body: dict[str, Any]) -> None:
    assert (body["period"], body["as_of"], body["include"], body["deadline_days"]) == ("2024", None, "approved", 30)
    assert body["next_cursor"] == "eyJrIjoic2NvcmVjYXJkcyIsInYiOlsiY2dqIl19"  # as the guide shows it
    [card] = body["items"]
    assert (card["department"], card["name_zh"], card["name_en"]) == (
        "cgj", "新密市城市管理局", "Urban Management Bureau")
    assert (card["score"], card["coverage"]) == (63.72, 0.375)
    assert card["completeness"] == {"expected": 22, "submitted": 5, "approved": 4, "rate": 0.2273}
    assert card["timeliness"] == {"on_time": 0, "late": 5, "overdue": 17, "rate": 0.0}
    assert [entry["code"] for entry in card["indicators"]] == [
        "1.4.01", "1.4.03", "2.3.01", "2.4.01", "2.4.03", "3.4.01", "3.4.03", "3.4.05"]
    assert outcome(card["indicators"][0]) == (2, "2024-11", 1.04, 96.15, "on_track", 80.0)


NONE = (None, 0.0)


async def check_new_rules(http: httpx.AsyncClient, reader: str, moments: Moments) -> list[dict[str, Any]]:
    """Examples 7, 12, 13 and 14: the registry's cumulative counts, milestones, a rate of decrease that rose, and
    boards as they stood. Answers the boards read, for the means check."""
    this_year = await get_scores(http, reader, THIS_YEAR)
    in_2025 = await get_scores(http, reader, "2025")
    in_2022 = await get_scores(http, reader, "2022")
    then_2022 = await get_scores(http, reader, "2022", as_of=moments.approval_2022)
    then_this_year = await get_scores(http, reader, THIS_YEAR, as_of=moments.approval_2022)

    # example 7: 1.4.02 against every quota up to the year, 5.1.04 against its own milestone
    cells, scenic = item(this_year, "1.4.02"), item(this_year, "5.1.04")
    assert outcome(cells) == (1, THIS_YEAR, 2, 40.0, "behind", 100.0)
    assert (cells["target"], cells["numerator"], cells["denominator"]) == ({"year": YEAR, "value": 5}, None, None)
    assert cells["formula"] == "100 × v / t = 100 × 2 / 5 = 40"
    assert outcome(scenic) == (1, THIS_YEAR, 1, 33.33, "behind", 100.0)
    assert scenic["target"] == {"year": 2023, "value": 3}
    assert scenic["formula"] == "100 × v / t = 100 × 1 / 3 = 33.33"
    cells = item(in_2025, "1.4.02")
    assert outcome(cells) == (1, "2025", 0, 0.0, "behind", 100.0)
    assert (cells["target"], cells["formula"]) == ({"year": 2025, "value": 1}, "100 × v / t = 100 × 0 / 1 = 0")
    assert outcome(item(in_2025, "5.1.04")) == (1, "2025", 0, 0.0, "behind", 100.0)
    for year, expected in ((YEAR, {"school": (1, 1, 2), "scenic": (1, 1, 2)}), (2025, {"school": (0, 0, 1)})):
        summary = await http.get("/v1/cells/summary", params={"year": year}, headers=bearer(reader))
        assert summary.status_code == 200, summary.text
        found = {i["type"]: (i["certified"], i["cumulative"], i["quota"]) for i in summary.json()["items"]}
        assert {cell_type: found[cell_type] for cell_type in expected} == expected

    # example 12: 2.3.01's milestones 2023: 30 and 2025: 40
    entry = item(in_2022, "2.3.01")
    assert outcome(entry) == (2, "2022", 18, 60.0, "behind", 66.67)
    assert (entry["target"], entry["formula"]) == ({"year": 2023, "value": 30}, "100 × v / t = 100 × 18 / 30 = 60")
    for period, expected in (("2021", 33.33), ("2023", 100.0)):  # section 4's table, no value those years
        entry = item(await get_scores(http, reader, period), "2.3.01")
        assert outcome(entry) == (2, period, None, None, "no_data", expected)
        assert entry["target"] == {"year": 2023, "value": 30}
    entry = item(this_year, "2.3.01")
    assert outcome(entry) == (2, THIS_YEAR, 39, 97.5, "behind", 100.0)
    assert (entry["target"], entry["formula"]) == ({"year": 2025, "value": 40}, "100 × v / t = 100 × 39 / 40 = 97.5")

    # example 13: a rate of decrease that rose
    entry = item(in_2025, "1.1.06")
    assert outcome(entry) == (1, "2025", -2.4, 0.0, "behind", 100.0)
    assert (entry["target"], entry["baseline"]) == ({"year": 2025, "value": 18}, None)
    assert entry["formula"] == "100 × v / t = 100 × -2.4 / 18 = 0 (clamped to 0–100)"

    # example 14: 5.1.05, defined today, is on this year's board but not on 2025's
    assert len(in_2025["indicators"]) == 48
    assert "5.1.05" not in {entry["code"] for entry in in_2025["indicators"]}
    assert means(in_2025) == {"source_reduction": (33.33, 0.2), "utilization": NONE, "disposal": NONE,
                              "support": NONE, "public": (0.0, 0.25), "overall": (25.0, 0.0833)}
    assert len(this_year["indicators"]) == 49
    entry = item(this_year, "5.1.05")
    progress = 100 * (YEAR - 2025) / (2030 - 2025)  # 20 in 2026
    assert outcome(entry) == (1, THIS_YEAR, None, None, "no_data", progress)
    assert (entry["target"], entry["baseline"]) == ({"year": 2030, "value": 95}, {"year": 2025, "value": 80})
    assert means(this_year) == {"source_reduction": (40.0, 0.0667), "utilization": (97.5, 0.0714),
                                "disposal": NONE, "support": NONE, "public": (33.33, 0.2),
                                "overall": (56.94, 0.0612)}
    # … and as_of a moment before the revision of 2.3.01 and the definition of 5.1.05: the board as it stood
    assert means(in_2022) == {"source_reduction": NONE, "utilization": (60.0, 0.0714), "disposal": NONE,
                              "support": NONE, "public": (0.0, 0.25), "overall": (30.0, 0.0417)}
    assert outcome(item(in_2022, "5.1.04")) == (1, "2022", 0, 0.0, "behind", 66.67)
    assert item(in_2022, "1.4.02")["status"] == "no_target"
    entry = item(then_2022, "2.3.01")
    assert outcome(entry) == (1, "2022", 18, 45.0, "on_track", 40.0)
    assert (entry["target"], entry["formula"]) == ({"year": 2025, "value": 40}, "100 × v / t = 100 × 18 / 40 = 45")
    assert means(then_2022)["overall"] == (22.5, 0.0417)
    assert len(then_this_year["indicators"]) == 48
    assert "5.1.05" not in {entry["code"] for entry in then_this_year["indicators"]}
    return [this_year, in_2025, in_2022, then_2022, then_this_year]


def python_means() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "scoring_guide"}
    exec(compile(guide_block("def mean_and_coverage", "python"), "docs/SCORING.md (means)", "exec"),  # noqa: S102
         namespace)
    return namespace


async def test_the_worked_examples(app: Any, client: httpx.AsyncClient) -> None:
    t = await tokens(app)
    moments = await run_examples(client, t, by_api(client, t))
    first_approval = moments.first_approval
    board = await get_scores(client, t.reader, "2024")
    check_board_2024(board)

    # example 1 in 2025: clamped, the target year
    body = await get_scores(client, t.reader, "2025")
    entry = item(body, "1.1.03")
    assert outcome(entry) == (1, "2025", 17, 100.0, "achieved", 100.0)
    assert entry["formula"] == "100 × (v − b) / (t − b) = 100 × (17 − 9) / (16 − 9) = 100 (clamped to 0–100)"
    # example 3 in 2023: version 1, no target; example 6 in 2023: no previous value
    body = await get_scores(client, t.reader, "2023")
    entry = item(body, "1.1.01")
    assert outcome(entry) == (1, "2023", 0.78, None, "no_target", None)
    assert (entry["weight"], entry["target"], entry["baseline"], entry["formula"]) == (1, None, None, None)
    assert outcome(item(body, "1.2.01")) == (1, "2023", 21.6, None, "no_data", 100.0)
    # example 4 in a quarter and a month
    body = await get_scores(client, t.reader, "2024Q4")
    assert outcome(item(body, "1.4.01")) == (2, "2024-11", 1.04, 96.15, "on_track", 80.0)
    assert outcome(item(body, "2.3.01")) == (2, "2024Q4", None, None, "no_data", 80.0)  # annual: no value
    body = await get_scores(client, t.reader, "2024-10")
    assert outcome(item(body, "1.4.01")) == (2, "2024-10", 0.98, 100.0, "achieved", 80.0)
    assert item(body, "1.4.01")["formula"] == "v ≤ t: 0.98 ≤ 1 → 100"
    # example 9
    submitted = await get_scores(client, t.reader, "2024", include="submitted")
    check_board_submitted(submitted)
    # example 10, with the moment in UTC and in Beijing time
    then = await get_scores(client, t.reader, "2024", as_of=first_approval)
    check_board_as_of(then, first_approval)
    beijing = datetime.fromisoformat(first_approval).astimezone(SHANGHAI).isoformat()
    assert beijing.endswith("+08:00")
    check_board_as_of(await get_scores(client, t.reader, "2024", as_of=beijing), first_approval)
    # example 11
    response = await client.get("/v1/scores/departments", params={"period": "2024", "limit": 1},
                                headers=bearer(t.reader))
    assert response.status_code == 200, response.text
    check_scorecard(response.json())

    # section 7's Python gives the API's means on every board
    guide = python_means()
    category_score, mean_and_coverage = guide["category_score"], guide["mean_and_coverage"]
    assert category_score(board, "source_reduction") == (74.66, 0.2667)  # the comment in the block
    assert mean_and_coverage(board["indicators"]) == (63.14, 0.1667)
    assert (guide["round_half_up"](0.125, 2), guide["round_half_up"](31.245, 2)) == (0.13, 31.25)  # section 2
    boards = [board, submitted, then, *await check_new_rules(client, t.reader, moments)]
    for period in ("2023", "2024Q4", "2024-10"):
        boards.append(await get_scores(client, t.reader, period))
    for body in boards:
        mine = {code: category_score(body, code) for code in CATEGORIES}
        mine["overall"] = mean_and_coverage(body["indicators"])
        assert mine == means(body), body["period"]


async def test_the_guide_s_claims_about_answers_and_errors(app: Any, client: httpx.AsyncClient) -> None:
    """Section 1: no ETag, no-store; every refusal of the error table, with its errors[].type."""
    reader = await make_token(app, "tjj", ["aggregates:read"])
    response = await client.get("/v1/scores", params={"period": "2024"}, headers=bearer(reader))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert "etag" not in response.headers
    assert_problem(await client.get("/v1/scores", params={"period": "2024"}), 401, "token_missing")
    # section 3: as loaded, 31 of the 48 are no_target, 1.4.02 among them (no quota yet)
    fresh = response.json()["indicators"]
    assert len(fresh) == 48
    assert sum(entry["status"] == "no_target" for entry in fresh) == 31
    assert item(response.json(), "1.4.02")["status"] == "no_target"
    future = (datetime.now(SHANGHAI) + timedelta(days=1)).isoformat()
    refusals = [
        ("period=2024q1", "period", "invalid_period"), ("period=2024-1", "period", "invalid_period"),
        ("period=2024Q5", "period", "invalid_period"), ("period=2015", "period", "period_too_early"),
        (f"period={NEXT_YEAR}", "period", "period_not_started"),
        (f"period=2024&as_of={future.replace('+', '%2B')}", "as_of", "as_of_in_future"),
        ("period=2024&as_of=2025-06-30", "as_of", "timezone_aware"),
        ("period=2024&as_of=2025-06-30T18:00:00", "as_of", "timezone_aware"),
        ("period=2024&as_of=2025-06-30T18:00:00+08:00", "as_of", "datetime_from_date_parsing"),  # + not encoded
        ("period=2024&include=draft", "include", "literal_error"),
    ]
    for query, parameter, kind in refusals:
        body = assert_problem(await client.get(f"/v1/scores?{query}", headers=bearer(reader)), 422,
                              "validation_failed")
        assert [(error["loc"], error["type"]) for error in body["errors"]] == [(["query", parameter], kind)], query
    encoded = await client.get("/v1/scores?period=2024&as_of=2025-06-30T18:00:00%2B08:00", headers=bearer(reader))
    assert encoded.status_code == 200, encoded.text
    assert encoded.json()["as_of"] == "2025-06-30T10:00:00Z"
    # section 5.3: the catalogue's first versions count as known at any moment, before this database existed
    assert len(encoded.json()["indicators"]) == 48
    # section 4: target and targets together are refused, and nothing is revised
    lead = await make_token(app, "lead", ["indicators:admin"])
    both = await client.patch("/v1/indicators/2.3.01", headers=bearer(lead, **{"If-Match": '"indicator-2.3.01-v1"'}),
                              json={"target": {"year": 2025, "value": 40},
                                    "targets": [{"year": 2023, "value": 30}, {"year": 2025, "value": 40}]})
    assert_problem(both, 422, "validation_failed")
    versions = await client.get("/v1/indicators/2.3.01/versions", headers=bearer(reader))
    assert [version["version"] for version in versions.json()["items"]] == [1]


# ------------------------------------------------------------------ the guide's commands against a real server


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Any:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZWC_")}
    env.update({"ZWC_DATABASE_URL": database_url, "ZWC_FILES_DIR": str(tmp_path / "files"),
                "ZWC_LOG_LEVEL": "WARNING"})
    process, base = start_serve(env, "--no-worker", stdout=tmp_path / "serve.log")
    yield base
    process.terminate()
    process.wait(timeout=30)


def shell(block: str, **variables: str) -> Any:
    """Run a guide's command with bash, with $API, $TOKEN… set; answers its output as JSON."""
    result = subprocess.run(["bash", "-c", block], env={"PATH": os.environ["PATH"], **variables},
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def node(tmp_path: Path, script: str, **variables: str) -> str:
    (tmp_path / "scores.mjs").write_text(guide_block("export async function getScores", "js"), encoding="utf-8")
    (tmp_path / "main.mjs").write_text(script, encoding="utf-8")
    result = subprocess.run([NODE, str(tmp_path / "main.mjs")], env={"PATH": os.environ["PATH"], **variables},
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_the_guide_s_commands_and_programs_against_a_real_server(app: Any, server: str,
                                                                       tmp_path: Path) -> None:
    t = await tokens(app)
    env = {"API": server, "TOKEN": t.reader, "LEAD_TOKEN": t.lead}

    def as_written(containing: str) -> Callable[[], Awaitable[dict[str, Any]]]:
        async def run() -> dict[str, Any]:  # the guide's own command, run as written
            answer: dict[str, Any] = shell(guide_block(containing, "sh"), **env)
            return answer
        return run

    office = LeadOffice(revise_1_1_01=as_written('-X PATCH "$API/v1/indicators/1.1.01"'),
                        set_milestones_2_3_01=as_written('-X PATCH "$API/v1/indicators/2.3.01"'),
                        define_5_1_05=as_written('-X POST "$API/v1/indicators"'))
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        moments = await run_examples(http, t, office)
        await check_new_rules(http, t.reader, moments)
    first_approval = moments.first_approval

    check_board_2024(shell(guide_block('"$API/v1/scores?period=2024" -H', "sh"), **env))
    check_board_submitted(shell(guide_block("include=submitted", "sh"), **env))
    as_of = datetime.fromisoformat(first_approval).astimezone(SHANGHAI).isoformat()  # as the guide writes it
    check_board_as_of(shell(guide_block('"as_of=$AS_OF"', "sh"), **env, AS_OF=as_of), first_approval)
    check_scorecard(shell(guide_block("/v1/scores/departments", "sh"), **env))
    problem = shell(guide_block("period=2024Q5", "sh"), **env)
    assert {key: problem[key] for key in ("type", "title", "status", "detail", "code", "instance")} == {
        "type": "urn:zwc:problem:validation_failed", "title": "校验失败", "status": 422,
        "detail": "请求内容不合法，详见 errors。", "code": "validation_failed", "instance": "/v1/scores"}
    assert problem["errors"] == [{"loc": ["query", "period"], "msg": "期间格式应为 YYYY、YYYYQn 或 YYYY-MM",
                                  "type": "invalid_period"}]
    shown = json.loads(next(block.code for block in blocks("SCORING.md")
                            if block.lang == "json" and "urn:zwc:problem" in block.code))
    assert {**shown, "request_id": None} == {**problem, "request_id": None}  # the guide shows it whole

    # section 10: the module and its usage print the guide's output
    printed = node(tmp_path, guide_block("const board = await getScores", "js"), **env)
    assert printed == guide_block("overall 63.14", "text")
    # what the guide says of getScores: the error it throws, and as_of with "+08:00" encoded
    printed = node(tmp_path, """import { getScores } from "./scores.mjs";
try { await getScores(process.env.API, process.env.TOKEN, "2024Q5"); } catch (error) { console.log(error.message); }
const then = await getScores(process.env.API, process.env.TOKEN, "2024", { asOf: process.env.AS_OF });
const now = await getScores(process.env.API, process.env.TOKEN, "2024", { include: "submitted" });
console.log(JSON.stringify([then.as_of, then.overall, now.include, now.overall]));
""", **env, AS_OF=as_of)
    message, answers = printed.splitlines()
    assert message == "422 validation_failed (query.period: invalid_period)"
    then_as_of, then_overall, include, overall = json.loads(answers)
    assert datetime.fromisoformat(then_as_of) == datetime.fromisoformat(first_approval)
    assert (then_overall, include, overall) == ({"score": 48.21, "coverage": 0.0625}, "submitted",
                                                {"score": 61.35, "coverage": 0.1667})

