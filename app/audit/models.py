from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, Integer, String
from sqlmodel import Field

from app.core.models import SQLModel
from app.core.types import BigIntKey, JSONDocument, UTCDateTime


class AuditEvent(SQLModel, table=True):
    """One write, as it happened. Append-only: triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_entity_entity_id", "entity", "entity_id"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntKey, primary_key=True, autoincrement=True))
    at: datetime = Field(sa_type=UTCDateTime)
    department: str | None = Field(
        default=None, sa_column=Column(String(16), ForeignKey("departments.code"), nullable=True, index=True)
    )
    token_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("api_tokens.id"), nullable=True)
    )
    request_id: str | None = Field(default=None, max_length=128)
    action: str = Field(max_length=64, index=True)
    entity: str = Field(max_length=32)
    entity_id: str = Field(max_length=64)
    before: dict[str, Any] | None = Field(default=None, sa_type=JSONDocument)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSONDocument)
