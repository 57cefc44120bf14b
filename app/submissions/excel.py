"""The Excel round trip of submissions: a fill-in template per department, and reading it back.

`build_template` writes the workbook (sheet 填报 with one row per indicator the department leads or
cooperates on, sheet 说明 with the rules). `detect` and `parse_upload` read an upload back (the
template as XLSX, or the same columns as UTF-8 CSV) into rows; `check_rows` runs the batch rules
on them so that every error names its item index and its sheet row.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.actor import Actor
from app.core.errors import Unprocessable, UnsupportedMediaType
from app.core.issues import issue
from app.core.problems import validation_errors
from app.files.sniff import XLSX, sniff
from app.indicators.models import IndicatorVersion
from app.submissions import batch
from app.submissions.rules import ISSUES as RULE_ISSUES
from app.submissions.rules import Checked
from app.submissions.schemas import SubmissionCreate

CSV = "text/csv"
MAX_ROWS = 500
SHEET = "填报"
HELP_SHEET = "说明"
HEADER_SEARCH_ROWS = 10  # an XLSX header may sit below a title the official added
COUNT_SCAN_LIMIT = 100_000  # rows read past the limit only to tell how many there are
CSV_DELIMITERS = (",", "\t", ";")  # Excel's "CSV UTF-8", tab-separated text, some locales' CSV


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

# Every name a header cell may carry (Chinese, English, or the API field), lower-cased.
_ALIASES: dict[str, str] = {}
for _column in COLUMNS:
    for _name in (_column.zh, _column.en, _column.key):
        _ALIASES[_name.lower()] = _column.key
_ALIASES.update({"指标": "indicator", "指标编码": "indicator", "填报期间": "period", "值": "value", "备注": "note"})
_HEADER_SPLIT = re.compile(r"[\n\r()（）/]+")
REQUIRED_COLUMNS = ("indicator", "period")
DATA_COLUMNS = ("period", "value", "numerator", "denominator")

TRUE_WORDS = frozenset({"是", "true", "yes"})
FALSE_WORDS = frozenset({"否", "false", "no"})
FREQUENCY_LABELS = {"annual": "年度 annual", "quarterly": "季度 quarterly", "monthly": "月度 monthly"}
PERIOD_HINTS = {
    "annual": ("年度：YYYY，例如 2025", "Annual: YYYY, e.g. 2025"),
    "quarterly": ("季度：YYYYQn，例如 2025Q3", "Quarterly: YYYYQn, e.g. 2025Q3"),
    "monthly": ("月度：YYYY-MM，例如 2025-07", "Monthly: YYYY-MM, e.g. 2025-07"),
}

ISSUES: dict[str, tuple[str, str]] = {
    "not_a_number": ("should be a number", "应为数字"),
    "not_a_number_or_bool": ("should be a number, or 是/否 (TRUE/FALSE) for yes/no indicators",
                             "应为数字；是否类指标填写“是”或“否”"),
    "not_text": ("should be text", "应为文本"),
    "no_rows": ("the file has no filled rows: fill in period and value", "文件中没有已填写的行：请填写期间和数值"),
    "too_many_rows": (f"at most {MAX_ROWS} filled rows per file ({{count}} found)",
                      f"每个文件最多 {MAX_ROWS} 行（本文件 {{count}} 行）"),
    "missing_columns": ("the sheet has no header row with the columns {columns}", "表格缺少含 {columns} 列的表头行"),
    "unreadable": ("the workbook cannot be read", "无法读取该工作簿"),
}

_HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
_INFO_FILL = PatternFill("solid", fgColor="F2F2F2")
_UNUSED_FILL = PatternFill("solid", fgColor="D9D9D9")
_THIN = Side(style="thin", color="BFBFBF")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


# ---------------------------------------------------------------------------------------------
# The template


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def target_text(version: IndicatorVersion) -> str:
    """The target as officials read it, e.g. ``2025: 99.5`` or ``2025: 是``."""
    if version.target_year is None or version.target_value is None:
        return ""
    if version.value_type == "boolean":
        shown = "是" if version.target_value else "否"
    else:
        shown = _number_text(version.target_value)
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


# ---------------------------------------------------------------------------------------------
# Reading an upload


@dataclass
class ParsedRow:
    """One filled row of an upload: ``index`` among the filled rows, ``row_number`` on the sheet."""

    index: int
    row_number: int
    indicator: str | None = None
    period: str | None = None
    value: bool | float | None = None
    numerator: float | None = None
    denominator: float | None = None
    note: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        """The submission fields given (None left out, so a missing one reads as missing)."""
        names = ("indicator", "period", "value", "numerator", "denominator", "note")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


def _column_key(header: Any) -> str | None:
    if header is None:
        return None
    text = str(header).strip().lower()
    for candidate in (text, *(part.strip() for part in _HEADER_SPLIT.split(text))):
        if candidate in _ALIASES:
            return _ALIASES[candidate]
    return None


def _header_map(cells: Sequence[Any]) -> dict[str, int] | None:
    """Column positions by key, when the row holds at least the code and period columns."""
    found: dict[str, int] = {}
    for position, header in enumerate(cells):
        key = _column_key(header)
        if key is not None and key not in found:
            found[key] = position
    return found if all(key in found for key in REQUIRED_COLUMNS) else None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any, *, period: bool = False) -> str | None:
    """A cell as text: numbers Excel typed (2024 → "2024", 2.5 → "2.5"), a date in the period column as
    YYYY-MM (Excel turns a typed 2025-07 into 1 July 2025)."""
    if _blank(value):
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime | date):
        return f"{value.year:04d}-{value.month:02d}" if period else value.isoformat()
    if isinstance(value, float) and math.isfinite(value):
        return _number_text(value)
    return str(value).strip()


def _number(value: Any) -> float:
    """A numeric cell, or text that reads as a number; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    number = float(value) if isinstance(value, int | float) else float(str(value).strip())
    if not math.isfinite(number):
        raise ValueError("not finite")
    return number


