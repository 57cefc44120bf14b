"""The municipal pull as CSV (UTF-8 with a BOM, so that Excel shows Chinese correctly) and as XLSX."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from app.aggregates.schemas import AggregatesOut

COLUMNS = ("code", "name_zh", "unit", "value", "numerator", "denominator", "target", "target_year", "score",
           "status", "approved_at")
CELL_COLUMNS = ("type", "certified", "quota")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def to_csv(document: AggregatesOut) -> bytes:
    """One row per indicator with the JSON answer's columns; empty where JSON has null."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for item in document.indicators:
        row = item.model_dump()
        writer.writerow([_text(row[column]) for column in COLUMNS])
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(document: AggregatesOut) -> bytes:
    """Sheet `indicators` (the CSV's rows, typed cells) and sheet `cells` (per type: certified, quota)."""
    workbook = Workbook()
    indicators = workbook.active
    assert indicators is not None
    indicators.title = "indicators"
    cells = workbook.create_sheet("cells")
    for sheet, columns, rows in (
        (indicators, COLUMNS, [item.model_dump() for item in document.indicators]),
        (cells, CELL_COLUMNS, [item.model_dump() for item in document.cells]),
    ):
        sheet.append(list(columns))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"
        for row in rows:
            sheet.append([_excel(row[column]) for column in columns])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _excel(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")  # Excel has no time zones; keep the exact instant
    return value
