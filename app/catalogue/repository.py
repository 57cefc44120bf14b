"""Data access for loading reference rows (departments, towns, cell types, criteria)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.cells.models import CellTypeCriterion
from app.core.models import SQLModel

Row = TypeVar("Row", bound=SQLModel)


async def sync_row(
    session: AsyncSession,
    model: type[Row],
    key: Any,
    values: dict[str, Any],
    *,
    on_insert: dict[str, Any] | None = None,
    on_update: dict[str, Any] | None = None,
) -> tuple[Row, dict[str, Any] | None, bool]:
    """Insert or update one row by primary key. Answers (row, values before or None, changed)."""
    row = await session.get(model, key)
    if row is None:
        row = model(**values, **(on_insert or {}))
        session.add(row)
        await session.flush()
        return row, None, True
    before = {name: getattr(row, name) for name in values}
    if before == values:
        return row, before, False
    for name, value in {**values, **(on_update or {})}.items():
        setattr(row, name, value)
    session.add(row)
    await session.flush()
    return row, before, True


async def criteria_links(session: AsyncSession) -> set[tuple[str, str]]:
    result = await session.execute(select(col(CellTypeCriterion.cell_type), col(CellTypeCriterion.criterion)))
    return {(row[0], row[1]) for row in result}


async def set_criteria_links(session: AsyncSession, add: set[tuple[str, str]], remove: set[tuple[str, str]]) -> None:
    for cell_type, criterion in remove:
        await session.execute(
            delete(CellTypeCriterion).where(
                col(CellTypeCriterion.cell_type) == cell_type,
                col(CellTypeCriterion.criterion) == criterion,
            )
        )
    session.add_all(CellTypeCriterion(cell_type=t, criterion=c) for t, c in sorted(add))
    await session.flush()
