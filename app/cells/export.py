"""The cell list as an Excel workbook (`GET /v1/cells?format=xlsx`)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from app.cells.schemas import CellOut
from app.core.timeutil import SHANGHAI

EXPORT_LIMIT = 10_000
SHEET = "无废细胞"


@dataclass(frozen=True)
class Column:
    zh: str
    key: str
    width: float


COLUMNS = (
    Column("编号", "id", 8), Column("类型", "type", 12), Column("名称", "name", 36), Column("乡镇", "town", 14),
    Column("地址", "address", 36), Column("状态", "status", 12), Column("证书编号", "certificate_no", 24),
    Column("认证日期", "certified_at", 14), Column("有效期至", "valid_until", 14), Column("联系方式", "contact", 24),
)
_HEADER_FILL = PatternFill("solid", fgColor="2F6B3A")


def build(cells: Sequence[CellOut], towns: Mapping[str, str]) -> bytes:
    """One sheet, a frozen bold header row and one row per cell. `乡镇` is the town's Chinese name,
    `认证日期` the certification date in Asia/Shanghai, `联系方式` empty where the caller may not see it."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = SHEET
    for position, column in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=1, column=position, value=column.zh)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center")
        sheet.column_dimensions[get_column_letter(position)].width = column.width
    sheet.freeze_panes = "A2"
    for row, c in enumerate(cells, start=2):
        certified = c.certified_at.astimezone(SHANGHAI).date() if c.certified_at is not None else None
        values = (c.id, c.type, c.name, towns.get(c.town, c.town), c.address, c.status, c.certificate_no,
                  certified, c.valid_until, c.contact)
        for position, value in enumerate(values, start=1):
            written = sheet.cell(row=row, column=position, value=value)
            if position in (8, 9) and value is not None:
                written.number_format = "yyyy-mm-dd"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
