"""docs/SUBMISSIONS.md and docs/SUBMISSIONS.zh-CN.md, the guide for the reporting form and the review queue.

The two languages carry the same sections and the same code blocks; every block marked
`<!-- tested: tests/test_guide_submissions.py -->` is taken from both files and run here:

- the JavaScript helpers (`computedValue`, `valueProblem`, `agrees`, `periodOptions`, `fieldKey`,
  `errorsByField`), run by `node` and compared both with hand-worked answers and with what the service
  answers for the same input (dry-run batches, real 422 bodies);
- the Python `openpyxl` snippet that fills the template, run on a real template; the filled workbook is
  uploaded exactly as §13 says (dry run, then import) and every answer the guide shows is checked.

Also the guide's walkthrough (§3–§11) call by call, with the statuses, versions and fields it shows, and the
template's layout as §13 describes it (tests/test_excel.py covers its header, codes and the 是/否 list).

Figures by hand (catalogue: 2.3.01 annual percent, lead cgj, cooperating zjj, target 2025: 40; 1.4.03
quarterly percent; 1.4.01 monthly quantity; 3.4.05 annual boolean, target 2025: 是; 1.1.01 ratio, lead sthj;
1.1.03 count, lead gxj; 4.1.02 boolean, lead lead):
  45650 / 110000 × 100 = 41.5;  40150 / 110000 × 100 = 36.5;  19800 / 110000 × 100 = 18
  412 / 418 × 100 = 98.56459330143541…;  416 / 418 × 100 = 99.52153110047847…;  ratio 5 / 2 = 2.5
  |18 − 41.5| / 41.5 = 0.566 > 0.5 → outlier;  98.56 vs 98.564593… differs by 4.6e-3 > 1e-6 → value_mismatch,
  98.564593 differs by 3.3e-7 → agrees
A submission's versions in the walkthrough: created 1, edited 2, submitted 3, returned 4, edited 5,
submitted 6, approved 7, reopened 8.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook

from tests.factories import assert_problem, bearer, make_token
from tests.test_files import pdf_bytes, png_bytes

DOCS = Path(__file__).resolve().parent.parent / "docs"
GUIDES = ("SUBMISSIONS.md", "SUBMISSIONS.zh-CN.md")
MARK = "<!-- tested: tests/test_guide_submissions.py -->"
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```$", re.M | re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")
GUIDE_NAMES = {"QUICKSTART", "AUTHENTICATION", "SUBMISSIONS", "ZHENGZHOU", "MOBILE", "SCORING", "ERRORS",
               "VERSIONING", "OPERATIONS"}
SINGLE_FILE_GUIDES = {"ERRORS", "VERSIONING", "OPERATIONS"}  # bilingual in one file
NODE = shutil.which("node") or "/usr/bin/node"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHANGHAI = ZoneInfo("Asia/Shanghai")


# ------------------------------------------------------------------------------------------ the guide


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    tested: bool


def guide_text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def blocks(name: str) -> list[Block]:
    text = guide_text(name)
    found = []
    for match in FENCE.finditer(text):
        line_before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        found.append(Block(match.group(1), match.group(2), line_before.strip() == MARK))
    assert text.count(MARK) == sum(block.tested for block in found), f"{name}: a mark not right above a block"
    return found


def guide_block(containing: str, *, tested: bool = True) -> str:
    """The one block (tested, unless told) containing ``containing``, the same in both languages."""
    found = []
    for name in GUIDES:
        matching = [b.code for b in blocks(name) if b.tested == tested and containing in b.code]
        assert len(matching) == 1, (name, containing, len(matching))
        found.append(matching[0])
    english, chinese = found
    assert english == chinese
    return english


def test_both_languages_have_the_same_sections_and_code_blocks() -> None:
    english, chinese = (guide_text(name) for name in GUIDES)
    assert english.splitlines()[2] == "English · [简体中文](SUBMISSIONS.zh-CN.md)"
    assert chinese.splitlines()[2] == "[English](SUBMISSIONS.md) · 简体中文"
    headings = [[re.sub(r"^(#+) ([0-9.]*).*", r"\1 \2", line) for line in text.splitlines()
                 if line.startswith("#")] for text in (english, chinese)]
    assert headings[0] == headings[1]
    assert len(headings[0]) >= 15
    assert blocks(GUIDES[0]) == blocks(GUIDES[1])
    assert sum(block.tested for block in blocks(GUIDES[0])) == 4
    # Only code, commands and data in blocks: no ASCII-art typo could differ between the two files.
    assert {block.lang for block in blocks(GUIDES[0])} == {"sh", "json", "http", "js", "python", "text"}


@pytest.mark.parametrize("name", GUIDES)
def test_links_go_to_the_guides_in_the_same_language(name: str) -> None:
    links = LINK.findall(guide_text(name))
    assert links
    for target in links:
        match = re.fullmatch(r"([A-Z]+)(\.zh-CN)?\.md", target)
        assert match is not None, target
        assert match[1] in GUIDE_NAMES, target
        if match[1] == "SUBMISSIONS":  # the language switch
            assert (match[2] is None) == name.endswith(".zh-CN.md"), target
        elif match[1] in SINGLE_FILE_GUIDES:
            assert match[2] is None, target
        else:
            assert (match[2] is not None) == name.endswith(".zh-CN.md"), target


# ------------------------------------------------------------------------------------------ JavaScript


def run_node(harness: str, payload: Any, tmp_path: Path) -> Any:
    """The guide's JavaScript blocks as one module, then ``harness`` (reads ``input``, prints ``output``)."""
    module = "\n".join(guide_block(marker) for marker in (
        "export function computedValue", "export function periodOptions", "export function fieldKey"))
    script = tmp_path / "guide.mjs"
    script.write_text(module + """
import { readFileSync } from "node:fs";
const input = JSON.parse(readFileSync(0, "utf8"));
let output;
""" + harness + "\nconsole.log(JSON.stringify(output));\n", encoding="utf-8")
    result = subprocess.run([NODE, str(script)], input=json.dumps(payload), capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
async def cgj(app: Any) -> str:
    return await make_token(app, "cgj", ["submissions:write"], name="cgj writer")


@pytest.fixture
async def lead(app: Any) -> str:
    return await make_token(app, "lead", ["submissions:review"], name="lead office reviewer")


async def dry_run(client: httpx.AsyncClient, token: str, item: dict[str, Any],
                  lang: str = "en") -> httpx.Response:
    return await client.post("/v1/submissions/batch?dry_run=true", json={"items": [item]},
                             headers=bearer(token, **{"Accept-Language": lang}))


def refusal_types(response: httpx.Response) -> list[str]:
    if response.status_code == 200:
        return []
    body = assert_problem(response, 422, response.json().get("code"))
    assert body["code"] == ("out_of_range" if {e["type"] for e in body["errors"]} == {"out_of_range"}
                            else "validation_failed")
    return [error["type"] for error in body["errors"]]


VALUES: list[Any] = [-1, 0, 0.5, 16, 16.5, 100, 100.5, True, False]
# value type → (an indicator of that type, its lead department, a period for it, the refusal for each VALUE)
VALUE_RULES: dict[str, tuple[str, str, str, list[str | None]]] = {
    "percent": ("2.3.01", "cgj", "2024", ["out_of_range", None, None, None, None, None, "out_of_range",
                                          "number_expected", "number_expected"]),
    # a rate of decrease: no minimum (a rise is negative), at most 100
    "percent-of-change": ("1.1.06", "gxj", "2024", [None, None, None, None, None, None, "out_of_range",
                                                    "number_expected", "number_expected"]),
    "ratio": ("1.1.01", "sthj", "2024", ["out_of_range", None, None, None, None, None, None,
                                         "number_expected", "number_expected"]),
    "quantity": ("3.1.01", "sthj", "2024", ["out_of_range", None, None, None, None, None, None,
                                            "number_expected", "number_expected"]),
    "count": ("1.1.03", "gxj", "2024", ["out_of_range", None, "not_integer", None, "not_integer", None,
                                        "not_integer", "number_expected", "number_expected"]),
    "boolean": ("3.4.05", "cgj", "2024", ["boolean_expected"] * 7 + [None, None]),
}


async def test_the_value_rules_in_javascript_are_the_services(app: Any, client: httpx.AsyncClient,
                                                              tmp_path: Path) -> None:
    tokens = {department: await make_token(app, department, ["submissions:write"])
              for department in ("cgj", "sthj", "gxj")}
    definitions = {code: (await client.get(f"/v1/indicators/{code}", headers=bearer(tokens["cgj"]))).json()
                   for code, *_ in VALUE_RULES.values()}
    cases = [{"indicator": definitions[code], "value": value} for code, *_ in VALUE_RULES.values() for value in VALUES]
    answers = run_node("output = input.map((c) => valueProblem(c.indicator, c.value));", cases, tmp_path)
    expected = [problem for _, _, _, problems in VALUE_RULES.values() for problem in problems]
    assert answers == expected
    service = []
    for indicator, department, period, _ in VALUE_RULES.values():
        for value in VALUES:
            found = refusal_types(await dry_run(client, tokens[department],
                                                {"indicator": indicator, "period": period, "value": value}))
            service.append(found[0] if found else None)
    assert service == expected


async def test_computed_values_are_the_stored_values(app: Any, client: httpx.AsyncClient, cgj: str,
                                                     tmp_path: Path) -> None:
    sthj = await make_token(app, "sthj", ["submissions:write"])
    pairs = [("2.3.01", "percent", 45650, 110000, 41.5), ("2.3.01", "percent", 40150, 110000, 36.5),
             ("2.3.01", "percent", 19800, 110000, 18.0), ("1.4.03", "percent", 412, 418, 98.56459330143541),
             ("1.4.03", "percent", 416, 418, 99.52153110047847), ("1.1.01", "ratio", 5, 2, 2.5)]
    computed = run_node("output = input.map(([t, n, d]) => computedValue(t, n, d));",
                        [[value_type, n, d] for _, value_type, n, d, _ in pairs], tmp_path)
    assert computed == [value for *_, value in pairs]
    for indicator, value_type, n, d, value in pairs:
        period = "2025Q4" if indicator == "1.4.03" else "2024"
        token = sthj if value_type == "ratio" else cgj
        response = await dry_run(client, token, {"indicator": indicator, "period": period, "numerator": n,
                                                 "denominator": d})
        assert response.status_code == 200, response.text
        assert response.json()["items"][0]["value"] == value  # exactly what the form previewed
    # The 1e-6 rule: the guide's two values typed beside 412 / 418.
    agreed = run_node('output = input.map((v) => agrees(v, "percent", 412, 418));', [98.564593, 98.56], tmp_path)
    assert agreed == [True, False]
    for typed, types in ((98.564593, []), (98.56, ["value_mismatch"])):
        response = await dry_run(client, cgj, {"indicator": "1.4.03", "period": "2025Q4", "value": typed,
                                               "numerator": 412, "denominator": 418})
        assert refusal_types(response) == types


def test_period_options_by_hand(tmp_path: Path) -> None:
    moments = ["2026-03-31T15:59:59Z",  # 23:59:59 on 31 March in Beijing: still Q1 and March
               "2026-03-31T16:00:00Z",  # midnight, 1 April in Beijing: Q2 and April have started
               "2015-12-31T16:00:00Z"]  # the first instant of 2016 in Beijing
    answers = run_node("""output = input.map((moment) => ["annual", "quarterly", "monthly"].map((f) => {
  const options = periodOptions(f, new Date(moment));
  return [options.length, options[0], options[1] ?? null, options.at(-1)];
}));""", moments, tmp_path)
    assert answers == [
        [[11, "2026", "2025", "2016"], [41, "2026Q1", "2025Q4", "2016Q1"], [123, "2026-03", "2026-02", "2016-01"]],
        [[11, "2026", "2025", "2016"], [42, "2026Q2", "2026Q1", "2016Q1"], [124, "2026-04", "2026-03", "2016-01"]],
        [[1, "2016", None, "2016"], [1, "2016Q1", None, "2016Q1"], [1, "2016-01", None, "2016-01"]],
    ]


def following(label: str) -> str:
    """The period after ``label`` (same form)."""
    if "Q" in label:
        year, quarter = int(label[:4]), int(label[5])
        return f"{year + 1}Q1" if quarter == 4 else f"{year}Q{quarter + 1}"
    if "-" in label:
        year, month = int(label[:4]), int(label[5:])
        return f"{year + 1}-01" if month == 12 else f"{year}-{month + 1:02d}"
    return str(int(label) + 1)


async def test_period_options_end_where_the_service_stops(client: httpx.AsyncClient, cgj: str,
                                                          tmp_path: Path) -> None:
    # Run again if Beijing's date turned while node ran: both sides must have seen the same day.
    for _ in range(2):
        now = datetime.now(SHANGHAI)
        firsts = run_node('output = ["annual", "quarterly", "monthly"].map((f) => periodOptions(f)[0]);', None,
                          tmp_path)
        if datetime.now(SHANGHAI).date() == now.date():
            break
    assert firsts[0] == str(now.year)
    for indicator, first in zip(("2.3.01", "1.4.03", "1.4.01"), firsts, strict=True):
        assert refusal_types(await dry_run(client, cgj, {"indicator": indicator, "period": first, "value": 1})) == []
        assert refusal_types(await dry_run(client, cgj, {"indicator": indicator, "period": following(first),
                                                         "value": 1})) == ["period_not_started"]


GUIDE_422 = {"indicator": "1.4.03", "period": "2025", "value": 120, "evidence": ["0123456789abcdef0123456789abcdef"]}
GUIDE_BATCH = {"items": [
    {"indicator": "1.4.03", "period": "2026Q1", "numerator": 412, "denominator": 418},
    {"indicator": "1.4.03", "period": "2026Q2", "value": 101},
    {"indicator": "1.4.01", "period": "2026-3", "value": 0.93},
    {"indicator": "1.4.03", "period": "2026Q1", "value": 98.6},
]}


async def test_errors_by_field_on_real_problems(client: httpx.AsyncClient, cgj: str, tmp_path: Path) -> None:
    zh = {"Accept-Language": "zh-CN"}
    single = await client.post("/v1/submissions", json=GUIDE_422, headers=bearer(cgj, **zh))
    english = await client.post("/v1/submissions", json=GUIDE_422, headers=bearer(cgj))
    shape = await client.post("/v1/submissions", json={"indicator": "2.3.01", "period": "2024", "evidence": [
        {"title": "", "url": "ftp://example.gov.cn/x"}]}, headers=bearer(cgj))
    batch = await client.post("/v1/submissions/batch?dry_run=true", json=GUIDE_BATCH, headers=bearer(cgj, **zh))
    problems = [assert_problem(r, 422, "validation_failed") for r in (single, english, shape, batch)]
    answers = run_node("output = input.map(errorsByField);", problems, tmp_path)
    assert answers == [
        {"period": ["该指标的填报频次为 季度"], "value": ["120 超出取值范围：应在 0 到 100 之间"],
         "evidence.0": ["本部门未上传该文件"]},
        {"period": ["this indicator is reported quarterly"],
         "value": ["120 is out of range: it must be between 0 and 100"],
         "evidence.0": ["no file with this id was uploaded by your department"]},
        {"evidence.0": ["String should have at least 1 character", "URL scheme should be 'http' or 'https'",
                        "Input should be a valid string"]},
        {"items.1.value": ["101 超出取值范围：应在 0 到 100 之间"],
         "items.2.period": ["期间格式应为 YYYY、YYYYQn 或 YYYY-MM"],
         "items.3.period": ["同一指标同一期间已在本批次第 1 项出现"]},
    ]
    keys = run_node("output = input.map(fieldKey);", [
        [], ["value"], ["evidence", 0, "EvidenceLink", "url"], ["items"], ["file"], ["items", 2, "period"],
        ["items", 0, "evidence", 1, "str"], ["reason"]], tmp_path)
    assert keys == ["", "value", "evidence.0", "items", "file", "items.2.period", "items.0.evidence.1", "reason"]


# ------------------------------------------------------------------------------------------ the walkthrough


def etag(submission_id: int, version: int) -> str:
    return f'"submission-{submission_id}-v{version}"'


async def post_json(client: httpx.AsyncClient, token: str, url: str, body: Any = None,
                    **headers: str) -> httpx.Response:
    if body is None:
        return await client.post(url, headers=bearer(token, **headers))
    return await client.post(url, json=body, headers=bearer(token, **headers))


async def patch(client: httpx.AsyncClient, token: str, submission_id: int, body: Any,
                if_match: str | None) -> httpx.Response:
    headers = {} if if_match is None else {"If-Match": if_match}
    return await client.patch(f"/v1/submissions/{submission_id}", json=body, headers=bearer(token, **headers))


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_walkthrough_as_the_guide_shows_it(app: Any, client: httpx.AsyncClient, cgj: str,
                                                     lead: str) -> None:
    # §3: a draft from numerator and denominator, with an Idempotency-Key.
    body = {"indicator": "2.3.01", "period": "2025", "numerator": 45650, "denominator": 110000}
    created = await post_json(client, cgj, "/v1/submissions", body, **{"Idempotency-Key": "cgj-2.3.01-2025-7f3a"})
    draft = ok(created, 201)
    sid = draft["id"]
    assert created.headers["location"] == f"/v1/submissions/{sid}"
    assert created.headers["etag"] == etag(sid, 1)
    assert {k: draft[k] for k in ("indicator", "period", "department", "value", "numerator", "denominator", "note",
                                  "evidence", "status", "warnings", "version", "submitted_at", "approved_at",
                                  "reviewer_note")} == {
        "indicator": "2.3.01", "period": "2025", "department": "cgj", "value": 41.5, "numerator": 45650.0,
        "denominator": 110000.0, "note": None, "evidence": [], "status": "draft", "warnings": [], "version": 1,
        "submitted_at": None, "approved_at": None, "reviewer_note": None}
    # §3: a cooperating department (zjj on 2.3.01) meets the conflict, and cannot read the draft.
    zjj = await make_token(app, "zjj", ["submissions:write"])
    conflict = assert_problem(await post_json(client, zjj, "/v1/submissions", {**body, "value": 41.5}), 409,
                              "submission_exists")
    assert conflict["existing_id"] == sid
    assert_problem(await client.get(f"/v1/submissions/{sid}", headers=bearer(zjj)), 404, "not_found")
    assert ok(await client.get("/v1/submissions?indicator=2.3.01&period=2025", headers=bearer(zjj))) == {
        "items": [], "next_cursor": None}

    # §5, §6: evidence, If-Match, 428 and 412.
    first_file = ok(await client.post("/v1/files", headers=bearer(cgj),
                                      files={"file": ("2025建筑垃圾台账.pdf", pdf_bytes(), "application/pdf")}), 201)
    change = {"note": "数据来自住建局建筑垃圾处置台账", "evidence": [first_file["id"]]}
    assert_problem(await patch(client, cgj, sid, change, None), 428, "precondition_required")
    edited = await patch(client, cgj, sid, change, etag(sid, 1))
    assert ok(edited)["evidence"] == [first_file["id"]]
    assert edited.headers["etag"] == etag(sid, 2)
    stale = assert_problem(await patch(client, cgj, sid, {"note": "另一窗口的修改"}, etag(sid, 1)), 412,
                           "precondition_failed")
    assert stale["current_etag"] == etag(sid, 2)

    # §3: the replay is the first answer, its ETag included.
    replay = await post_json(client, cgj, "/v1/submissions", body, **{"Idempotency-Key": "cgj-2.3.01-2025-7f3a"})
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["etag"] == etag(sid, 1)
    assert replay.json() == draft

    # §7, §10: submit; the queue; return (a reason is required).
    submitted = ok(await post_json(client, cgj, f"/v1/submissions/{sid}/submit"))
    assert (submitted["status"], submitted["version"]) == ("submitted", 3)
    queue = ok(await client.get("/v1/submissions?status=submitted&limit=2", headers=bearer(lead)))
    assert [item["id"] for item in queue["items"]] == [sid]
    assert queue["next_cursor"] is None
    missing = assert_problem(await post_json(client, lead, f"/v1/submissions/{sid}/return"), 422,
                             "validation_failed")
    assert [e["loc"] for e in missing["errors"]] == [[]]
    blank = assert_problem(await post_json(client, lead, f"/v1/submissions/{sid}/return", {"reason": "  "}), 422,
                           "validation_failed")
    assert [e["loc"] for e in blank["errors"]] == [["reason"]]
    reason = "请补充住建局盖章的年度台账扫描件"
    returned = ok(await post_json(client, lead, f"/v1/submissions/{sid}/return", {"reason": reason}))
    assert (returned["status"], returned["version"], returned["reviewer_note"]) == ("returned", 4, reason)
    assert [i["id"] for i in ok(await client.get("/v1/submissions?status=returned",
                                                 headers=bearer(cgj)))["items"]] == [sid]

    # The department adds the stamped scan and submits again; the reason stays until the next review.
    second_file = ok(await client.post("/v1/files", headers=bearer(cgj),
                                       files={"file": ("盖章台账扫描件.png", png_bytes(b"stamp"), "image/png")}), 201)
    fixed = ok(await patch(client, cgj, sid, {"evidence": [first_file["id"], second_file["id"]]}, etag(sid, 4)))
    assert (fixed["status"], fixed["version"]) == ("returned", 5)
    again = ok(await post_json(client, cgj, f"/v1/submissions/{sid}/submit"))
    assert (again["status"], again["version"], again["reviewer_note"]) == ("submitted", 6, reason)
    approved = ok(await post_json(client, lead, f"/v1/submissions/{sid}/approve", {"note": "台账齐全，同意"}))
    assert (approved["status"], approved["version"], approved["reviewer_note"]) == ("approved", 7, "台账齐全，同意")
    assert approved["approved_at"] is not None
    assert_problem(await patch(client, cgj, sid, {"note": "补充说明"}, etag(sid, 7)), 409, "submission_locked")
    assert_problem(await post_json(client, lead, f"/v1/submissions/{sid}/approve"), 409, "invalid_transition")
    # The reviewer downloads the evidence; approved now, everyone reads it (and its files).
    assert (await client.get(f"/v1/files/{second_file['id']}", headers=bearer(lead))).status_code == 200
    assert ok(await client.get(f"/v1/submissions/{sid}", headers=bearer(zjj)))["status"] == "approved"

    # §7: an outlier against the approved 41.5 needs a note.
    outlier = ok(await post_json(client, cgj, "/v1/submissions", {"indicator": "2.3.01", "period": "2026",
                                                                  "numerator": 19800, "denominator": 110000}), 201)
    oid = outlier["id"]
    assert outlier["value"] == 18.0
    assert outlier["warnings"] == [{"code": "outlier",
                                    "msg": "more than 50% away from the previous approved value (41.5)"}]
    zh_read = ok(await client.get(f"/v1/submissions/{oid}", headers=bearer(cgj, **{"Accept-Language": "zh-CN"})))
    assert zh_read["warnings"] == [{"code": "outlier", "msg": "数值与上一期已审核数值（41.5）相差超过 50%"}]
    refused = assert_problem(await post_json(client, cgj, f"/v1/submissions/{oid}/submit",
                                             **{"Accept-Language": "zh-CN"}), 422, "note_required")
    assert refused["detail"] == "数值与上一期已审核数值差异过大，请填写说明。"
    assert refused["errors"] == [{"loc": ["note"], "msg": "数值与上一期已审核数值（41.5）相差超过 50%，请在说明中解释",
                                  "type": "note_required"}]
    note = "2026年两处消纳场停运整改，资源化利用量下降"
    explained = ok(await post_json(client, cgj, f"/v1/submissions/{oid}/submit", {"note": note}))
    assert (explained["status"], explained["note"], len(explained["warnings"])) == ("submitted", note, 1)

    # §10: reopening withdraws the approval; the outlier warning goes with it.
    correction = "市统计局更正了2025年建筑垃圾产生量，请按更正后的数据重报"
    reopened = ok(await post_json(client, lead, f"/v1/submissions/{sid}/reopen", {"reason": correction}))
    assert (reopened["status"], reopened["version"], reopened["approved_at"], reopened["reviewer_note"]) == (
        "returned", 8, None, correction)
    assert ok(await client.get(f"/v1/submissions/{oid}", headers=bearer(cgj)))["warnings"] == []
    # An approval without a note leaves no reviewer_note.
    assert ok(await post_json(client, lead, f"/v1/submissions/{oid}/approve"))["reviewer_note"] is None

    # §11: every state kept.
    revisions = ok(await client.get(f"/v1/submissions/{sid}/revisions", headers=bearer(cgj)))
    assert revisions["next_cursor"] is None
    assert [(r["revision"], r["action"], r["status"], r["reason"], r["department"]) for r in revisions["items"]] == [
        (1, "created", "draft", None, "cgj"), (2, "edited", "draft", None, "cgj"),
        (3, "submitted", "submitted", None, "cgj"), (4, "returned", "returned", reason, "lead"),
        (5, "edited", "returned", None, "cgj"), (6, "submitted", "submitted", None, "cgj"),
        (7, "approved", "approved", None, "lead"), (8, "reopened", "returned", correction, "lead")]
    assert revisions["items"][4]["evidence"] == [first_file["id"], second_file["id"]]

    # §6: from numerator and denominator to a typed value.
    mismatch = assert_problem(await patch(client, cgj, sid, {"value": 42}, etag(sid, 8)), 422, "validation_failed")
    assert [(e["loc"], e["type"]) for e in mismatch["errors"]] == [(["value"], "value_mismatch")]
    typed = ok(await patch(client, cgj, sid, {"value": 42, "numerator": None, "denominator": None}, etag(sid, 8)))
    assert (typed["value"], typed["numerator"], typed["denominator"], typed["version"]) == (42.0, None, None, 9)

    # §8: the lead office never approves its own indicators.
    both = await make_token(app, "lead", ["submissions:write", "submissions:review"])
    own = ok(await post_json(client, both, "/v1/submissions", {"indicator": "4.1.02", "period": "2025",
                                                               "value": True}), 201)
    ok(await post_json(client, both, f"/v1/submissions/{own['id']}/submit"))
    assert_problem(await post_json(client, both, f"/v1/submissions/{own['id']}/approve"), 403, "self_review")


async def test_submitting_without_a_value_is_refused_at_value(client: httpx.AsyncClient, cgj: str) -> None:
    draft = ok(await post_json(client, cgj, "/v1/submissions", {"indicator": "3.4.05", "period": "2025"}), 201)
    assert draft["value"] is None
    refused = assert_problem(await post_json(client, cgj, f"/v1/submissions/{draft['id']}/submit"), 422,
                             "value_required")
    assert refused["errors"] == [{"loc": ["value"], "msg": "a value is needed before submitting",
                                  "type": "value_required"}]


async def test_a_missing_field_is_named_as_the_guide_says(client: httpx.AsyncClient, cgj: str) -> None:
    # §4: "Field required: period", "缺少必填字段：period（期间）".
    for lang, msg in (("en", "Field required: period"), ("zh-CN", "缺少必填字段：period（期间）")):
        problem = assert_problem(await post_json(client, cgj, "/v1/submissions", {"indicator": "2.3.01", "value": 40},
                                                 **{"Accept-Language": lang}), 422, "validation_failed")
        assert problem["errors"] == [{"loc": ["period"], "msg": msg, "type": "missing"}]


async def test_a_link_given_on_creation_is_kept(client: httpx.AsyncClient, cgj: str) -> None:
    link = {"title": "2025年餐厨垃圾收运台账", "url": "https://example.gov.cn/xinmi/cgj/2025-canchu"}
    created = ok(await post_json(client, cgj, "/v1/submissions", {"indicator": "2.4.03", "period": "2025",
                                                                  "value": 62.5, "evidence": [link]}), 201)
    assert created["evidence"] == [link]


async def test_a_patch_may_give_links(client: httpx.AsyncClient, cgj: str) -> None:
    created = ok(await post_json(client, cgj, "/v1/submissions", {"indicator": "2.4.03", "period": "2025",
                                                                  "value": 62.5}), 201)
    link = {"title": "2025年餐厨垃圾收运台账", "url": "https://example.gov.cn/xinmi/cgj/2025-canchu"}
    edited = ok(await patch(client, cgj, created["id"], {"evidence": [link]}, etag(created["id"], 1)))
    assert (edited["evidence"], edited["version"]) == ([link], 2)
    assert ok(await client.get(f"/v1/submissions/{created['id']}", headers=bearer(cgj)))["evidence"] == [link]


# ------------------------------------------------------------------------------------------ Excel


CGJ_ROWS = {2: "1.4.01", 3: "1.4.03", 4: "2.3.01", 5: "2.4.01", 6: "2.4.03", 7: "2.4.05", 8: "3.4.01",
            9: "3.4.03", 10: "3.4.05"}
HEADERS = ["指标代码\ncode", "指标名称\nname", "单位\nunit", "频次\nfrequency", "期间\nperiod", "数值\nvalue",
           "分子\nnumerator", "分母\ndenominator", "说明\nnote", "目标值\ntarget", "取值范围\nbounds"]
GREY, DARK_GREY = "00F2F2F2", "00D9D9D9"


def fill_as_the_guide_says(template: bytes, workdir: Path) -> Any:
    """Run the guide's openpyxl snippet in ``workdir`` on the template; answers the filled workbook."""
    (workdir / "填报模板.xlsx").write_bytes(template)
    code = guide_block('book.save("填报模板-已填.xlsx")')
    exec(compile(code, "docs/SUBMISSIONS.md (§13)", "exec"), {"__name__": "submissions_guide"})  # noqa: S102
    return load_workbook(workdir / "填报模板-已填.xlsx")


def saved(book: Any) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def upload(client: httpx.AsyncClient, token: str, content: bytes, name: str, *, dry_run: bool,
                 **headers: str) -> httpx.Response:
    url = "/v1/submissions/import" + ("?dry_run=true" if dry_run else "")
    return await client.post(url, files={"file": (name, content, XLSX)}, headers=bearer(token, **headers))


async def test_the_template_is_as_the_guide_describes(client: httpx.AsyncClient, cgj: str) -> None:
    response = await client.get("/v1/submissions/template.xlsx", headers=bearer(cgj))
    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"zwc-template-cgj.xlsx\"; filename*=UTF-8''"
        "%E6%97%A0%E5%BA%9F%E5%9F%8E%E5%B8%82%E5%A1%AB%E6%8A%A5%E6%A8%A1%E6%9D%BF-cgj.xlsx")
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["填报", "说明"]
    sheet = book["填报"]
    assert [cell.value for cell in sheet[1]] == HEADERS
    assert (sheet.freeze_panes, sheet.auto_filter.ref, sheet.max_row) == ("A2", "A1:K10", 10)
    assert {row: sheet.cell(row=row, column=1).value for row in range(2, 11)} == CGJ_ROWS
    assert [sheet.cell(row=4, column=c).value for c in range(1, 5)] == ["2.3.01", "城市建成区建筑垃圾资源化利用率", "%",
                                                                       "年度 annual"]
    assert [sheet[f"D{row}"].value for row in (2, 3)] == ["月度 monthly", "季度 quarterly"]
    assert (sheet["J4"].value, sheet["J10"].value, sheet["J2"].value) == ("2025: 40", "2025: 是", None)
    # Bounds: 1.4.01 a quantity (at least 0), 2.3.01 a share, 3.4.01 a rate of decrease (no minimum), 3.4.05 yes/no.
    assert [sheet[f"K{row}"].value for row in (2, 4, 8, 10)] == ["≥ 0", "0–100", "≤ 100", None]
    for row in range(2, 11):
        assert [sheet[f"{c}{row}"].fill.fgColor.rgb for c in "ABCDJK"] == [GREY] * 6
        assert [sheet[f"{c}{row}"].fill.fgColor.rgb for c in "EFI"] == ["00000000"] * 3
        assert sheet[f"E{row}"].number_format == "@"
    # Numerator and denominator: dark grey where the indicator is not a rate (1.4.01 quantity, 3.4.05 yes/no),
    # the labels as comments where the catalogue has them (3.4.01 has none).
    for row in (2, 10):
        assert [sheet[f"{c}{row}"].fill.fgColor.rgb for c in "GH"] == [DARK_GREY] * 2
    assert (sheet["G3"].comment.text, sheet["H3"].comment.text) == (
        "实行生活垃圾分类的居民小区（单位）数", "城区居民小区（单位）总数")
    assert (sheet["G4"].comment.text, sheet["H4"].comment.text) == ("建筑垃圾资源化利用量（t）", "建筑垃圾产生量（t）")
    assert sheet["G8"].comment is None
    assert sheet["G8"].fill.fgColor.rgb == "00000000"
    # Excel's own check of typed values against the bounds.
    bounds = {str(v.sqref): (v.type, v.operator, v.formula1, v.formula2) for v in sheet.data_validations.dataValidation
              if v.type == "decimal"}
    assert bounds == {"F2": ("decimal", "greaterThanOrEqual", "0", None),
                      "F3 F4 F5 F6 F7 F9": ("decimal", "between", "0", "100"),
                      "F8": ("decimal", "lessThanOrEqual", "100", None)}
    prompts = {str(v.sqref): v.prompt for v in sheet.data_validations.dataValidation
               if v.type not in ("list", "decimal")}
    assert prompts == {"E2": "月度：YYYY-MM，例如 2025-07\nMonthly: YYYY-MM, e.g. 2025-07",
                       "E3": "季度：YYYYQn，例如 2025Q3\nQuarterly: YYYYQn, e.g. 2025Q3",
                       "E4 E5 E6 E7 E8 E9 E10": "年度：YYYY，例如 2025\nAnnual: YYYY, e.g. 2025"}
    lines = [row[0] for row in book["说明"].iter_rows(values_only=True)]
    assert lines[:3] == ["填报说明", "How to fill in this template", "填报部门 Department: 新密市城市管理局（cgj）"]


