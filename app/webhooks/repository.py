"""All SQL of webhooks: subscriptions, the fan-out cursor, claiming deliveries and recording attempts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.events.models import OutboxEvent
from app.events.service import OUTBOX_LOCK_KEY
from app.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery, WebhookDispatchCursor


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if _is_postgres(session) else sqlite.insert


# ------------------------------------------------------------------------------------ subscriptions


async def hold_outbox(session: AsyncSession) -> None:
    """Wait until no transaction is emitting, and keep others from emitting until this one ends.

    PostgreSQL: the outbox's transaction-scoped advisory lock (docs/decisions/0012-outbox-order.md);
    SQLite's BEGIN IMMEDIATE already made this transaction the only writer.
    """
    if _is_postgres(session):
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": OUTBOX_LOCK_KEY})


async def last_event_id(session: AsyncSession) -> int:
    found = (await session.execute(select(func.max(col(OutboxEvent.id))))).scalar_one()
    return int(found) if found is not None else 0


async def add(session: AsyncSession, webhook: Webhook) -> Webhook:
    session.add(webhook)
    await session.flush()
    return webhook


async def get_live(session: AsyncSession, webhook_id: int, *, department: str | None,
                   for_update: bool = False) -> Webhook | None:
    """A webhook that is not deleted (and, with ``department``, belongs to that department)."""
    query = select(Webhook).where(col(Webhook.id) == webhook_id, col(Webhook.deleted_at).is_(None))
    if department is not None:
        query = query.where(col(Webhook.department) == department)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def list_live(session: AsyncSession, *, department: str | None, after_id: int | None,
                    limit: int) -> Sequence[Webhook]:
    query = select(Webhook).where(col(Webhook.deleted_at).is_(None)).order_by(col(Webhook.id))
    if department is not None:
        query = query.where(col(Webhook.department) == department)
    if after_id is not None:
        query = query.where(col(Webhook.id) > after_id)
    return (await session.execute(query.limit(limit))).scalars().all()


async def fail_waiting(session: AsyncSession, webhook_id: int, now: datetime, error: str) -> int:
    """Fail the pending deliveries of a webhook that no worker holds right now; answers how many."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.webhook_id) == webhook_id, col(WebhookDelivery.status) == "pending",
               (col(WebhookDelivery.locked_until).is_(None)) | (col(WebhookDelivery.locked_until) <= now))
        .values(status="failed", next_attempt_at=None, locked_until=None, last_error=error)
        .returning(col(WebhookDelivery.id))
        .execution_options(synchronize_session=False)
    )
    return len(result.all())


async def deliveries(session: AsyncSession, webhook_id: int, *, before_event_id: int | None,
                     limit: int) -> Sequence[tuple[WebhookDelivery, str]]:
    """A webhook's deliveries with their event names, newest event first."""
    query = (
        select(WebhookDelivery, col(OutboxEvent.event))
        .join(OutboxEvent, col(OutboxEvent.id) == col(WebhookDelivery.event_id))
        .where(col(WebhookDelivery.webhook_id) == webhook_id)
        .order_by(col(WebhookDelivery.event_id).desc())
    )
    if before_event_id is not None:
        query = query.where(col(WebhookDelivery.event_id) < before_event_id)
    rows = (await session.execute(query.limit(limit))).all()
    return [(row[0], row[1]) for row in rows]


async def attempts_of(session: AsyncSession, delivery_ids: Sequence[int]) -> dict[int, list[WebhookAttempt]]:
    found: dict[int, list[WebhookAttempt]] = {delivery_id: [] for delivery_id in delivery_ids}
    if not delivery_ids:
        return found
    result = await session.execute(
        select(WebhookAttempt).where(col(WebhookAttempt.delivery_id).in_(delivery_ids))
        .order_by(col(WebhookAttempt.delivery_id), col(WebhookAttempt.attempt))
    )
    for attempt in result.scalars():
        found[attempt.delivery_id].append(attempt)
    return found


# ------------------------------------------------------------------------------------------ fan-out


