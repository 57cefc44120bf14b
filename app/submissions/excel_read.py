"""Reading an upload of the Excel template back: the XLSX itself, or the same columns as CSV.

`detect` tells the kind of file; `parse_upload` reads its filled rows into `ParsedRow`s, each with the
cells that could not be read as its `errors` (the batch rules run afterwards, in `excel_check`).

A percentage typed with "%" reaches us two ways: from a spreadsheet, as a hundredth of itself (0.625) in
a cell with a percent number format; from CSV, as the text "62.5%". Both are read here as the same
`ParsedRow.value` (62.5) with `ParsedRow.percent` saying it was typed as a percentage; whether that
is right depends on the indicator's value type, which only the catalogue knows (`excel_check`).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Context
from itertools import islice
from typing import Any

from openpyxl import load_workbook

from app.core.errors import Unprocessable, UnsupportedMediaType
from app.core.issues import issue
from app.files.sniff import XLSX, sniff
from app.indicators.bounds import number_text
from app.submissions.excel import COLUMNS, MAX_ROWS, SHEET

CSV = "text/csv"
HEADER_SEARCH_ROWS = 10  # an XLSX header may sit below a title the official added
COUNT_SCAN_LIMIT = 100_000  # rows read past the limit only to tell how many there are
CSV_DELIMITERS = (",", "\t", ";")  # Excel's "CSV UTF-8", tab-separated text, some locales' CSV
# UTF-8 first: a GB18030 text with Chinese in it is never valid UTF-8, while almost any bytes decode as
# GB18030 (Excel's "CSV (逗号分隔)" on Chinese Windows is GBK, which GB18030 contains). Either way the
# first line must hold the template's headers, which a wrong decoding of Chinese headers never gives.
CSV_ENCODINGS = ("utf-8-sig", "gb18030")

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
PERCENT_SIGNS = ("%", "％")  # the full-width one is what a Chinese input method types
# Parts of a number format that print as they are: "…" and \x literals, [colour]/[condition], _x and *x.
_FORMAT_LITERALS = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]|_.|\*.')
# Spreadsheets keep 15 significant digits: 0.575 is 0.57499999999999996 in binary, and 57.5 %.
_SPREADSHEET_DIGITS = Context(prec=15)

ISSUES: dict[str, tuple[str, str]] = {
    "not_a_number": ("should be a number", "应为数字"),
    "not_a_number_or_bool": ("should be a number, or 是/否 (TRUE/FALSE) for yes/no indicators",
                             "应为数字；是否类指标填写“是”或“否”"),
    "not_text": ("should be text", "应为文本"),
    "percent_rate_part": ("numerator and denominator are amounts, not percentages: type the number without % "
                          "({typed} was typed)",
                          "分子、分母应为数量，不是百分数：请直接填写数字，不带 %（本格为 {typed}）"),
    "no_rows": ("the file has no filled rows: fill in period and value", "文件中没有已填写的行：请填写期间和数值"),
    "too_many_rows": (f"at most {MAX_ROWS} filled rows per file ({{count}} found)",
                      f"每个文件最多 {MAX_ROWS} 行（本文件 {{count}} 行）"),
    "missing_columns": ("the sheet has no header row with the columns {columns}", "表格缺少含 {columns} 列的表头行"),
    "unreadable": ("the workbook cannot be read", "无法读取该工作簿"),
}


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
    percent: str | None = None  # the value as typed with "%" ("62.5%"), read as that many percent (62.5)
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
        return number_text(value)
    return str(value).strip()


def _number(value: Any) -> float:
    """A numeric cell, or text that reads as a number; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    number = float(value) if isinstance(value, int | float) else float(str(value).strip())
    if not math.isfinite(number):
        raise ValueError("not finite")
    return number


def percent_format(number_format: str | None) -> bool:
    """Whether a number format shows its number as a percentage (``0.0%``), i.e. multiplied by 100; a
    quoted or escaped % (``0.0"%"``, ``0.0\\%``) is printed as it is and does not count."""
    return number_format is not None and "%" in _FORMAT_LITERALS.sub("", number_format)


def percent_text(number: float) -> str:
    """A number shown through a percent format, as it was typed: 0.625 → "62.5%", 0.995 → "99.5%"."""
    scaled = _SPREADSHEET_DIGITS.create_decimal(repr(number)) * 100
    return f"{scaled.normalize():f}%"


def _typed_percent(value: Any) -> str | None:
    """The text of a cell typed as a percentage ("62.5%", "62.5 ％"), or None."""
    if isinstance(value, str) and value.strip().endswith(PERCENT_SIGNS):
        return value.strip()
    return None


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

    def problem(name: str, kind: str, typed: str = "") -> None:
        row.errors.append({**issue(["items", index, name], kind, ISSUES, typed=typed), "row": row_number})

    raw = cell("value")
    if not _blank(raw):
        typed = _typed_percent(raw)
        try:
            row.value = _number_or_bool(raw) if typed is None else _number(typed[:-1])
            row.percent = typed
        except ValueError:
            problem("value", "not_a_number_or_bool")
    for name in ("numerator", "denominator"):
        raw = cell(name)
        if _blank(raw):
            continue
        typed = _typed_percent(raw)
        if typed is not None:
            problem(name, "percent_rate_part", typed=typed)
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


def _cell_value(cell: Any) -> Any:
    """A cell's value, a number shown as a percentage turned into the text typed ("62.5%"), so that it
    reads as the same text in a CSV would."""
    value = cell.value
    if isinstance(value, int | float) and not isinstance(value, bool) and percent_format(cell.number_format):
        return percent_text(value)
    return value


def _xlsx_rows(data: bytes) -> list[ParsedRow]:
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # a ZIP with workbook parts that openpyxl still cannot read
        raise Unprocessable(errors=[issue(["file"], "unreadable", ISSUES)]) from exc
    try:
        sheet = workbook[SHEET] if SHEET in workbook.sheetnames else workbook.worksheets[0]
        lines: Iterator[tuple[int, tuple[Any, ...]]] = (
            (number, tuple(_cell_value(cell) for cell in cells))
            for number, cells in enumerate(sheet.iter_rows(), start=1)
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


def _csv_text(data: bytes) -> tuple[str, str, dict[str, int]] | None:
    """The upload as text, its delimiter and its columns, when it is UTF-8 (a BOM allowed) or GB18030
    text without NUL characters whose first line holds the template's headers."""
    for encoding in CSV_ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        header = _csv_header(text) if "\x00" not in text else None
        if header is not None:
            return text, *header
    return None


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
    decoded = _csv_text(data)
    if decoded is None:
        raise UnsupportedMediaType("unsupported_import_type")
    text, delimiter, columns = decoded
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    next(reader)
    return _filled(((number, cells) for number, cells in enumerate(reader, start=2)), columns)


def detect(data: bytes) -> str | None:
    """XLSX (by content), or CSV (UTF-8 or GB18030 text whose first line holds the template's headers), or
    None."""
    if sniff(io.BytesIO(data)) == XLSX:
        return XLSX
    return CSV if _csv_text(data) is not None else None


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
