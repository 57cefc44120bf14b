"""The Excel round trip of submissions: a real template (openpyxl) filled in and uploaded back."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from tests.factories import assert_problem, bearer, make_token, sql
from tests.test_files import png_bytes

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOUNDARY = "zwc-excel-test-boundary"

# From app/catalogue/data/indicators.csv: cgj leads 1.4.01, 1.4.03, 2.3.01, 2.4.01, 2.4.03, 3.4.01,
# 3.4.03 and 3.4.05, and cooperates on 2.4.05; none of them is fed by the cell registry.
CGJ_CODES = ["1.4.01", "1.4.03", "2.3.01", "2.4.01", "2.4.03", "2.4.05", "3.4.01", "3.4.03", "3.4.05"]
HEADERS_ZH = ["指标代码", "指标名称", "单位", "频次", "期间", "数值", "分子", "分母", "说明", "目标值"]


def multipart(content: bytes, content_type: str = XLSX_TYPE) -> tuple[bytes, str]:
    """One ``file`` part, with a fixed boundary (so that a retry sends the very same bytes)."""
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="upload"\r\n'
            f"Content-Type: {content_type}\r\n\r\n").encode()
    return head + content + f"\r\n--{BOUNDARY}--\r\n".encode(), f"multipart/form-data; boundary={BOUNDARY}"


async def upload(client: httpx.AsyncClient, token: str, content: bytes, *, dry_run: bool = False,
                 content_type: str = XLSX_TYPE, **headers: str) -> httpx.Response:
    body, header = multipart(content, content_type=content_type)
    url = "/v1/submissions/import" + ("?dry_run=true" if dry_run else "")
    return await client.post(url, content=body, headers=bearer(token, **{"Content-Type": header}, **headers))


async def template(client: httpx.AsyncClient, token: str) -> Any:
    response = await client.get("/v1/submissions/template.xlsx", headers=bearer(token))
    assert response.status_code == 200, response.text
    return load_workbook(io.BytesIO(response.content))


def rows_by_code(sheet: Worksheet) -> dict[str, int]:
    """Each code's first row."""
    rows: dict[str, int] = {}
    for row in range(2, sheet.max_row + 1):
        rows.setdefault(str(sheet.cell(row=row, column=1).value), row)
    return rows


def fill(workbook: Any, values: dict[str, dict[str, Any]]) -> bytes:
    """Type into the template: ``{code: {"period": …, "value": …, …}}``, then save it as Excel would."""
    sheet = workbook["填报"]
    rows = rows_by_code(sheet)
    columns = {"period": 5, "value": 6, "numerator": 7, "denominator": 8, "note": 9}
    for code, cells in values.items():
        for name, value in cells.items():
            sheet.cell(row=rows[code], column=columns[name], value=value)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def counts(app: Any) -> tuple[int, int, int]:
    found = []
    for table in ("submissions", "submission_revisions", "audit_events"):
        found.append(int((await sql(app, f"SELECT count(*) FROM {table}"))[0][0]))
    return found[0], found[1], found[2]




@pytest.fixture
async def cgj(app: Any) -> str:
    return await make_token(app, "cgj", ["submissions:write"], name="cgj writer")


@pytest.fixture
async def sthj(app: Any) -> str:
    return await make_token(app, "sthj", ["submissions:write"], name="sthj writer")


async def test_template_lists_the_departments_indicators(client: httpx.AsyncClient, cgj: str) -> None:
    response = await client.get("/v1/submissions/template.xlsx", headers=bearer(cgj))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX_TYPE
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''" in disposition
    workbook = load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["填报", "说明"]
    sheet = workbook["填报"]
    headers = [sheet.cell(row=1, column=column).value for column in range(1, 11)]
    assert [str(header).split("\n")[0] for header in headers] == HEADERS_ZH
    assert str(headers[0]).split("\n")[1] == "code"
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["B"].width == 60  # the catalogue's longest name on one line
    # Printed: landscape A4, one page wide, the header row repeated on every page.
    assert (sheet.page_setup.orientation, sheet.page_setup.paperSize) == ("landscape", 9)  # 9: A4
    assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)
    assert sheet.sheet_properties.pageSetUpPr.fitToPage is True
    assert sheet.print_title_rows == "$1:$1"
    assert [sheet.cell(row=row, column=1).value for row in range(2, sheet.max_row + 1)] == CGJ_CODES
    rows = rows_by_code(sheet)
    assert sheet.cell(row=rows["1.4.03"], column=2).value == "城区生活垃圾分类覆盖率"
    assert sheet.cell(row=rows["1.4.03"], column=3).value == "%"
    assert str(sheet.cell(row=rows["1.4.03"], column=4).value).startswith("季度")
    assert sheet.cell(row=rows["1.4.03"], column=10).value == "2025: 99.5"
    assert sheet.cell(row=rows["3.4.05"], column=10).value == "2025: 是"
    assert sheet.cell(row=rows["2.4.01"], column=10).value is None  # no target
    # 3.4.05 (生活垃圾焚烧发电设施建成投运) is the only yes/no indicator of cgj: row 10.
    lists = [v for v in sheet.data_validations.dataValidation if v.type == "list"]
    assert len(lists) == 1
    assert lists[0].formula1 == '"是,否"'
    assert str(lists[0].sqref) == "F10"
    assert "YYYYQn" in "\n".join(str(row[0]) for row in workbook["说明"].iter_rows(values_only=True))


