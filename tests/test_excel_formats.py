"""What an upload holds besides plain numbers: percentages typed with "%", and the text encodings of CSV.

A cell typed ``62.5%`` in Excel or LibreOffice holds 0.625 shown through a percent number format; the
same cell saved as CSV is the text ``62.5%``. Both mean 62.5 on a percent indicator (SPEC §2: a percent
is stored as 0–100), and both are refused, with what to type instead, where "%" means nothing sure.

Figures by hand: 0.995 × 100 = 99.5; 0.625 × 100 = 62.5; 0.4 × 100 = 40; 0.575 × 100 = 57.5 (57.49999999999999
in binary floating point: the import must give 57.5); 40150 / 110000 × 100 = 36.5.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import Workbook

from tests.factories import assert_problem, bearer, make_token, sql
from tests.test_excel import counts, rows_by_code, template, upload

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
async def cgj(app: Any) -> str:
    return await make_token(app, "cgj", ["submissions:write"], name="cgj writer")


def saved(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def plain_workbook(rows: list[list[Any]], formats: dict[str, str] | None = None) -> bytes:
    """A workbook as an official makes one from scratch: header 指标代码/期间/数值/分子/分母, then ``rows``;
    ``formats`` gives cells (e.g. ``C2``) a number format."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["指标代码", "期间", "数值", "分子", "分母"])
    for row in rows:
        sheet.append(row)
    for coordinate, number_format in (formats or {}).items():
        sheet[coordinate].number_format = number_format
    return saved(workbook)


async def stored(app: Any) -> list[tuple[Any, ...]]:
    rows = await sql(app, "SELECT indicator, period, value, numerator, denominator, note FROM submissions "
                          "ORDER BY indicator, period")
    return [tuple(row) for row in rows]


# ----------------------------------------------------------------------------------------- percentages


async def test_percent_formatted_cells_are_read_as_percentages(app: Any, client: httpx.AsyncClient,
                                                               cgj: str) -> None:
    workbook = await template(client, cgj)
    sheet = workbook["填报"]
    rows = rows_by_code(sheet)
    # What Excel stores when an official types 99.5%, 62.5%, 40% and 57.5% (the format is Excel's choice).
    for code, period, number, number_format in (("1.4.03", "2024Q2", 0.995, "0.0%"), ("2.4.01", "2024", 0.625, "0.00%"),
                                                ("2.4.03", "2023", 0.4, "0%"), ("3.4.03", "2024", 0.575, "0.0%")):
        sheet.cell(row=rows[code], column=5, value=period)
        sheet.cell(row=rows[code], column=6, value=number).number_format = number_format
    # A text cell with "%" (the template's value cells are General; a text one keeps what was typed).
    sheet.cell(row=rows["2.4.05"], column=5, value="2024")
    sheet.cell(row=rows["2.4.05"], column=6, value="88.25%").number_format = "@"
    response = await upload(client, cgj, saved(workbook))
    assert response.status_code == 201, response.text
    assert [(i["indicator"], i["value"]) for i in response.json()["items"]] == [
        ("1.4.03", 99.5), ("2.4.01", 62.5), ("2.4.03", 40.0), ("2.4.05", 88.25), ("3.4.03", 57.5)]
    assert await stored(app) == [
        ("1.4.03", "2024Q2", 99.5, None, None, None), ("2.4.01", "2024", 62.5, None, None, None),
        ("2.4.03", "2023", 40.0, None, None, None), ("2.4.05", "2024", 88.25, None, None, None),
        ("3.4.03", "2024", 57.5, None, None, None)]


def _xlsx_formatted() -> bytes:
    return plain_workbook([["1.4.03", "2024Q2", 0.995], ["2.4.01", "2024", 0.625],
                           ["2.3.01", "2024", None, 40150, 110000]], {"C2": "0.0%", "C3": "0.0%"})


def _xlsx_text() -> bytes:
    return plain_workbook([["1.4.03", "2024Q2", "99.5%"], ["2.4.01", "2024", "62.5 %"],
                           ["2.3.01", "2024", None, 40150, 110000]])


def _csv_text() -> bytes:
    # "％" is the full-width sign a Chinese input method types.
    return ("指标代码,期间,数值,分子,分母\n1.4.03,2024Q2,99.5%,,\n2.4.01,2024,62.5％,,\n"
            "2.3.01,2024,,40150,110000\n").encode()


@pytest.mark.parametrize("content", [_xlsx_formatted, _xlsx_text, _csv_text],
                         ids=["xlsx-percent-format", "xlsx-percent-text", "csv-percent-text"])
