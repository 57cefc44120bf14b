from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.audit.models import AuditEvent


@dataclass(frozen=True)
class AuditFilter:
    entity: str | None = None
    entity_id: str | None = None
    department: str | None = None
    action: str | None = None


async def list_after(
    session: AsyncSession, filters: AuditFilter, *, after_id: int | None, limit: int
) -> Sequence[AuditEvent]:
    query = select(AuditEvent).order_by(col(AuditEvent.id))
    for column, value in (
        (col(AuditEvent.entity), filters.entity),
        (col(AuditEvent.entity_id), filters.entity_id),
        (col(AuditEvent.department), filters.department),
        (col(AuditEvent.action), filters.action),
    ):
        if value is not None:
            query = query.where(column == value)
    if after_id is not None:
        query = query.where(col(AuditEvent.id) > after_id)
    return (await session.execute(query.limit(limit))).scalars().all()
