"""The story behind the OpenAPI document's examples: a day at Xinmi's zero-waste office, closing the books on 2025.

The lead office (`lead`) mints tokens; the urban management bureau (`cgj`) reports its 2025 construction-waste
figures with evidence and an Excel upload; the office reviews them; Zhengzhou's platform (`zzwf`) pulls the
aggregates, reads the change feed and subscribes a webhook; the education bureau (`jyj`) applies for a
zero-waste school, which is evaluated, certified and inspected. Each call with a ``name`` becomes that
operation's example (tests/examples/recorder.py). The clock stands at 2026-11-20 10:00 in Xinmi.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import httpx
from openpyxl import load_workbook

from app.core.config import Settings
from app.webhooks.delivery import run_once
from tests.examples.recorder import Recorder, csv_rows, only_codes
from tests.factories import make_token

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai
HOOK_URL = "https://platform.example.gov.cn/hooks/xinmi"
# The smallest valid PNG (a 1×1 transparent pixel): a site photo and a scanned weighbridge record stand-in.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000" "1f15c4890000000d49444154789c6360000002000100"
    "05fe02fea7d6a4a50000000049454e44ae426082"
)
BOUNDARY = "zwc-example-boundary"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SCHOOL_CHECKLIST = [
    {"criterion": "organization", "points": 14}, {"criterion": "source_reduction", "points": 22},
    {"criterion": "sorting", "points": 18}, {"criterion": "utilization", "points": 16},
    {"criterion": "disposal", "points": 9}, {"criterion": "education", "points": 8},
]


def multipart(content: bytes, filename: str, media_type: str) -> tuple[bytes, dict[str, str]]:
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {media_type}\r\n\r\n").encode()
    return head + content + f"\r\n--{BOUNDARY}--\r\n".encode(), {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def etag(response: httpx.Response) -> str:
    return response.headers["ETag"]


async def run(rec: Recorder, app: Any, settings: Settings) -> None:
    admin = await make_token(app, "lead", ["admin", "indicators:admin"], name="bootstrap")
    rec.secret(admin, "token", prefix="zwc_", shown=12)
    await public_and_tokens(rec, admin)
    tokens = await mint(rec, admin)
    await departments(rec, admin)
    await indicators(rec, admin, tokens)
    await submissions(rec, tokens)
    await figures(rec, tokens, app, settings)
    await cells(rec, tokens)
    await new_indicator(rec, admin)
    await rec.call("GET", "/v1/audit-events?entity=submission&limit=2", token=admin, expect=200, name="submission",
                   summary="The first two audit events of submissions: who, when, before and after")


async def public_and_tokens(rec: Recorder, admin: str) -> None:
    await rec.call("GET", "/healthz", expect=200, name="alive", summary="The process answers")
    await rec.call("GET", "/readyz", expect=200, name="ready", summary="Database reachable, schema at head")
    await rec.call("GET", "/v1/me", token=admin, expect=200, name="admin", summary="The bootstrap admin token")
    await rec.call("GET", "/v1/me", expect=401, name="no_token", summary="No `Authorization` header")


async def mint(rec: Recorder, admin: str) -> dict[str, str]:
    async def token(department: str, body: dict[str, Any], name: str | None = None,
                    summary: str | None = None) -> str:
        response = await rec.call("POST", f"/v1/departments/{department}/tokens", token=admin, expect=201,
                                  json_body=body, name=name, summary=summary)
        secret = str(response.json()["token"])
        rec.secret(secret, "token", prefix="zwc_", shown=12)
        return secret

    tokens = {
        "cgj": await token("cgj", {"name": "城管局填报", "scopes": ["submissions:write"], "expires_in_days": 365},
                           "reporting", "A reporting token for the urban management bureau (城管局)"),
        "review": await token("lead", {"name": "领导小组办公室审核", "scopes": ["submissions:review", "cells:review"]},
                              "reviewer", "A reviewer token for the lead office"),
        "zzwf": await token("zzwf", {"name": "郑州市无废城市信息平台", "scopes": ["aggregates:read"]},
                            "zhengzhou", "Zhengzhou's platform: aggregates, feed and webhooks"),
        "jyj": await token("jyj", {"name": "教育局无废学校", "scopes": ["cells:write"]}),
    }
    await rec.call("GET", "/v1/me", token=tokens["cgj"], expect=200, name="department",
                   summary="A department's reporting token")
    spare = await token("cgj", {"name": "旧填报令牌", "scopes": ["submissions:write"], "expires_in_days": 30})
    await rec.call("GET", "/v1/tokens?limit=3", token=admin, expect=200, name="first_page",
                   summary="The first three tokens (never their secrets), with the next page's cursor")
    listed = await rec.call("GET", "/v1/tokens?limit=500", token=admin, expect=200)
    spare_id = next(item["id"] for item in listed.json()["items"] if item["name"] == "旧填报令牌")
    await rec.call("GET", f"/v1/tokens/{spare_id}", token=admin, expect=200, name="token", summary="One token")
    await rec.call("DELETE", f"/v1/tokens/{spare_id}", token=admin, expect=204)
    await rec.call("GET", "/v1/me", token=spare, expect=401, name="revoked", summary="A revoked token")
    return tokens


async def departments(rec: Recorder, admin: str) -> None:
    await rec.call("GET", "/v1/departments?limit=3", token=admin, expect=200, name="first_page",
                   summary="The first three departments, with the cursor of the next page")
    await rec.call("GET", "/v1/departments/cgj", token=admin, expect=200, name="cgj",
                   summary="The urban management bureau")
    await rec.call("POST", "/v1/departments", token=admin, expect=201, name="new_department",
                   summary="A department joining the programme",
                   json_body={"code": "gxs", "name_zh": "新密市供销合作社联合社",
                              "name_en": "Xinmi Supply and Marketing Cooperative", "kind": "department"})
    await rec.call("POST", "/v1/departments", token=admin, expect=409, name="duplicate",
                   summary="The code is taken", record_request=False,
                   json_body={"code": "gxs", "name_zh": "供销社", "name_en": "Cooperative", "kind": "department"})


async def indicators(rec: Recorder, admin: str, tokens: dict[str, str]) -> None:
    await rec.call("GET", "/v1/indicators?department=cgj&category=utilization&limit=2", token=tokens["cgj"],
                   expect=200, name="by_department", summary="Utilisation indicators the urban management bureau "
                                                             "leads or cooperates on")
    current = await rec.call("GET", "/v1/indicators/2.3.01", token=tokens["cgj"], expect=200, name="rate",
                             summary="A rate with numerator and denominator labels")
    await rec.call("GET", "/v1/indicators/9.9.99", token=tokens["cgj"], expect=404, name="unknown",
                   summary="No such indicator", headers={"Accept-Language": "zh-CN"})
    await rec.call("PATCH", "/v1/indicators/2.3.01", token=admin, expect=200, name="next_plan",
                   summary="The next plan period's target, in force from 2026",
                   headers={"If-Match": etag(current)},
                   json_body={"target": {"year": 2030, "value": 60}, "valid_from": "2026-01-01T00:00:00+08:00"})
    await rec.call("PATCH", "/v1/indicators/2.3.01", token=admin, expect=412, name="stale",
                   summary="`If-Match` names a version that is no longer current", record_request=False,
                   headers={"If-Match": etag(current)}, json_body={"weight": 2})
    await rec.call("GET", "/v1/indicators/2.3.01/versions", token=tokens["cgj"], expect=200, name="two_versions",
                   summary="Every version, newest first")



async def submissions(rec: Recorder, tokens: dict[str, str]) -> None:
    cgj, review = tokens["cgj"], tokens["review"]
    content, headers = multipart(PNG, "weighbridge-2025.png", "image/png")
    uploaded = await rec.call("POST", "/v1/files", token=cgj, expect=201, name="scan", content=content,
                              headers=headers, summary="A scanned weighbridge record as evidence",
                              request_example={"file": "(the file's bytes: JPEG, PNG, PDF or XLSX)"})
    file_id = uploaded.json()["id"]
    rec.file_id(file_id)
    created = await rec.call(
        "POST", "/v1/submissions", token=cgj, expect=201, name="rate",
        summary="A rate from numerator and denominator, with evidence",
        headers={"Idempotency-Key": "cgj-2025-2.3.01"},
        json_body={"indicator": "2.3.01", "period": "2025", "numerator": 41.5, "denominator": 100,
                   "note": "全年建筑垃圾产生量100万吨，资源化利用41.5万吨", "evidence": [
                       file_id, {"title": "2025年建筑垃圾资源化利用台账", "url": "https://cgj.xinmi.gov.cn/tz/2025"}]})
    first_id = created.json()["id"]
    await rec.call("POST", "/v1/submissions", token=cgj, expect=409, name="duplicate", record_request=False,
                   summary="The indicator already has a submission for the period (`existing_id`)",
                   json_body={"indicator": "2.3.01", "period": "2025", "value": 41.5})
    await rec.call("POST", "/v1/submissions", token=cgj, expect=422, name="invalid", summary="Validation errors",
                   json_body={"indicator": "2.4.01", "period": "2025Q3", "value": 120})
    await rec.call("POST", "/v1/submissions", token=cgj, expect=422, name="invalid_zh",
                   summary="The same, with `Accept-Language: zh-CN`", headers={"Accept-Language": "zh-CN"},
                   json_body={"indicator": "2.4.01", "period": "2025Q3", "value": 120}, record_request=False)
    read = await rec.call("GET", f"/v1/submissions/{first_id}", token=cgj, expect=200, name="draft",
                          summary="A draft, with its `ETag`")
    edited = await rec.call("PATCH", f"/v1/submissions/{first_id}", token=cgj, expect=200, name="corrected",
                            summary="Corrected figures (`If-Match` from the last read)",
                            headers={"If-Match": etag(read)}, json_body={"numerator": 42.3})
    await rec.call("PATCH", f"/v1/submissions/{first_id}", token=cgj, expect=412, name="stale",
                   summary="Edited meanwhile: read again and reapply", headers={"If-Match": etag(read)},
                   json_body={"numerator": 42.0}, record_request=False)
    await rec.call("PATCH", f"/v1/submissions/{first_id}", token=cgj, expect=428, name="no_if_match",
                   summary="`If-Match` is required", json_body={"numerator": 42.0}, record_request=False)
    await rec.call("POST", f"/v1/submissions/{first_id}/submit", token=cgj, expect=200, name="submitted",
                   summary="Submitted for review")
    assert edited.status_code == 200
    await rec.call("POST", f"/v1/submissions/{first_id}/approve", token=cgj, expect=403, name="no_scope",
                   summary="A reporting token cannot review", record_request=False)
    await rec.call("POST", f"/v1/submissions/{first_id}/approve", token=review, expect=200, name="approved",
                   summary="Approved, with a reviewer's note", json_body={"note": "与台账核对一致"})
    await rec.call("POST", f"/v1/submissions/{first_id}/reopen", token=review, expect=200, name="reopened",
                   summary="An approved value reopened (back to `returned`)",
                   json_body={"reason": "郑州市核查：分母应含拆迁垃圾，请更正"})
    current = await rec.call("GET", f"/v1/submissions/{first_id}", token=cgj, expect=200)
    await rec.call("PATCH", f"/v1/submissions/{first_id}", token=cgj, expect=200,
                   headers={"If-Match": etag(current)}, json_body={"denominator": 105})
    await rec.call("POST", f"/v1/submissions/{first_id}/submit", token=cgj, expect=200)
    await rec.call("POST", f"/v1/submissions/{first_id}/approve", token=review, expect=200)
    await rec.call("GET", f"/v1/submissions/{first_id}/revisions?limit=3", token=cgj, expect=200, name="history",
                   summary="The first three revisions: every state from creation on")

    second = await rec.call("POST", "/v1/submissions", token=cgj, expect=201, name="value",
                            summary="A plain value", json_body={"indicator": "2.4.03", "period": "2025", "value": 63})
    second_id = second.json()["id"]
    await rec.call("POST", f"/v1/submissions/{second_id}/submit", token=cgj, expect=200, name="with_note",
                   summary="Submitted with a note (it becomes the submission's `note`)",
                   json_body={"note": "数据来源：餐厨垃圾处理厂2025年度运行报表"})
    await rec.call("POST", f"/v1/submissions/{second_id}/return", token=review, expect=200, name="returned",
                   summary="Returned to the department with the reason",
                   json_body={"reason": "请补充餐厨垃圾处理厂出具的年度统计表"})
    await rec.call("GET", "/v1/submissions?status=returned", token=review, expect=200, name="returned",
                   summary="What is waiting on the departments")

    batch = {"items": [
        {"indicator": "2.4.01", "period": "2025", "numerator": 12.6, "denominator": 35, "note": "回收利用量/清运量"},
        {"indicator": "3.4.05", "period": "2025", "value": True},
    ]}
    await rec.call("POST", "/v1/submissions/batch?dry_run=true", token=cgj, expect=200, name="two_items",
                   summary="Two values checked, nothing written", json_body=batch)
    await rec.call("POST", "/v1/submissions/batch", token=cgj, expect=201, name="two_items",
                   summary="Two drafts at once, all or nothing", json_body=batch, record_request=False)
    await rec.call("POST", "/v1/submissions/batch", token=cgj, expect=422, name="one_bad_item",
                   summary="One item fails: nothing is written", json_body={"items": [
                       {"indicator": "1.4.03", "period": "2025Q4", "numerator": 410, "denominator": 412},
                       {"indicator": "1.4.01", "period": "2025-13", "value": 0.92}]})

    template = await rec.call("GET", "/v1/submissions/template.xlsx", token=cgj, expect=200)
    workbook = load_workbook(io.BytesIO(template.content))
    sheet = workbook["填报"]
    row = next(r for r in range(2, sheet.max_row + 1) if sheet.cell(row=r, column=1).value == "3.4.01")
    sheet.cell(row=row, column=5, value="2025")
    sheet.cell(row=row, column=6, value=18.2)
    buffer = io.BytesIO()
    workbook.save(buffer)
    content, headers = multipart(buffer.getvalue(), "填报模板.xlsx", XLSX)
    await rec.call("POST", "/v1/submissions/import?dry_run=true", token=cgj, expect=200, name="filled_template",
                   summary="The filled-in template, checked (`dry_run=true`)", content=content, headers=headers,
                   request_example={"file": "(the filled-in template: XLSX, or CSV/TSV with its headers)"})
    await rec.call("POST", "/v1/submissions/import", token=cgj, expect=201, name="filled_template",
                   summary="The filled-in template, imported as drafts", content=content, headers=headers,
                   request_example={"file": "(the filled-in template: XLSX, or CSV/TSV with its headers)"},
                   record_request=False)


async def figures(rec: Recorder, tokens: dict[str, str], app: Any, settings: Settings) -> None:
    zzwf, cgj, review = tokens["zzwf"], tokens["cgj"], tokens["review"]
    shown = {"2.3.01", "2.4.01"}
    await rec.call("GET", "/v1/scores?period=2025", token=cgj, expect=200, name="year",
                   summary="2025's scores (two of the 48 indicators shown)", trim=only_codes(shown, "indicators"))
    await rec.call("GET", "/v1/scores/departments?period=2025&limit=1", token=review, expect=200, name="year",
                   summary="2025's first department scorecard (a page of one; two of its indicators shown)",
                   trim=lambda body: {**body, "items": [{**card, "indicators": card["indicators"][:2]}
                                                        for card in body["items"]]})
    pulled = await rec.call("GET", "/v1/aggregates?period=2025", token=zzwf, expect=200, name="json",
                            summary="2025's figures (two of the 48 indicators shown)",
                            trim=only_codes(shown, "indicators"))
    await rec.call("GET", "/v1/aggregates?period=2025&format=csv", token=zzwf, expect=200, name="csv",
                   summary="The same as CSV, UTF-8 with BOM (two rows shown)", trim=csv_rows(shown))
    await rec.call("GET", "/v1/aggregates?period=2025", token=zzwf, expect=304,
                   headers={"If-None-Match": etag(pulled)})
    await rec.call("GET", "/v1/changes?limit=3", token=zzwf, expect=200, name="from_the_start",
                   summary="The feed's first three events")
    hook = await rec.call("POST", "/v1/webhooks", token=zzwf, expect=201, name="generated_secret",
                          summary="Approvals and reopenings pushed to Zhengzhou (the secret is shown once)",
                          json_body={"url": HOOK_URL, "events": ["submission.approved", "submission.reopened"]})
    rec.secret(hook.json()["secret"], "secret", prefix="whsec_")
    hook_id = hook.json()["id"]
    spare = await rec.call("POST", "/v1/webhooks", token=zzwf, expect=201,
                           json_body={"url": HOOK_URL + "/test", "events": ["cell.certified"]})
    await rec.call("DELETE", f"/v1/webhooks/{spare.json()['id']}", token=zzwf, expect=204)
    await rec.call("GET", "/v1/webhooks", token=zzwf, expect=200, name="subscriptions",
                   summary="The caller's subscriptions (never their secrets)")
    await rec.call("GET", f"/v1/webhooks/{hook_id}", token=zzwf, expect=200, name="subscription",
                   summary="One subscription")
    # An approval after the subscription, delivered by one pass of the worker to a receiver that answers 204.
    created = await rec.call("POST", "/v1/submissions", token=cgj, expect=201,
                             json_body={"indicator": "3.4.03", "period": "2025", "value": 100})
    submission_id = created.json()["id"]
    await rec.call("POST", f"/v1/submissions/{submission_id}/submit", token=cgj, expect=200)
    await rec.call("POST", f"/v1/submissions/{submission_id}/approve", token=review, expect=200)
    received: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as client:
        assert await run_once(app.state.database, settings, client=client) == 1
    assert [request.headers["X-ZWC-Event"] for request in received] == ["submission.approved"]
    await rec.call("GET", f"/v1/webhooks/{hook_id}/deliveries", token=zzwf, expect=200, name="delivered",
                   summary="A delivery and its attempts")


async def cells(rec: Recorder, tokens: dict[str, str]) -> None:
    jyj, review = tokens["jyj"], tokens["review"]
    await rec.call("GET", "/v1/cell-types?limit=1", token=jyj, expect=200, name="first",
                   summary="The first cell type with its checklist")
    await rec.call("GET", "/v1/towns?limit=3", token=jyj, expect=200, name="first",
                   summary="The first three towns, by code")
    school = {"type": "school", "name": "新密市实验小学", "town": "qingpingjie", "address": "新密市青屏街道开阳路88号",
              "contact": "李老师 0371-69800000", "latitude": 34.5372, "longitude": 113.3906}
    applied = await rec.call("POST", "/v1/cells", token=jyj, expect=201, name="school",
                             summary="An application for a zero-waste school", json_body=school,
                             headers={"Idempotency-Key": "jyj-school-shiyan"})
    cell_id = applied.json()["id"]
    read = await rec.call("GET", f"/v1/cells/{cell_id}", token=jyj, expect=200, name="applied",
                          summary="An application, with its `ETag`")
    await rec.call("PATCH", f"/v1/cells/{cell_id}", token=jyj, expect=200, name="new_contact",
                   summary="A new contact person (`If-Match` from the last read)",
                   headers={"If-Match": etag(read)}, json_body={"contact": "王老师 0371-69800001"})
    evaluated = await rec.call("POST", f"/v1/cells/{cell_id}/evaluations", token=review, expect=201,
                               name="passed", summary="The checklist scored on site: 87 of 100, pass score 80",
                               json_body={"date": "2026-11-18", "evaluator": "王评审", "items": SCHOOL_CHECKLIST,
                                          "note": "垃圾分类设施齐全，宣传教育台账完整"})
    await rec.call("GET", f"/v1/cells/{cell_id}/evaluations", token=review, expect=200, name="one",
                   summary="The cell's evaluations")
    await rec.call("GET", f"/v1/cells/{cell_id}/evaluations/{evaluated.json()['id']}", token=review, expect=200,
                   name="passed", summary="One evaluation")
    certified = await rec.call("POST", f"/v1/cells/{cell_id}/certify", token=review, expect=200, name="certified",
                               summary="Certified: the certificate number and validity")
    await rec.call("GET", f"/public/certificates/{certified.json()['certificate_no']}", expect=200, name="valid",
                   summary="What the plaque's QR code shows")
    await rec.call("GET", "/public/certificates/XM-WF-2026-SCH-9999", expect=404, name="unknown",
                   summary="No such certificate")
    content, headers = multipart(PNG, "sorting-station.png", "image/png")
    photo = await rec.call("POST", "/v1/files", token=jyj, expect=201, content=content, headers=headers)
    rec.file_id(photo.json()["id"])
    inspected = await rec.call(
        "POST", f"/v1/cells/{cell_id}/inspections", token=jyj, expect=201, name="with_photo",
        summary="A field inspection from the mobile app, with a photo",
        headers={"Idempotency-Key": "3f0c9a52-7d1e-4b7a-9f5e-2c8d1a6b4e90"},
        json_body={"inspected_at": "2026-11-20T09:40:00+08:00", "inspector": "赵巡查", "score": 92,
                   "findings": "分类投放点整洁，厨余垃圾桶满溢一次，已督促清运", "latitude": 34.5373,
                   "longitude": 113.3904, "photos": [photo.json()["id"]]})
    await rec.call("GET", f"/v1/cells/{cell_id}/inspections", token=jyj, expect=200, name="one",
                   summary="The cell's inspections")
    await rec.call("GET", f"/v1/cells/{cell_id}/inspections/{inspected.json()['id']}", token=jyj, expect=200,
                   name="with_photo", summary="One inspection")
    await rec.call("PUT", "/v1/cell-quotas/2026/school", token=review, expect=200, name="quota",
                   summary="Zhengzhou's 2026 quota of zero-waste schools", json_body={"quota": 5})
    await rec.call("GET", "/v1/cells/summary?year=2026&limit=2", token=jyj, expect=200, name="year",
                   summary="2026's progress by cell type (first two)")
    await rec.call("GET", "/v1/cells?type=school", token=jyj, expect=200, name="schools",
                   summary="Zero-waste schools")

    second = await rec.call("POST", "/v1/cells", token=jyj, expect=201, json_body={
        "type": "school", "name": "新密市第二初级中学", "town": "xinhualu"})
    second_id = second.json()["id"]
    await rec.call("POST", f"/v1/cells/{second_id}/evaluations", token=review, expect=201,
                   json_body={"date": "2026-11-19", "evaluator": "王评审", "items": SCHOOL_CHECKLIST})
    await rec.call("POST", f"/v1/cells/{second_id}/certify", token=review, expect=200)
    await rec.call("POST", f"/v1/cells/{second_id}/revoke", token=review, expect=200, name="revoked",
                   summary="A certificate revoked, with the reason",
                   json_body={"reason": "复查发现垃圾分类设施长期停用，不再符合无废学校标准"})


async def new_indicator(rec: Recorder, admin: str) -> None:
    """Defined after the 2025 figures were read: scores count an indicator's first version even for periods
    before its `valid_from`, so a 2026 indicator would show in 2025's coverage."""
    await rec.call("POST", "/v1/indicators", token=admin, expect=201, name="self_selected",
                   summary="A city-specific indicator for the next plan period", json_body={
                       "code": "3.4.07", "name_zh": "建筑垃圾消纳场规范化运行率",
                       "name_en": "Construction waste disposal sites run to standard", "category": "disposal",
                       "group": "建筑垃圾处置", "kind": "self_selected", "unit": "%", "value_type": "percent",
                       "direction": "increase", "frequency": "annual", "baseline": {"year": 2025, "value": 80},
                       "target": {"year": 2030, "value": 100}, "lead_department": "cgj",
                       "cooperating_departments": ["zjj"], "definition": "规范运行的消纳场数 ÷ 消纳场总数 × 100%",
                       "numerator_label": "规范运行的消纳场数（个）", "denominator_label": "消纳场总数（个）",
                       "valid_from": "2026-01-01T00:00:00+08:00"})