async def test_a_percentage_reads_the_same_by_every_route(app: Any, client: httpx.AsyncClient, cgj: str,
                                                          content: Callable[[], bytes]) -> None:
    response = await upload(client, cgj, content())
    assert response.status_code == 201, response.text
    assert await stored(app) == [("1.4.03", "2024Q2", 99.5, None, None, None),
                                 ("2.3.01", "2024", 36.5, 40150.0, 110000.0, None),
                                 ("2.4.01", "2024", 62.5, None, None, None)]


def _refused_workbook() -> bytes:
    # cgj: 1.4.01 is a quantity (kg/人·日), 2.3.01 a percent given as numerator/denominator, 3.4.05 yes/no.
    return plain_workbook([["1.4.01", "2024-05", 0.12], ["2.3.01", "2024", None, "30%", 120],
                           ["3.4.05", "2024", 1], ["1.4.03", "2024Q1", 0.975], ["2.4.01", "2024", None, 45, 0.6]],
                          {"C2": "0%", "C4": "0%", "C5": "0.0%", "E6": "0%"})


REFUSED_EN = [
    (["items", 0, "value"], 2, "percent_not_percent",
     "12% is typed as a percentage, but this indicator is not a percentage (unit: kg/人·日): type the number "
     "without %"),
    (["items", 1, "numerator"], 3, "percent_rate_part",
     "numerator and denominator are amounts, not percentages: type the number without % (30% was typed)"),
    (["items", 2, "value"], 4, "percent_yes_no",
     "100% is typed as a percentage, but this is a yes/no indicator: choose 是 (yes) or 否 (no)"),
    (["items", 4, "denominator"], 6, "percent_rate_part",
     "numerator and denominator are amounts, not percentages: type the number without % (60% was typed)"),
]
REFUSED_ZH = [
    "12% 是百分数，但该指标不是百分比指标（单位：kg/人·日）：请直接填写数字，不带 %",
    "分子、分母应为数量，不是百分数：请直接填写数字，不带 %（本格为 30%）",
    "100% 是百分数，但该指标为是否类指标：请选择“是”或“否”",
    "分子、分母应为数量，不是百分数：请直接填写数字，不带 %（本格为 60%）",
]


async def test_a_percentage_where_it_means_nothing_sure_is_refused(app: Any, client: httpx.AsyncClient,
                                                                   cgj: str) -> None:
    before = await counts(app)
    content = _refused_workbook()
    body = assert_problem(await upload(client, cgj, content), 422, "validation_failed")
    assert [(e["loc"], e["row"], e["type"], e["msg"]) for e in body["errors"]] == REFUSED_EN
    body = assert_problem(await upload(client, cgj, content, **{"Accept-Language": "zh-CN"}), 422, "validation_failed")
    assert [e["msg"] for e in body["errors"]] == REFUSED_ZH
    assert await counts(app) == before


