from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column
from sqlmodel import Field

from app.core.models import SQLModel, one_of
from app.core.types import BigIntKey, JSONDocument, UTCDateTime

# The events of SPEC §4.1 ("Webhooks").
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
OUTBOX_ENTITIES = ("submission", "indicator", "cell")


class OutboxEvent(SQLModel, table=True):
    """An event written in the same transaction as the change it announces.

    Webhook delivery and the change feed read from here.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (
        CheckConstraint(one_of("event", EVENTS), name="event"),
        CheckConstraint(one_of("entity", OUTBOX_ENTITIES), name="entity"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntKey, primary_key=True, autoincrement=True))
    event: str = Field(max_length=64, index=True)
    entity: str = Field(max_length=32)
    entity_id: str = Field(max_length=64)
    at: datetime = Field(sa_type=UTCDateTime)
    data: dict[str, Any] = Field(sa_type=JSONDocument)