async def test_template_leaves_out_indicators_fed_by_the_cell_registry(app: Any, client: httpx.AsyncClient) -> None:
    # The lead office leads 1.4.02 (cells), 4.1.02 and 4.1.03; wlj only 5.1.04 (cells) and helps on 1.4.02.
    lead = await make_token(app, "lead", ["submissions:write"])
    sheet = (await template(client, lead))["填报"]
    assert [sheet.cell(row=row, column=1).value for row in range(2, sheet.max_row + 1)] == ["4.1.02", "4.1.03"]
    wlj = await make_token(app, "wlj", ["submissions:write"])
    sheet = (await template(client, wlj))["填报"]
    assert sheet.max_row == 1
    assert sheet.cell(row=1, column=1).value == "指标代码\ncode"


async def test_filled_template_imports_as_drafts(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    content = fill(await template(client, cgj), {
        "1.4.03": {"period": "2024Q2", "value": 98.5, "note": "城区全覆盖"},
        "2.3.01": {"period": "2024", "numerator": 30, "denominator": 120},
        "3.4.05": {"period": "2024", "value": "是"},
    })
    before = await counts(app)
    response = await upload(client, cgj, content)
    assert response.status_code == 201, response.text
    items = response.json()["items"]
    assert [(i["indicator"], i["period"], i["value"], i["status"]) for i in items] == [
        ("1.4.03", "2024Q2", 98.5, "draft"), ("2.3.01", "2024", 25.0, "draft"), ("3.4.05", "2024", True, "draft"),
    ]
    stored = await sql(app, "SELECT indicator, period, department, value, numerator, denominator, note, status "
                            "FROM submissions ORDER BY indicator")
    assert [tuple(row) for row in stored] == [
        ("1.4.03", "2024Q2", "cgj", 98.5, None, None, "城区全覆盖", "draft"),
        ("2.3.01", "2024", "cgj", 25.0, 30.0, 120.0, None, "draft"),  # 100 × 30 / 120
        ("3.4.05", "2024", "cgj", 1.0, None, None, None, "draft"),
    ]
    after = await counts(app)
    assert after[0] - before[0] == 3
    assert after[1] - before[1] == 3


async def test_dry_run_previews_and_stores_nothing(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    content = fill(await template(client, cgj), {
        "1.4.01": {"period": "2024-05", "value": 1.12},
        "2.4.03": {"period": "2023", "value": 61},
    })
    before = await counts(app)
    response = await upload(client, cgj, content, dry_run=True)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(i["indicator"], i["period"], i["value"], i["department"], i["status"]) for i in items] == [
        ("1.4.01", "2024-05", 1.12, "cgj", "draft"), ("2.4.03", "2023", 61.0, "cgj", "draft"),
    ]
    assert "id" not in items[0]
    assert await counts(app) == before


async def test_one_bad_row_refuses_the_whole_file(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    # Filled rows, in sheet order: 1.4.03 (row 3), 2.4.01 (row 5), 3.4.01 (row 8), 3.4.05 (row 10).
    content = fill(await template(client, cgj), {
        "1.4.03": {"period": "2024Q1", "value": 97},
        "2.4.01": {"period": "2024", "value": 120},  # a percentage above 100
        "3.4.01": {"period": "2024", "value": "about ten"},  # not a number
        "3.4.05": {"period": "2024", "value": "否"},
    })
    before = await counts(app)
    response = await upload(client, cgj, content)
    body = assert_problem(response, 422, "validation_failed")
    found = [(error["loc"], error["row"], error["type"]) for error in body["errors"]]
    assert found == [
        (["items", 1, "value"], 5, "out_of_range"),
        (["items", 2, "value"], 8, "not_a_number_or_bool"),
    ]
    assert body["errors"][0]["msg"] == "120 is out of range: it must be between 0 and 100"
    assert await counts(app) == before
    assert await sql(app, "SELECT count(*) FROM submissions WHERE indicator = '1.4.03'") == [(0,)]


async def test_errors_are_in_the_callers_language(client: httpx.AsyncClient, cgj: str) -> None:
    content = fill(await template(client, cgj), {"2.4.01": {"period": "2024", "value": "十"}})
    body, header = multipart(content)
    response = await client.post("/v1/submissions/import", content=body,
                                 headers=bearer(cgj, **{"Content-Type": header, "Accept-Language": "zh-CN"}))
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"] == [{"loc": ["items", 0, "value"], "msg": "应为数字；是否类指标填写“是”或“否”",
                                  "type": "not_a_number_or_bool", "row": 5}]