def _number_or_bool(value: Any) -> bool | float:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return _number(value)


def _parsed(index: int, row_number: int, cells: Sequence[Any], columns: dict[str, int]) -> ParsedRow:
    def cell(key: str) -> Any:
        position = columns.get(key)
        return cells[position] if position is not None and position < len(cells) else None

    row = ParsedRow(index=index, row_number=row_number, indicator=_text(cell("indicator")),
                    period=_text(cell("period"), period=True), note=_text(cell("note")))

    def problem(name: str, kind: str) -> None:
        row.errors.append({**issue(["items", index, name], kind, ISSUES), "row": row_number})

    raw = cell("value")
    if not _blank(raw):
        try:
            row.value = _number_or_bool(raw)
        except ValueError:
            problem("value", "not_a_number_or_bool")
    for name in ("numerator", "denominator"):
        raw = cell(name)
        if _blank(raw):
            continue
        try:
            setattr(row, name, _number(raw))
        except ValueError:
            problem(name, "not_a_number")
    return row


def _filled(lines: Iterator[tuple[int, Sequence[Any]]], columns: dict[str, int]) -> list[ParsedRow]:
    """The rows with a period, value, numerator or denominator (the others are ignored)."""
    data_positions = [columns[key] for key in DATA_COLUMNS if key in columns]

    def empty(cells: Sequence[Any]) -> bool:
        return all(_blank(cells[p]) for p in data_positions if p < len(cells))

    rows: list[ParsedRow] = []
    for row_number, cells in lines:
        if empty(cells):
            continue
        if len(rows) >= MAX_ROWS:
            more = sum(1 for _, rest in islice(lines, COUNT_SCAN_LIMIT) if not empty(rest))
            count = f"{len(rows) + 1 + more}" + ("+" if next(lines, None) is not None else "")
            raise Unprocessable(errors=[issue(["items"], "too_many_rows", ISSUES, count=count)])
        rows.append(_parsed(len(rows), row_number, cells, columns))
    if not rows:
        raise Unprocessable(errors=[issue(["items"], "no_rows", ISSUES)])
    return rows


def _missing_columns() -> Unprocessable:
    return Unprocessable(errors=[issue(["file"], "missing_columns", ISSUES, columns="指标代码 (code), 期间 (period)")])


def _xlsx_rows(data: bytes) -> list[ParsedRow]:
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # a ZIP with workbook parts that openpyxl still cannot read
        raise Unprocessable(errors=[issue(["file"], "unreadable", ISSUES)]) from exc
    try:
        sheet = workbook[SHEET] if SHEET in workbook.sheetnames else workbook.worksheets[0]
        lines: Iterator[tuple[int, tuple[Any, ...]]] = (
            (number, values) for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
        )
        for number, values in lines:
            columns = _header_map(values)
            if columns is not None:
                return _filled(lines, columns)
            if number >= HEADER_SEARCH_ROWS:
                break
        raise _missing_columns()
    finally:
        workbook.close()


