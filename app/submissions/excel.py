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

from app.indicators.bounds import number_text
from app.indicators.schemas import IndicatorOut

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
    Column("name", "指标名称", "name", 60, False),
    Column("unit", "单位", "unit", 10, False),
    Column("frequency", "频次", "frequency", 12, False),
    Column("period", "期间", "period", 12, True),
    Column("value", "数值", "value", 12, True),
    Column("numerator", "分子", "numerator", 14, True),
    Column("denominator", "分母", "denominator", 14, True),
    Column("note", "说明", "note", 40, True),
    Column("target", "目标值", "target", 16, False),
    Column("bounds", "取值范围", "bounds", 16, False),
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


def _shown(value: float | bool, value_type: str) -> str:
    if value_type == "boolean":
        return "是" if value else "否"
    return number_text(float(value))


def target_text(indicator: IndicatorOut) -> str:
    """The milestones as officials read them, e.g. ``2023: 80; 2025: 99.5`` or ``2025: 是``."""
    return "; ".join(f"{target.year}: {_shown(target.value, indicator.value_type)}" for target in indicator.targets)


def bounds_cell_text(indicator: IndicatorOut) -> str:
    """The bounds of a value, e.g. ``0–100``, ``≥ 0``, ``≤ 100``; empty for yes/no indicators."""
    low, high = indicator.min_value, indicator.max_value
    if indicator.value_type == "boolean":
        return ""
    if low is not None and high is not None:
        return f"{number_text(low)}–{number_text(high)}"
    if low is not None:
        return f"≥ {number_text(low)}"
    if high is not None:
        return f"≤ {number_text(high)}"
    return "不限 any"


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


def _write_row(sheet: Worksheet, row: int, version: IndicatorOut) -> None:
    rate = version.value_type in ("percent", "ratio")
    values: dict[str, Any] = {
        "indicator": version.code,
        "name": version.name_zh,
        "unit": version.unit,
        "frequency": FREQUENCY_LABELS.get(version.frequency, version.frequency),
        "target": target_text(version),
        "bounds": bounds_cell_text(version),
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


def _bounds_validation(version: IndicatorOut) -> DataValidation | None:
    """Excel's own check of a typed value against the bounds, so a slip shows while typing."""
    low, high = version.min_value, version.max_value
    if version.value_type == "boolean" or (low is None and high is None):
        return None
    shown = bounds_cell_text(version)
    common = {"type": "decimal", "allow_blank": True, "showErrorMessage": True, "errorTitle": "取值范围 bounds",
              "error": f"数值应在范围内：{shown}。The value must be within {shown}."}
    if low is not None and high is not None:
        return DataValidation(operator="between", formula1=number_text(low), formula2=number_text(high), **common)
    if low is not None:
        return DataValidation(operator="greaterThanOrEqual", formula1=number_text(low), **common)
    assert high is not None
    return DataValidation(operator="lessThanOrEqual", formula1=number_text(high), **common)


def _add_validations(sheet: Worksheet, rows: Sequence[tuple[int, IndicatorOut]]) -> None:
    booleans = DataValidation(type="list", formula1='"是,否"', allow_blank=True, showErrorMessage=True,
                              errorTitle="是/否", error="请选择“是”或“否”。Choose 是 (yes) or 否 (no).",
                              promptTitle="是/否", prompt="请选择“是”或“否”", showInputMessage=True)
    periods = {
        frequency: DataValidation(allow_blank=True, showInputMessage=True, promptTitle="期间 period",
                                  prompt=f"{zh}\n{en}")
        for frequency, (zh, en) in PERIOD_HINTS.items()
    }
    bounds: dict[str, DataValidation] = {}
    for row, version in rows:
        if version.value_type == "boolean":
            booleans.add(f"{LETTER['value']}{row}")
        if version.frequency in periods:
            periods[version.frequency].add(f"{LETTER['period']}{row}")
        key = bounds_cell_text(version)
        if key not in bounds and (made := _bounds_validation(version)) is not None:
            bounds[key] = made
        if key in bounds:
            bounds[key].add(f"{LETTER['value']}{row}")
    for validation in (booleans, *periods.values(), *bounds.values()):
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
    ("4. 是否类指标的数值请选择“是”或“否”（也接受 TRUE/FALSE）。百分比指标可直接填写 62.5，也可填写 62.5%（单元格为"
     "百分比格式亦可），均表示 62.5%；其他指标请勿带 %。",
     "4. For yes/no indicators choose 是 (yes) or 否 (no); TRUE/FALSE are accepted too. For a percentage type "
     "62.5 or 62.5% (a cell formatted as a percentage too): both mean 62.5 %; other indicators take no %."),
    ("5. 灰色列（指标代码、名称、单位、频次、目标值、取值范围）仅供参考，请勿修改指标代码。数值须在“取值范围”之内"
     "（下降率没有下限：上升时填负数）。",
     "5. Grey columns (code, name, unit, frequency, target, bounds) are for reference; do not change the code. A "
     "value must be within its bounds (rates of change have no minimum: a rise is a negative value)."),
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


def build_template(indicators: Iterable[IndicatorOut], department: str, department_name: str | None = None
                   ) -> bytes:
    """The fill-in workbook for one department (indicators fed by the cell registry left out)."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = SHEET
    _style_header(sheet)
    rows: list[tuple[int, IndicatorOut]] = []
    for version in indicators:
        if version.source == "cells":
            continue
        row = len(rows) + 2
        _write_row(sheet, row, version)
        rows.append((row, version))
    _add_validations(sheet, rows)
    sheet.auto_filter.ref = f"A1:{LETTER['bounds']}{max(len(rows) + 1, 1)}"
    # Printed, the form fits the page's width (landscape A4), the header row on every page.
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = 1, 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = "1:1"
    _write_help(workbook.create_sheet(HELP_SHEET), department, department_name)
    workbook.properties.title = f"无废城市指标填报模板 {department}"
    workbook.properties.creator = "Zero-Waste City API"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