async def test_csv_with_bom_imports(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    text = "指标代码,期间,数值,说明\r\n1.4.03,2024Q3,97.25,按季度统计\r\n2.4.01,,,\r\n2.4.01,2024,\"36.5\",\r\n"
    response = await upload(client, cgj, ("\ufeff" + text).encode(), content_type="text/csv")
    assert response.status_code == 201, response.text
    stored = await sql(app, "SELECT indicator, period, value, note FROM submissions ORDER BY indicator")
    assert [tuple(row) for row in stored] == [("1.4.03", "2024Q3", 97.25, "按季度统计"), ("2.4.01", "2024", 36.5, None)]


async def test_tab_separated_text_with_bilingual_headers(client: httpx.AsyncClient, cgj: str) -> None:
    # What copying the template's header into a text file gives: quoted two-line headers, tabs.
    text = '"指标代码\ncode"\t"期间\nperiod"\t"分子\nnumerator"\t"分母\ndenominator"\n2.3.01\t2024\t3\t4\n'
    response = await upload(client, cgj, text.encode(), dry_run=True, content_type="text/plain")
    assert response.status_code == 200, response.text
    assert [(i["indicator"], i["period"], i["value"], i["numerator"], i["denominator"])
            for i in response.json()["items"]] == [("2.3.01", "2024", 75.0, 3.0, 4.0)]


async def test_csv_with_english_headers_reports_rows(client: httpx.AsyncClient, cgj: str) -> None:
    # Data rows are CSV records 2, 3 and 4; the third repeats the first's indicator and period.
    text = "code,period,value\n1.4.03,2024Q3,97\n2.4.01,2024,30\n1.4.03,2024Q3,98\n"
    response = await upload(client, cgj, text.encode(), dry_run=True, content_type="text/csv")
    body = assert_problem(response, 422, "validation_failed")
    assert [(e["loc"], e["row"], e["type"], e["first_row"]) for e in body["errors"]] == [
        (["items", 2, "period"], 4, "duplicate_in_batch", 2),
    ]
    assert body["errors"][0]["msg"] == "the same indicator and period appear earlier in this batch (items[0])"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (png_bytes(), "image/png"),
        (b"just some notes\n1.4.03 is fine\n", "text/csv"),  # text, but not the template's columns
        ("指标代码,期间,数值\n1.4.03,2024Q3,97\n".encode("utf-16"), "text/csv"),  # neither UTF-8 nor GB18030
    ],
    ids=["png", "text", "utf-16"],
)
async def test_other_files_are_415(app: Any, client: httpx.AsyncClient, cgj: str, content: bytes,
                                   content_type: str) -> None:
    before = await counts(app)
    response = await upload(client, cgj, content, content_type=content_type)
    assert_problem(response, 415, "unsupported_import_type")
    assert await counts(app) == before


