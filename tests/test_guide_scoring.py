"""docs/SCORING.md and docs/SCORING.zh-CN.md, the scoring guide: both languages carry the same code blocks and
sections; every worked example of its section 9 is reproduced through the API (submissions by the lead
departments, approvals by the lead office, cells certified, then GET /v1/scores and /v1/scores/departments)
and every number the guide gives is checked; every block marked `<!-- tested: tests/test_guide_scoring.py -->`
is run, taken from both files: the curl commands (bash, against a real `zwc serve` on the test's database),
the Python means (exec'd, compared with the API's means on every board), the JavaScript module and its usage
(`node`, whose output must be the guide's printed output).

The numbers, worked out by hand from SPEC §6 (catalogue facts from app/catalogue/data/indicators.csv; the
guide's section 9 shows the same steps):
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
  1.4.02 this year: 2 cells; quotas school 2 + scenic 2 = 4 → 100 × 2 / 4 = 50, expected 100 → behind.
  5.1.04 this year: 1 scenic area; scenic quota 2 → 50, behind. In 2024: 0 / 3 → 0, behind (after 2023).
  source_reduction 2024: (2 × 60 + 57.14 + 100 + 96.15) / 5 = 373.29 / 5 = 74.658 → 74.66; 4 of 15 → 0.2667.
  overall 2024: (373.29 + 95 + 0 + 100 + 0) / 9 = 568.29 / 9 = 63.1433… → 63.14; 8 of 48 → 0.1667.
  include=submitted: source_reduction 357.14 / 5 = 71.428 → 71.43; overall 552.14 / 9 = 61.3488… → 61.35.
  as_of the first approval of 2.3.01: 1.1.03 (57.14), 2.3.01 (87.5), 5.1.04 (0): 144.64 / 3 = 48.2133… →
         48.21; 3 of 48 → 0.0625; source_reduction 57.14, 1 of 15 → 0.0667; utilization 87.5, 1 of 14 → 0.0714.
  cgj scorecard 2024: (96.15 + 95 + 0) / 3 = 63.7166… → 63.72; 3 of 8 → 0.375; expected 12 + 4 + 6 = 22,
         submitted 5 (three months of 1.4.01, 2.3.01, 3.4.05), approved 4, 5 / 22 → 0.2273; all five first
         submitted long after 2024's deadlines → late 5; the other 17 never → overdue 17; on time 0 → 0.0.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import unicodedata
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
        "sh", "sh", "python", "sh", "sh", "sh", "sh", "js", "js", "text"]
    # every command and program is tested; only the answers shown (JSON) are not run
    assert {block.lang for block in english if not block.tested} == {"json"}


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


async def run_examples(http: httpx.AsyncClient, t: Tokens, revise_1_1_01: Any) -> str:
    """The steps of the guide's section 9, in its order; answers the first approval's `approved_at` of 2.3.01."""
    # 1. the lead office sets the missing targets (1.1.01 by ``revise_1_1_01``: the guide's curl, or the same call)
    revised = await revise_1_1_01()
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
    # 9. this year's quotas, a school and the planned 伏羲山红石林景区 certified
    for cell_type in ("school", "scenic"):
        response = await http.put(f"/v1/cell-quotas/{YEAR}/{cell_type}", json={"quota": 2}, headers=bearer(t.lead))
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
    first_approval: str = construction["approved_at"]
    return first_approval


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
    entry = item(body, "2.3.01")  # example 2
    assert outcome(entry) == (1, "2024", 38, 95.0, "on_track", 80.0)
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


def python_means() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "scoring_guide"}
    exec(compile(guide_block("def mean_and_coverage", "python"), "docs/SCORING.md (means)", "exec"),  # noqa: S102
         namespace)
    return namespace


async def test_the_worked_examples(app: Any, client: httpx.AsyncClient) -> None:
    t = await tokens(app)

    async def revise() -> dict[str, Any]:
        return await patch_indicator(client, t, "1.1.01", '"indicator-1.1.01-v1"', REVISION_1_1_01)

    first_approval = await run_examples(client, t, revise)
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
    assert outcome(item(body, "2.3.01")) == (1, "2024Q4", None, None, "no_data", 80.0)  # annual: no value
    body = await get_scores(client, t.reader, "2024-10")
    assert outcome(item(body, "1.4.01")) == (2, "2024-10", 0.98, 100.0, "achieved", 80.0)
    assert item(body, "1.4.01")["formula"] == "v ≤ t: 0.98 ≤ 1 → 100"
    # example 7 this year
    body = await get_scores(client, t.reader, THIS_YEAR)
    cells, scenic = item(body, "1.4.02"), item(body, "5.1.04")
    assert outcome(cells) == (1, THIS_YEAR, 2, 50.0, "behind", 100.0)
    assert (cells["target"], cells["numerator"], cells["denominator"]) == ({"year": YEAR, "value": 4}, None, None)
    assert cells["formula"] == "100 × v / t = 100 × 2 / 4 = 50"
    assert outcome(scenic) == (1, THIS_YEAR, 1, 50.0, "behind", 100.0)
    assert scenic["target"] == {"year": YEAR, "value": 2}
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
    boards = [board, submitted, then]
    for period in ("2023", "2024Q4", "2024-10", "2025", THIS_YEAR):
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

    async def revise() -> dict[str, Any]:  # the guide's own PATCH, run as written
        answer: dict[str, Any] = shell(guide_block('-X PATCH "$API/v1/indicators/1.1.01"', "sh"), **env)
        return answer

    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        first_approval = await run_examples(http, t, revise)

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

