from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Float, Integer, String
from sqlmodel import Field

from app.core.models import SQLModel


class RateLimitCounter(SQLModel, table=True):
    """One fixed window of one token's request count, shared by every process (PostgreSQL only).

    Unlogged on PostgreSQL (see the migration): counters are worth no WAL, and a crash that empties
    them only forgives the current window.
    """

    __tablename__ = "rate_limit_counters"
    __table_args__ = (
        CheckConstraint("hits >= 0", name="hits_not_negative"),
        CheckConstraint("key <> ''", name="key_not_empty"),
    )

    key: str = Field(sa_column=Column(String(255), primary_key=True))
    hits: int = Field(sa_column=Column(Integer, nullable=False))
    # Seconds since the epoch on the database's clock, so that every process agrees on the window.
    expires_at: float = Field(sa_column=Column(Float, nullable=False))
