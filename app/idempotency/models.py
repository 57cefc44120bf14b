from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, String, Text
from sqlmodel import Field

from app.core.models import SQLModel, lower_hex, per_dialect
from app.core.types import JSONDocument, UTCDateTime


class IdempotencyKey(SQLModel, table=True):
    """One `Idempotency-Key` of one token: the request it stood for and, once done, the answer.

    Kept in the database so that every process agrees; rows expire after 24 hours.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        CheckConstraint("state IN ('running', 'done')", name="state"),
        CheckConstraint("key <> ''", name="key_not_empty"),
        *lower_hex("request_hash_format", "request_hash", 64),
        # A running request has no answer yet; a done one has all of it (status, headers, body).
        CheckConstraint("state <> 'running' OR (response_status IS NULL AND response_headers IS NULL "
                        "AND response_body IS NULL)", name="running_has_no_response"),
        CheckConstraint("state <> 'done' OR (response_status IS NOT NULL AND response_headers IS NOT NULL "
                        "AND response_body IS NOT NULL)", name="done_has_response"),
        # Answers of 5xx are never kept: the key is released and a retry runs again.
        CheckConstraint("response_status IS NULL OR response_status BETWEEN 100 AND 499",
                        name="response_status_range"),
        # Keys are kept at least 24 hours (SPEC §5 "Idempotency").
        *per_dialect("kept_24_hours", postgresql="expires_at >= created_at + interval '24 hours'",
                     # Both sides through julianday(): SQLite's date functions round to the millisecond.
                     sqlite="julianday(expires_at) >= julianday(created_at, '+24 hours')"),
    )

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
