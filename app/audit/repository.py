from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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
    query = select(AuditEvent).order_by(AuditEvent.id)  # type: ignore[arg-type]
    for column, value in (
        (AuditEvent.entity, filters.entity),
        (AuditEvent.entity_id, filters.entity_id),
        (AuditEvent.department, filters.department),
        (AuditEvent.action, filters.action),
    ):
        if value is not None:
            query = query.where(column == value)  # type: ignore[arg-type]
    if after_id is not None:
        query = query.where(AuditEvent.id > after_id)  # type: ignore[arg-type,operator]
    return (await session.execute(query.limit(limit))).scalars().all()