async def test_the_same_refusals_from_csv(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    text = ("指标代码,期间,数值,分子,分母\n1.4.01,2024-05,12%,,\n2.3.01,2024,,30%,120\n3.4.05,2024,100%,,\n"
            "1.4.03,2024Q1,97.5%,,\n2.4.01,2024,,45,60%\n")
    body = assert_problem(await upload(client, cgj, text.encode(), content_type="text/csv"), 422, "validation_failed")
    assert [(e["loc"], e["row"], e["type"], e["msg"]) for e in body["errors"]] == REFUSED_EN
    assert await sql(app, "SELECT count(*) FROM submissions") == [(0,)]


@pytest.mark.parametrize("content", [
    plain_workbook([["1.1.01", "2024", 0.625]], {"C2": "0.0%"}),
    b"code,period,value\n1.1.01,2024,62.5%\n",
], ids=["xlsx", "csv"])
async def test_a_percentage_on_a_ratio_is_refused(app: Any, client: httpx.AsyncClient, content: bytes) -> None:
    # 1.1.01 (工业固体废物产生强度, t/万元) is sthj's ratio: 62.5% could mean 0.625 or 62.5.
    sthj = await make_token(app, "sthj", ["submissions:write"])
    body = assert_problem(await upload(client, sthj, content), 422, "validation_failed")
    assert body["errors"] == [{
        "loc": ["items", 0, "value"], "row": 2, "type": "percent_not_percent",
        "msg": "62.5% is typed as a percentage, but this indicator is not a percentage (unit: t/万元): type the "
               "number without %"}]
    assert await sql(app, "SELECT count(*) FROM submissions") == [(0,)]


def _libreoffice(name: str) -> bytes:
    content = (FIXTURES / name).read_bytes()
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert b"<Application>LibreOffice/" in archive.read("docProps/app.xml")  # made by LibreOffice, not openpyxl
    return content


async def test_a_libreoffice_workbook_with_percentages_imports(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    # tests/fixtures/make_libreoffice_workbooks.py: "99.5%", "62.5%" and "40%" saved by LibreOffice as 0.00%.
    response = await upload(client, cgj, _libreoffice("libreoffice-percent.xlsx"))
    assert response.status_code == 201, response.text
    assert await stored(app) == [("1.4.03", "2024Q2", 99.5, None, None, "城区全覆盖"),
                                 ("2.4.01", "2024", 62.5, None, None, None), ("2.4.03", "2023", 40.0, None, None, None)]


async def test_a_libreoffice_workbook_with_doubtful_percentages_is_refused(app: Any, client: httpx.AsyncClient,
                                                                          cgj: str) -> None:
    body = assert_problem(await upload(client, cgj, _libreoffice("libreoffice-percent-refused.xlsx")), 422,
                          "validation_failed")
    assert [(e["loc"], e["row"], e["type"], e["msg"]) for e in body["errors"]] == REFUSED_EN[:3]
    assert await sql(app, "SELECT count(*) FROM submissions") == [(0,)]


# ------------------------------------------------------------------------------------------- encodings

ROWS_TEXT = ("指标代码,期间,数值,分子,分母,说明\r\n"
             "1.4.03,2024Q3,97.25,,,按季度统计（城区）\r\n"
             "2.3.01,2024,,40150,110000,住建局台账\r\n")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
async def test_csv_in_utf8_with_or_without_bom_and_in_gb18030(app: Any, client: httpx.AsyncClient, cgj: str,
                                                              encoding: str) -> None:
    # Excel on Chinese Windows saves "CSV (逗号分隔)" in the ANSI code page (GBK, within GB18030).
    response = await upload(client, cgj, ROWS_TEXT.encode(encoding), content_type="text/csv")
    assert response.status_code == 201, response.text
    assert await stored(app) == [("1.4.03", "2024Q3", 97.25, None, None, "按季度统计（城区）"),
                                 ("2.3.01", "2024", 36.5, 40150.0, 110000.0, "住建局台账")]


async def test_a_gb18030_note_is_kept_exactly(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    # 𠮷 and ・ are outside GBK (four bytes each in GB18030), € is two bytes in GB18030 only.
    note = "按住建局台账补报：𠮷・€，“含税”"
    text = f"期间,指标代码,说明,数值\n2024,2.4.01,{note},30\n"
    assert text.encode("gb18030") != text.encode()
    response = await upload(client, cgj, text.encode("gb18030"), content_type="text/csv")
    assert response.status_code == 201, response.text
    assert response.json()["items"][0]["note"] == note
    assert await sql(app, "SELECT note FROM submissions") == [(note,)]


@pytest.mark.parametrize("content", [
    "code,period,value,note\n1.4.03,2024Q3,97,café\n".encode("latin-1"),  # neither UTF-8 nor GB18030
    "指标代码,期间,数值\n1.4.03,2024Q3,97\n".encode("utf-16"),
], ids=["latin-1", "utf-16"])
async def test_other_encodings_are_415(app: Any, client: httpx.AsyncClient, cgj: str, content: bytes) -> None:
    assert_problem(await upload(client, cgj, content, content_type="text/csv"), 415, "unsupported_import_type")
    assert await sql(app, "SELECT count(*) FROM submissions") == [(0,)]


async def test_the_415_says_which_encodings(client: httpx.AsyncClient, cgj: str) -> None:
    content = "just notes".encode("utf-16")
    body = assert_problem(await upload(client, cgj, content, content_type="text/csv"), 415, "unsupported_import_type")
    assert body["detail"] == ("Import takes an XLSX workbook, or CSV with the template's headers in UTF-8 "
                              "(a BOM allowed) or GB18030/GBK (Excel's \"CSV (逗号分隔)\" on Chinese Windows).")
    response = await client.post("/v1/submissions/import", headers=bearer(cgj, **{"Accept-Language": "zh-CN"}),
                                 files={"file": ("a.csv", content, "text/csv")})
    body = assert_problem(response, 415, "unsupported_import_type")
    assert body["detail"] == ("导入仅支持 XLSX 工作簿，或带模板表头的 CSV 文件（UTF-8 编码，可带 BOM；"
                              "或 GB18030/GBK 编码，即中文版 Windows 上 Excel 另存的“CSV (逗号分隔)”）。")