def _csv_text(data: bytes) -> str | None:
    """The upload as text, when it is UTF-8 (a BOM allowed) without NUL bytes."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def _csv_header(text: str) -> tuple[str, dict[str, int]] | None:
    """The delimiter and the columns, when the first line holds the template's headers."""
    for delimiter in CSV_DELIMITERS:
        try:
            first = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
        except csv.Error:
            return None
        columns = _header_map(first)
        if columns is not None:
            return delimiter, columns
    return None


def _csv_rows(data: bytes) -> list[ParsedRow]:
    text = _csv_text(data)
    header = _csv_header(text) if text is not None else None
    if text is None or header is None:
        raise UnsupportedMediaType("unsupported_import_type")
    delimiter, columns = header
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    next(reader)
    return _filled(((number, cells) for number, cells in enumerate(reader, start=2)), columns)


def detect(data: bytes) -> str | None:
    """XLSX (by content), or CSV (UTF-8 text whose first line holds the template's headers), or None."""
    if sniff(io.BytesIO(data)) == XLSX:
        return XLSX
    text = _csv_text(data)
    return CSV if text is not None and _csv_header(text) is not None else None


def parse_upload(data: bytes, media_type: str) -> list[ParsedRow]:
    """The filled rows of an upload (blocking: call from a worker thread).

    422 when it has no filled row, more than 500, or (XLSX) no header row; rows whose cells cannot
    be read carry their ``errors`` (``loc`` ``["items", index, field]`` and the sheet ``row``).
    """
    if media_type == XLSX:
        return _xlsx_rows(data)
    if media_type == CSV:
        try:
            return _csv_rows(data)
        except csv.Error as exc:
            raise UnsupportedMediaType("unsupported_import_type") from exc
    raise UnsupportedMediaType("unsupported_import_type")


# ---------------------------------------------------------------------------------------------
# The batch rules, with sheet rows


def _error_index(error: Mapping[str, Any]) -> int:
    loc = error.get("loc", [])
    return loc[1] if len(loc) > 1 and isinstance(loc[1], int) else -1


async def check_rows(session: AsyncSession, actor: Actor, rows: Sequence[ParsedRow], now: datetime) -> list[Checked]:
    """The batch rules over every row; one 422 listing every problem, each with its ``row``.

    Rows whose cells could not be read are reported with the others' rule problems (the rules run
    over the readable rows, their positions mapped back to the file's).
    """
    errors: list[dict[str, Any]] = []
    readable: list[tuple[ParsedRow, SubmissionCreate]] = []
    for row in rows:
        if row.errors:
            errors += row.errors
            continue
        try:
            readable.append((row, SubmissionCreate.model_validate(row.fields())))
        except ValidationError as exc:
            errors += [{**found, "loc": ["items", row.index, *found["loc"]], "row": row.row_number}
                       for found in validation_errors(exc.errors())]
    checked: list[Checked] = []
    if readable:
        try:
            checked = await batch.check_all(session, actor, [item for _, item in readable], now)
        except Unprocessable as refused:
            errors += _located(refused.errors or [], readable)
    if errors:
        raise Unprocessable(errors=sorted(errors, key=_error_index))
    return checked


def _located(errors: Sequence[Mapping[str, Any]], readable: Sequence[tuple[ParsedRow, SubmissionCreate]]
             ) -> list[dict[str, Any]]:
    """Issues of ``check_all`` (located among the readable rows) located in the file, with rows."""
    first_seen: dict[tuple[str, str], ParsedRow] = {}
    for row, item in readable:
        first_seen.setdefault((item.indicator, item.period), row)
    result = []
    for error in errors:
        loc = list(error["loc"])
        if len(loc) < 2 or not isinstance(loc[1], int):
            result.append(dict(error))
            continue
        row, item = readable[loc[1]]
        located = {**error, "loc": ["items", row.index, *loc[2:]], "row": row.row_number}
        if error.get("type") == "duplicate_in_batch":
            first = first_seen[(item.indicator, item.period)]
            located = {**issue(located["loc"], "duplicate_in_batch", RULE_ISSUES, first=first.index,
                               first_number=first.index + 1),
                       "row": row.row_number, "first_row": first.row_number}
        result.append(located)
    return result
