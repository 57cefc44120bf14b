"""Writing to the outbox, in the same transaction as the change the event announces."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.timeutil import utcnow
from app.events.models import OutboxEvent

EVENTS = (
    "submission.submitted",
    "submission.approved",
    "submission.returned",
    "submission.reopened",
    "indicator.revised",
    "cell.applied",
    "cell.evaluated",
    "cell.certified",
    "cell.revoked",
    "cell.expired",
    "cell.inspected",
)


def emit(session: AsyncSession, event: str, *, entity: str, entity_id: str, data: dict[str, Any]) -> None:
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    session.add(OutboxEvent(event=event, entity=entity, entity_id=entity_id, at=utcnow(), data=data))