async def test_the_excel_round_trip_as_the_guide_tells(client: httpx.AsyncClient, cgj: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # cgj has already reported 2.3.01 for 2025 (the walkthrough's draft).
    existing = ok(await post_json(client, cgj, "/v1/submissions", {"indicator": "2.3.01", "period": "2025",
                                                                   "numerator": 45650, "denominator": 110000}), 201)
    template = await client.get("/v1/submissions/template.xlsx", headers=bearer(cgj))
    assert template.status_code == 200
    monkeypatch.chdir(tmp_path)
    book = fill_as_the_guide_says(template.content, tmp_path)
    sheet = book["填报"]
    # The cells §13 names, and nothing else typed.
    typed = {cell.coordinate: cell.value for row in sheet.iter_rows(min_row=2, min_col=5, max_col=9)
             for cell in row if cell.value is not None}
    assert typed == {"E3": "2026Q3", "G3": 416, "H3": 418, "E4": "2024", "G4": 40150, "H4": 110000,
                     "I4": "按住建局台账补报", "E10": "2026", "F10": "是"}

    # Step 3, the file with the guide's two mistakes: 2025 in E4, 有 in F10.
    sheet["E4"], sheet["F10"] = "2025", "有"
    wrong = await upload(client, cgj, saved(book), "填报模板-有误.xlsx", dry_run=True, **{"Accept-Language": "zh-CN"})
    problem = assert_problem(wrong, 422, "validation_failed")
    assert problem["errors"] == [
        {"loc": ["items", 1, "indicator"], "msg": f"该指标该期间已有填报（id {existing['id']}）",
         "type": "submission_exists", "row": 4},
        {"loc": ["items", 2, "value"], "msg": "应为数字；是否类指标填写“是”或“否”", "type": "not_a_number_or_bool",
         "row": 10},
    ]

    # The corrected file (the snippet's own) passes the dry run, then imports, once.
    filled = (tmp_path / "填报模板-已填.xlsx").read_bytes()
    expected = [
        {"indicator": "1.4.03", "period": "2026Q3", "department": "cgj", "value": 99.52153110047847,
         "numerator": 416.0, "denominator": 418.0, "note": None, "evidence": [], "status": "draft", "warnings": []},
        {"indicator": "2.3.01", "period": "2024", "department": "cgj", "value": 36.5, "numerator": 40150.0,
         "denominator": 110000.0, "note": "按住建局台账补报", "evidence": [], "status": "draft", "warnings": []},
        {"indicator": "3.4.05", "period": "2026", "department": "cgj", "value": True, "numerator": None,
         "denominator": None, "note": None, "evidence": [], "status": "draft", "warnings": []},
    ]
    assert ok(await upload(client, cgj, filled, "填报模板-已填.xlsx", dry_run=True)) == {"items": expected}
    key = {"Idempotency-Key": "cgj-import-2026-12-03"}
    imported = ok(await upload(client, cgj, filled, "填报模板-已填.xlsx", dry_run=False, **key), 201)
    assert [{k: item[k] for k in expected[0]} for item in imported["items"]] == expected
    assert [item["version"] for item in imported["items"]] == [1, 1, 1]
    # A retry of the same file with the same key (httpx picks a new multipart boundary) replays the answer.
    retry = await upload(client, cgj, filled, "填报模板-已填.xlsx", dry_run=False, **key)
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == imported
    drafts = ok(await client.get("/v1/submissions?status=draft", headers=bearer(cgj)))["items"]
    assert sorted((d["indicator"], d["period"]) for d in drafts) == [
        ("1.4.03", "2026Q3"), ("2.3.01", "2024"), ("2.3.01", "2025"), ("3.4.05", "2026")]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
async def test_the_guides_csv_imports(client: httpx.AsyncClient, cgj: str, encoding: str) -> None:
    # §13: UTF-8 with or without a BOM, or GB18030/GBK (Excel's "CSV (逗号分隔)" on Chinese Windows).
    csv_text = guide_block("code,period,value,numerator,denominator,note", tested=False)
    response = await client.post("/v1/submissions/import?dry_run=true", headers=bearer(cgj),
                                 files={"file": ("export.csv", csv_text.encode(encoding), "text/csv")})
    items = ok(response)["items"]
    assert [(i["indicator"], i["period"], i["value"], i["numerator"], i["note"]) for i in items] == [
        ("1.4.01", "2026-04", 0.92, None, "按环卫所台账（含曲梁镇）")]


async def test_percentages_as_the_guide_tells(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    # §13 "Percentages": 62.5, a cell 0.625 shown as 62.5% (format 0.0%), and the CSV texts 62.5% and 62.5％
    # are all 62.5 on a percent indicator (2.3.01); on the ratio 1.1.01 "%" is refused.
    template = await client.get("/v1/submissions/template.xlsx", headers=bearer(cgj))
    for typed, number_format in ((62.5, "General"), (0.625, "0.0%")):
        book = load_workbook(io.BytesIO(template.content))
        book["填报"]["E4"] = "2024"
        book["填报"]["F4"] = typed
        book["填报"]["F4"].number_format = number_format
        items = ok(await upload(client, cgj, saved(book), "t.xlsx", dry_run=True))["items"]
        assert [(i["indicator"], i["value"]) for i in items] == [("2.3.01", 62.5)]
    for text in ("62.5%", "62.5％"):
        response = await client.post("/v1/submissions/import?dry_run=true", headers=bearer(cgj), files={
            "file": ("a.csv", f"code,period,value\n2.3.01,2024,{text}\n".encode(), "text/csv")})
        assert [(i["indicator"], i["value"]) for i in ok(response)["items"]] == [("2.3.01", 62.5)]
    sthj = await make_token(app, "sthj", ["submissions:write"])
    response = await client.post("/v1/submissions/import?dry_run=true", headers=bearer(sthj), files={
        "file": ("a.csv", b"code,period,value\n1.1.01,2024,62.5%\n", "text/csv")})
    problem = assert_problem(response, 422, "validation_failed")
    assert [(e["loc"], e["type"]) for e in problem["errors"]] == [(["items", 0, "value"], "percent_not_percent")]
    assert problem["errors"][0]["msg"].endswith("type the number without %")


async def test_an_empty_template_is_refused_as_the_guide_says(client: httpx.AsyncClient, cgj: str) -> None:
    template = await client.get("/v1/submissions/template.xlsx", headers=bearer(cgj))
    problem = assert_problem(await upload(client, cgj, template.content, "t.xlsx", dry_run=True), 422,
                             "validation_failed")
    assert [(e["loc"], e["type"]) for e in problem["errors"]] == [(["items"], "no_rows")]
    text = await client.post("/v1/submissions/import", headers=bearer(cgj),
                             files={"file": ("notes.txt", b"hello", "text/plain")})
    assert_problem(text, 415, "unsupported_import_type")