async def test_empty_and_oversized_files_are_422(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    empty = fill(await template(client, cgj), {})
    body = assert_problem(await upload(client, cgj, empty), 422, "validation_failed")
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [(["items"], "no_rows")]
    # 501 filled rows (monthly 1.4.01 is enough to tell the count; the rules never run).
    lines = ["指标代码,期间,数值"] + [f"1.4.01,{2016 + n // 12}-{n % 12 + 1:02d},1" for n in range(501)]
    body = assert_problem(await upload(client, cgj, "\n".join(lines).encode(), content_type="text/csv"),
                          422, "validation_failed")
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [(["items"], "too_many_rows")]
    assert body["errors"][0]["msg"] == "at most 500 filled rows per file (501 found)"
    assert await sql(app, "SELECT count(*) FROM submissions") == [(0,)]


async def test_numeric_period_cells_become_text(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    # A plain workbook (no template styles): Excel stores a typed 2024 as the number 2024.
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["指标代码\ncode", "期间\nperiod", "数值\nvalue"])
    sheet.append(["2.3.01", 2024, 35])
    sheet.append(["2.4.03", 2023.0, 44.5])
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert isinstance(load_workbook(io.BytesIO(buffer.getvalue()))["Sheet"]["B2"].value, int)
    response = await upload(client, cgj, buffer.getvalue())
    assert response.status_code == 201, response.text
    stored = await sql(app, "SELECT indicator, period, value FROM submissions ORDER BY indicator")
    assert [tuple(row) for row in stored] == [("2.3.01", "2024", 35.0), ("2.4.03", "2023", 44.5)]


async def test_yes_no_become_booleans(app: Any, client: httpx.AsyncClient, sthj: str) -> None:
    # sthj leads two yes/no indicators: 4.1.01 (地方性法规或政策性文件) and 4.4.01 (信息化“一张网”).
    workbook = await template(client, sthj)
    sheet = workbook["填报"]
    rows = rows_by_code(sheet)
    validated = {str(v.sqref) for v in sheet.data_validations.dataValidation if v.type == "list"}
    assert validated == {f"F{rows['4.1.01']} F{rows['4.4.01']}"}
    extra = sheet.max_row + 1  # a copied row for a second period, answered with Excel's TRUE
    sheet.cell(row=extra, column=1, value="4.1.01")
    sheet.cell(row=extra, column=5, value="2023")
    sheet.cell(row=extra, column=6, value=True)
    content = fill(workbook, {"4.1.01": {"period": "2024", "value": "是"},
                              "4.4.01": {"period": "2024", "value": "否"}})
    response = await upload(client, sthj, content)
    assert response.status_code == 201, response.text
    assert [(i["indicator"], i["period"], i["value"]) for i in response.json()["items"]] == [
        ("4.1.01", "2024", True), ("4.4.01", "2024", False), ("4.1.01", "2023", True),
    ]
    stored = await sql(app, "SELECT indicator, period, value FROM submissions ORDER BY indicator, period")
    assert [tuple(row) for row in stored] == [("4.1.01", "2023", 1.0), ("4.1.01", "2024", 1.0),
                                              ("4.4.01", "2024", 0.0)]
    listed = await client.get("/v1/submissions?indicator=4.4.01", headers=bearer(sthj))
    assert [item["value"] for item in listed.json()["items"]] == [False]


async def test_a_number_for_a_yes_no_indicator_is_refused(client: httpx.AsyncClient, sthj: str) -> None:
    content = fill(await template(client, sthj), {"4.1.01": {"period": "2024", "value": 1}})
    body = assert_problem(await upload(client, sthj, content), 422, "validation_failed")
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [(["items", 0, "value"], "boolean_expected")]


async def test_scope_is_required(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    content = fill(await template(client, cgj), {"1.4.03": {"period": "2024Q1", "value": 97}})
    reader = await make_token(app, "cgj", ["submissions:review"], name="cgj reviewer")
    response = await client.get("/v1/submissions/template.xlsx", headers=bearer(reader))
    assert_problem(response, 403, "scope_required")
    assert_problem(await upload(client, reader, content), 403, "scope_required")
    assert await sql(app, "SELECT count(*) FROM submissions") == [(0,)]


async def test_idempotent_replay_stores_once(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    content = fill(await template(client, cgj), {"1.4.03": {"period": "2024Q1", "value": 97},
                                                 "2.4.01": {"period": "2024", "value": 33}})
    first = await upload(client, cgj, content, **{"Idempotency-Key": "excel-import-1"})
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await upload(client, cgj, content, **{"Idempotency-Key": "excel-import-1"})
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await sql(app, "SELECT count(*) FROM submissions") == [(2,)]
    other = fill(await template(client, cgj), {"1.4.03": {"period": "2024Q2", "value": 97}})
    reused = await upload(client, cgj, other, **{"Idempotency-Key": "excel-import-1"})
    assert_problem(reused, 422, "idempotency_key_reused")
    assert await sql(app, "SELECT count(*) FROM submissions") == [(2,)]


async def test_existing_submission_is_reported_with_its_row(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    workbook = await template(client, cgj)
    first = await upload(client, cgj, fill(workbook, {"2.4.01": {"period": "2024", "value": 30}}))
    assert first.status_code == 201, first.text
    existing_id = first.json()["items"][0]["id"]
    again = fill(await template(client, cgj), {"1.4.03": {"period": "2024Q1", "value": 97},
                                               "2.4.01": {"period": "2024", "value": 31}})
    body = assert_problem(await upload(client, cgj, again), 422, "validation_failed")
    assert [(e["loc"], e["row"], e["type"]) for e in body["errors"]] == [
        (["items", 1, "indicator"], 5, "submission_exists"),
    ]
    assert str(existing_id) in body["errors"][0]["msg"]
    assert await sql(app, "SELECT count(*) FROM submissions") == [(1,)]
