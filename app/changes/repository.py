from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.events.models import OutboxEvent


async def list_after(session: AsyncSession, *, after_id: int | None, limit: int) -> Sequence[OutboxEvent]:
    """Outbox events with an id above ``after_id`` (all of them for None), in id order."""
    query = select(OutboxEvent).order_by(col(OutboxEvent.id))
    if after_id is not None:
        query = query.where(col(OutboxEvent.id) > after_id)
    return (await session.execute(query.limit(limit))).scalars().all()
