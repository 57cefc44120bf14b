"""Messages that tell the official what to do: a value that disagrees with its numerator and denominator,
and a required field left out — on the Excel/CSV import (with the sheet row) and on the JSON API alike.

Figures by hand: 1 / 3 × 100 = 33.333333… (rounded to 6 places in the message: 33.333333), which differs from
a typed 33.3 by 0.033 > 1e-6; the ratio 1.1.01 with 3 / 4 is 0.75, not 75.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import assert_problem, bearer, make_token, sql
from tests.test_excel import upload

MISMATCH_API = ("value 33.3 differs from numerator/denominator (33.333333): leave value out (it is computed "
                "from numerator and denominator), or send value alone with numerator and denominator null")
MISMATCH_API_ZH = ("数值 33.3 与分子/分母计算结果（33.333333）不一致：请不传数值（由分子、分母计算），"
                   "或只传数值并将分子、分母设为 null")


@pytest.fixture
async def cgj(app: Any) -> str:
    return await make_token(app, "cgj", ["submissions:write"], name="cgj writer")


async def post(client: httpx.AsyncClient, token: str, path: str, body: Any, **headers: str) -> httpx.Response:
    return await client.post(path, json=body, headers=bearer(token, **headers))


# ------------------------------------------------------------------------------------- value_mismatch


async def test_an_imported_mismatch_says_what_to_do(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    text = "指标代码,期间,数值,分子,分母\n2.4.03,2023,61,,\n2.4.01,2024,33.3,1,3\n"
    body = assert_problem(await upload(client, cgj, text.encode(), content_type="text/csv"), 422, "validation_failed")
    assert body["errors"] == [{
        "loc": ["items", 1, "value"], "row": 3, "type": "value_mismatch",
        "msg": "value 33.3 differs from numerator/denominator (33.333333): leave the value empty (it is computed "
               "from numerator and denominator), or fill in the value alone with numerator and denominator empty"}]
    body = assert_problem(await upload(client, cgj, text.encode(), content_type="text/csv",
                                       **{"Accept-Language": "zh-CN"}), 422, "validation_failed")
    assert body["errors"][0]["msg"] == ("数值 33.3 与分子/分母计算结果（33.333333）不一致："
                                        "请将“数值”留空（由分子、分母自动计算），或只填“数值”并将分子、分母留空")
    assert await sql(app, "SELECT count(*) FROM submissions") == [(0,)]


async def test_an_imported_ratio_mismatch_names_the_ratio(app: Any, client: httpx.AsyncClient) -> None:
    sthj = await make_token(app, "sthj", ["submissions:write"])
    text = "code,period,value,numerator,denominator\n1.1.01,2024,75,3,4\n"
    body = assert_problem(await upload(client, sthj, text.encode(), content_type="text/csv"), 422, "validation_failed")
    assert [(e["loc"], e["row"], e["msg"]) for e in body["errors"]] == [
        (["items", 0, "value"], 2, "value 75 differs from numerator/denominator (0.75): leave the value empty (it "
                                   "is computed from numerator and denominator), or fill in the value alone with "
                                   "numerator and denominator empty")]


async def test_a_posted_mismatch_says_what_to_do(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    item = {"indicator": "2.3.01", "period": "2024", "value": 33.3, "numerator": 1, "denominator": 3}
    body = assert_problem(await post(client, cgj, "/v1/submissions", item), 422, "validation_failed")
    assert body["errors"] == [{"loc": ["value"], "msg": MISMATCH_API, "type": "value_mismatch"}]
    body = assert_problem(await post(client, cgj, "/v1/submissions", item, **{"Accept-Language": "zh-CN"}), 422,
                          "validation_failed")
    assert body["errors"] == [{"loc": ["value"], "msg": MISMATCH_API_ZH, "type": "value_mismatch"}]
    body = assert_problem(await post(client, cgj, "/v1/submissions/batch", {"items": [item]}), 422,
                          "validation_failed")
    assert body["errors"] == [{"loc": ["items", 0, "value"], "msg": MISMATCH_API, "type": "value_mismatch"}]
    assert await sql(app, "SELECT count(*) FROM submissions") == [(0,)]


async def test_a_patched_mismatch_says_what_to_do(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    created = await post(client, cgj, "/v1/submissions",
                         {"indicator": "2.3.01", "period": "2024", "numerator": 1, "denominator": 3})
    assert created.status_code == 201, created.text
    path = f"/v1/submissions/{created.json()['id']}"
    response = await client.patch(path, json={"value": 33.3},
                                  headers=bearer(cgj, **{"If-Match": created.headers["ETag"]}))
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"] == [{"loc": ["value"], "msg": MISMATCH_API, "type": "value_mismatch"}]
    # Doing what it says: value alone, numerator and denominator null.
    response = await client.patch(path, json={"value": 33.3, "numerator": None, "denominator": None},
                                  headers=bearer(cgj, **{"If-Match": created.headers["ETag"]}))
    assert response.status_code == 200, response.text
    assert await sql(app, "SELECT value, numerator, denominator FROM submissions") == [(33.3, None, None)]


# ----------------------------------------------------------------------------------- missing fields


async def test_an_imported_row_without_period_or_code_names_the_column(app: Any, client: httpx.AsyncClient,
                                                                       cgj: str) -> None:
    text = "指标代码,期间,数值\n2.4.01,,62\n,2024,30\n2.4.03,2023,61\n"
    response = await upload(client, cgj, text.encode(), content_type="text/csv")
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"] == [
        {"loc": ["items", 0, "period"], "row": 2, "type": "missing",
         "msg": "this row has no 期间 (period): fill it in"},
        {"loc": ["items", 1, "indicator"], "row": 3, "type": "missing",
         "msg": "this row has no 指标代码 (code): fill it in"},
    ]
    response = await upload(client, cgj, text.encode(), content_type="text/csv", **{"Accept-Language": "zh-CN"})
    body = assert_problem(response, 422, "validation_failed")
    assert [e["msg"] for e in body["errors"]] == ["本行未填写“期间”", "本行未填写“指标代码”"]
    assert await sql(app, "SELECT count(*) FROM submissions") == [(0,)]


async def test_a_posted_submission_without_period_names_the_field(client: httpx.AsyncClient, cgj: str) -> None:
    item = {"indicator": "2.3.01", "value": 50}
    body = assert_problem(await post(client, cgj, "/v1/submissions", item), 422, "validation_failed")
    assert body["errors"] == [{"loc": ["period"], "msg": "Field required: period", "type": "missing"}]
    body = assert_problem(await post(client, cgj, "/v1/submissions", item, **{"Accept-Language": "zh-CN"}), 422,
                          "validation_failed")
    assert body["errors"] == [{"loc": ["period"], "msg": "缺少必填字段：period（期间）", "type": "missing"}]
    body = assert_problem(await post(client, cgj, "/v1/submissions/batch", {"items": [{"period": "2024", "value": 1}]},
                                     **{"Accept-Language": "zh-CN"}), 422, "validation_failed")
    assert body["errors"] == [{"loc": ["items", 0, "indicator"], "msg": "缺少必填字段：indicator（指标）",
                               "type": "missing"}]


async def test_a_missing_query_parameter_is_named(client: httpx.AsyncClient, cgj: str) -> None:
    body = assert_problem(await client.get("/v1/scores", headers=bearer(cgj)), 422, "validation_failed")
    assert body["errors"] == [{"loc": ["query", "period"], "msg": "Field required: period", "type": "missing"}]


async def test_a_field_without_a_chinese_name_is_named_by_its_key(app: Any, client: httpx.AsyncClient) -> None:
    admin = await make_token(app, "lead", ["admin"])
    response = await client.post("/v1/webhooks", json={"url": "https://example.com/h"},
                                 headers=bearer(admin, **{"Accept-Language": "zh-CN"}))
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"] == [{"loc": ["events"], "msg": "缺少必填字段：events", "type": "missing"}]
