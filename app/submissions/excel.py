"""The Excel template of submissions: a fill-in workbook per department.

`build_template` writes the workbook (sheet 填报 with one row per indicator the department leads or
cooperates on, sheet 说明 with the rules). Reading an upload back is `excel_read`; checking its rows
under the batch rules is `excel_check`.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from app.indicators.models import IndicatorVersion

MAX_ROWS = 500
SHEET = "填报"
HELP_SHEET = "说明"


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    width: float
    editable: bool


COLUMNS = (
    Column("indicator", "指标代码", "code", 11, False),
    Column("name", "指标名称", "name", 46, False),
    Column("unit", "单位", "unit", 10, False),
    Column("frequency", "频次", "frequency", 12, False),
    Column("period", "期间", "period", 12, True),
    Column("value", "数值", "value", 12, True),
    Column("numerator", "分子", "numerator", 14, True),
    Column("denominator", "分母", "denominator", 14, True),
    Column("note", "说明", "note", 40, True),
    Column("target", "目标值", "target", 16, False),
)
LETTER = {column.key: get_column_letter(position) for position, column in enumerate(COLUMNS, start=1)}

FREQUENCY_LABELS = {"annual": "年度 annual", "quarterly": "季度 quarterly", "monthly": "月度 monthly"}
PERIOD_HINTS = {
    "annual": ("年度：YYYY，例如 2025", "Annual: YYYY, e.g. 2025"),
    "quarterly": ("季度：YYYYQn，例如 2025Q3", "Quarterly: YYYYQn, e.g. 2025Q3"),
    "monthly": ("月度：YYYY-MM，例如 2025-07", "Monthly: YYYY-MM, e.g. 2025-07"),
}

_HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
_INFO_FILL = PatternFill("solid", fgColor="F2F2F2")
_UNUSED_FILL = PatternFill("solid", fgColor="D9D9D9")
_THIN = Side(style="thin", color="BFBFBF")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


def number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def target_text(version: IndicatorVersion) -> str:
    """The target as officials read it, e.g. ``2025: 99.5`` or ``2025: 是``."""
    if version.target_year is None or version.target_value is None:
        return ""
    if version.value_type == "boolean":
        shown = "是" if version.target_value else "否"
    else:
        shown = number_text(version.target_value)
    return f"{version.target_year}: {shown}"


def _style_header(sheet: Worksheet) -> None:
    for position, column in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=1, column=position, value=f"{column.zh}\n{column.en}")
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = _BORDER
        sheet.column_dimensions[get_column_letter(position)].width = column.width
    sheet.row_dimensions[1].height = 34
    sheet.freeze_panes = "A2"


def _write_row(sheet: Worksheet, row: int, code: str, version: IndicatorVersion) -> None:
    rate = version.value_type in ("percent", "ratio")
    values: dict[str, Any] = {
        "indicator": code,
        "name": version.name_zh,
        "unit": version.unit,
        "frequency": FREQUENCY_LABELS.get(version.frequency, version.frequency),
        "target": target_text(version),
    }
    for position, column in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=row, column=position, value=values.get(column.key))
        cell.border = _BORDER
        cell.alignment = Alignment(vertical="center", wrap_text=column.key in ("name", "note"))
        if not column.editable:
            cell.fill = _INFO_FILL
        elif column.key in ("numerator", "denominator") and not rate:
            cell.fill = _UNUSED_FILL  # only rates take numerator and denominator
        if column.key in ("indicator", "period"):
            cell.number_format = "@"  # text: Excel must not turn 2025-07 into a date
    if rate and version.numerator_label and version.denominator_label:
        for key, label in (("numerator", version.numerator_label), ("denominator", version.denominator_label)):
            comment = Comment(label, "zwc")
            comment.width, comment.height = 240, 60
            sheet[f"{LETTER[key]}{row}"].comment = comment


def _add_validations(sheet: Worksheet, rows: Sequence[tuple[int, IndicatorVersion]]) -> None:
    booleans = DataValidation(type="list", formula1='"是,否"', allow_blank=True, showErrorMessage=True,
                              errorTitle="是/否", error="请选择“是”或“否”。Choose 是 (yes) or 否 (no).",
                              promptTitle="是/否", prompt="请选择“是”或“否”", showInputMessage=True)
    periods = {
        frequency: DataValidation(allow_blank=True, showInputMessage=True, promptTitle="期间 period",
                                  prompt=f"{zh}\n{en}")
        for frequency, (zh, en) in PERIOD_HINTS.items()
    }
    for row, version in rows:
        if version.value_type == "boolean":
            booleans.add(f"{LETTER['value']}{row}")
        if version.frequency in periods:
            periods[version.frequency].add(f"{LETTER['period']}{row}")
    for validation in (booleans, *periods.values()):
        if validation.sqref.ranges:
            sheet.add_data_validation(validation)


HELP_LINES: tuple[tuple[str, str], ...] = (
    ("填报说明", "How to fill in this template"),
    ("", ""),
    ("1. 在“填报”表中，每个指标一行。请填写“期间”和“数值”（比率类指标也可填写“分子”“分母”，数值将自动计算）。",
     "1. One row per indicator on sheet 填报. Fill in period and value (for rates you may give numerator "
     "and denominator instead; the value is computed)."),
    ("2. 期间格式：年度 YYYY（如 2025）；季度 YYYYQn（如 2025Q3）；月度 YYYY-MM（如 2025-07），须与指标的频次一致。",
     "2. Period formats: annual YYYY (2025), quarterly YYYYQn (2025Q3), monthly YYYY-MM (2025-07), matching "
     "the indicator's frequency."),
    ("3. 期间、数值、分子、分母都未填写的行将被忽略。同一指标需填报多个期间时，复制该行即可。",
     "3. Rows without period, value, numerator and denominator are ignored. To report several periods of one "
     "indicator, copy its row."),
    ("4. 是否类指标的数值请选择“是”或“否”（也接受 TRUE/FALSE）。",
     "4. For yes/no indicators choose 是 (yes) or 否 (no); TRUE/FALSE are accepted too."),
    ("5. 灰色列（指标代码、名称、单位、频次、目标值）仅供参考，请勿修改指标代码。",
     "5. Grey columns (code, name, unit, frequency, target) are for reference; do not change the code."),
    (f"6. 每个文件最多 {MAX_ROWS} 行。上传时逐行校验，任何一行有误则全部不保存，错误信息注明行号。",
     f"6. At most {MAX_ROWS} filled rows per file. The upload is all or nothing: if any row is wrong nothing "
     "is saved, and each error names its row."),
    ("7. 上传：POST /v1/submissions/import（加 ?dry_run=true 仅校验、不保存）。保存后为草稿，需另行提交审核。",
     "7. Upload: POST /v1/submissions/import (add ?dry_run=true to check without saving). Saved rows are "
     "drafts; submit them for review afterwards."),
)


def _write_help(sheet: Worksheet, department: str, department_name: str | None) -> None:
    sheet.column_dimensions["A"].width = 100
    sheet.append([HELP_LINES[0][0]])
    sheet.append([HELP_LINES[0][1]])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A2"].font = Font(bold=True)
    label = f"{department_name}（{department}）" if department_name else department
    sheet.append([f"填报部门 Department: {label}"])
    for zh, en in HELP_LINES[1:]:
        sheet.append([zh])
        if en:
            sheet.append([en])
    for (cell,) in sheet.iter_rows(min_row=1, max_col=1):
        cell.alignment = Alignment(wrap_text=True, vertical="top")


def build_template(indicators: Iterable[tuple[str, IndicatorVersion]], department: str,
                   department_name: str | None = None) -> bytes:
    """The fill-in workbook for one department (indicators fed by the cell registry left out)."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = SHEET
    _style_header(sheet)
    rows: list[tuple[int, IndicatorVersion]] = []
    for code, version in indicators:
        if version.source == "cells":
            continue
        row = len(rows) + 2
        _write_row(sheet, row, code, version)
        rows.append((row, version))
    _add_validations(sheet, rows)
    sheet.auto_filter.ref = f"A1:{LETTER['target']}{max(len(rows) + 1, 1)}"
    _write_help(workbook.create_sheet(HELP_SHEET), department, department_name)
    workbook.properties.title = f"无废城市指标填报模板 {department}"
    workbook.properties.creator = "Zero-Waste City API"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
