from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field

from app.core.models import SQLModel
from app.core.types import BigIntKey, JSONDocument, UTCDateTime


class OutboxEvent(SQLModel, table=True):
    """An event written in the same transaction as the change it announces.

    Webhook delivery and the change feed read from here.
    """

    __tablename__ = "outbox_events"

    id: int | None = Field(default=None, sa_column=Column(BigIntKey, primary_key=True, autoincrement=True))
    event: str = Field(max_length=64, index=True)
    entity: str = Field(max_length=32)
    entity_id: str = Field(max_length=64)
    at: datetime = Field(sa_type=UTCDateTime)
    data: dict[str, Any] = Field(sa_type=JSONDocument)
