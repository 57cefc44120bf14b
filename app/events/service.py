"""Writing to the outbox, in the same transaction as the change the event announces.

The outbox id is the change feed's cursor, so ids must become visible in commit order: on PostgreSQL
every transaction that emits takes one transaction-scoped advisory lock before its first event, which
it holds until it commits (docs/decisions/0012-outbox-order.md). SQLite has a single writer already.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.timeutil import utcnow
from app.events.models import EVENTS, OutboxEvent

# A constant key for pg_advisory_xact_lock: "zwc outbox" as a 63-bit number.
OUTBOX_LOCK_KEY = 0x7A77_636F_7574_626F
_LOCKED = "zwc.outbox_locked"


async def emit(session: AsyncSession, event: str, *, entity: str, entity_id: str, data: dict[str, Any]) -> None:
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    if session.get_bind().dialect.name == "postgresql":
        transaction = session.sync_session.get_transaction()
        if transaction is None or session.info.get(_LOCKED) is not transaction:
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": OUTBOX_LOCK_KEY})
            session.info[_LOCKED] = session.sync_session.get_transaction()
    session.add(OutboxEvent(event=event, entity=entity, entity_id=entity_id, at=utcnow(), data=data))
