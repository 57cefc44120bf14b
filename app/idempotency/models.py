from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, String, Text
from sqlmodel import Field

from app.core.models import SQLModel
from app.core.types import JSONDocument, UTCDateTime


class IdempotencyKey(SQLModel, table=True):
    """One `Idempotency-Key` of one token: the request it stood for and, once done, the answer.

    Kept in the database so that every process agrees; rows expire after 24 hours.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (CheckConstraint("state IN ('running', 'done')", name="state"),)

    token_id: int = Field(sa_column=Column(Integer, ForeignKey("api_tokens.id"), primary_key=True))
    key: str = Field(sa_column=Column(String(255), primary_key=True))
    request_hash: str = Field(max_length=64)
    state: str = Field(max_length=8)
    lease_until: datetime = Field(sa_type=UTCDateTime)
    response_status: int | None = None
    response_headers: dict[str, Any] | None = Field(default=None, sa_type=JSONDocument)
    response_body: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