async def lock_cursor(session: AsyncSession) -> int:
    """The fan-out cursor, locked until the transaction ends (created at 0 if missing).

    PostgreSQL: ``SELECT … FOR UPDATE``, so concurrent fan-outs queue and each reads the cursor the
    previous one left. SQLite's BEGIN IMMEDIATE already serialises them.
    """
    await session.execute(
        _insert(session)(WebhookDispatchCursor).values(id=1, last_event_id=0)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    result = await session.execute(
        select(col(WebhookDispatchCursor.last_event_id)).where(col(WebhookDispatchCursor.id) == 1)
        .with_for_update()
    )
    return int(result.scalar_one())


async def events_after(session: AsyncSession, after_id: int, limit: int) -> Sequence[Any]:
    """``(id, event)`` of the outbox events after ``after_id``, in id (= commit) order."""
    result = await session.execute(
        select(col(OutboxEvent.id), col(OutboxEvent.event))
        .where(col(OutboxEvent.id) > after_id).order_by(col(OutboxEvent.id)).limit(limit)
    )
    return result.all()


async def subscribers(session: AsyncSession) -> Sequence[Any]:
    """``(id, events, after_event_id)`` of every webhook that is not deleted."""
    result = await session.execute(
        select(col(Webhook.id), col(Webhook.events), col(Webhook.after_event_id))
        .where(col(Webhook.deleted_at).is_(None)).order_by(col(Webhook.id))
    )
    return result.all()


async def insert_deliveries(session: AsyncSession, rows: Sequence[dict[str, Any]], *, chunk: int = 500) -> None:
    """Insert pending deliveries (a few hundred per statement: SQLite bounds the bound parameters)."""
    for start in range(0, len(rows), chunk):
        await session.execute(
            _insert(session)(WebhookDelivery).values(list(rows[start:start + chunk]))
            .on_conflict_do_nothing(index_elements=["webhook_id", "event_id"])
        )


async def advance_cursor(session: AsyncSession, last_event_id: int) -> None:
    await session.execute(
        update(WebhookDispatchCursor).where(col(WebhookDispatchCursor.id) == 1)
        .values(last_event_id=last_event_id)
    )


# ------------------------------------------------------------------------------------------- claims


async def claim_due(session: AsyncSession, now: datetime, until: datetime, limit: int) -> list[int]:
    """Lease up to ``limit`` due deliveries (pending, due, lease free or expired) until ``until``.

    One UPDATE whose subquery picks the rows; on PostgreSQL it locks them ``FOR UPDATE SKIP LOCKED``,
    so concurrent claimers (in any process) take disjoint rows without waiting for each other. SQLite
    runs one writer at a time (BEGIN IMMEDIATE) and ignores the locking clause.
    """
    due = (
        select(col(WebhookDelivery.id))
        .where(col(WebhookDelivery.status) == "pending", col(WebhookDelivery.next_attempt_at) <= now,
               col(WebhookDelivery.locked_until).is_(None) | (col(WebhookDelivery.locked_until) <= now))
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
        .limit(limit)
    )
    if _is_postgres(session):
        due = due.with_for_update(skip_locked=True)
    result = await session.execute(
        update(WebhookDelivery).where(col(WebhookDelivery.id).in_(due.scalar_subquery()))
        .values(locked_until=until)
        .returning(col(WebhookDelivery.id))
        .execution_options(synchronize_session=False)
    )
    return sorted(row[0] for row in result if row[0] is not None)


async def claimed(session: AsyncSession, delivery_ids: Sequence[int]) -> Sequence[Any]:
    """For each delivery: the delivery, its webhook and its outbox event."""
    if not delivery_ids:
        return []
    result = await session.execute(
        select(WebhookDelivery, Webhook, OutboxEvent)
        .join(Webhook, col(Webhook.id) == col(WebhookDelivery.webhook_id))
        .join(OutboxEvent, col(OutboxEvent.id) == col(WebhookDelivery.event_id))
        .where(col(WebhookDelivery.id).in_(delivery_ids))
        .order_by(col(WebhookDelivery.id))
    )
    return result.all()


async def finish(session: AsyncSession, delivery_id: int, lease: datetime, values: dict[str, Any]) -> bool:
    """Record the outcome and release the lease, if this worker still holds it (answers whether it did)."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.id) == delivery_id, col(WebhookDelivery.status) == "pending",
               col(WebhookDelivery.locked_until) == lease)
        .values(locked_until=None, **values)
        .returning(col(WebhookDelivery.id))
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


def add_attempt(session: AsyncSession, attempt: WebhookAttempt) -> None:
    session.add(attempt)
