"""All SQL of the aggregates' own: the data version that tells whether cached figures still hold."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.cells.models import CellQuotaChange
from app.events.models import OutboxEvent
from app.indicators.models import IndicatorVersion


async def data_version(session: AsyncSession) -> tuple[int, int, int]:
    """Three maxima (index-only lookups) that grow with every change the figures can depend on: outbox
    events (approvals, reopenings, revisions, certificates), indicator versions (new indicators too), and
    quota changes."""
    row = (await session.execute(select(
        select(func.coalesce(func.max(col(OutboxEvent.id)), 0)).scalar_subquery(),
        select(func.coalesce(func.max(col(IndicatorVersion.id)), 0)).scalar_subquery(),
        select(func.coalesce(func.max(col(CellQuotaChange.id)), 0)).scalar_subquery(),
    ))).one()
    return int(row[0]), int(row[1]), int(row[2])
