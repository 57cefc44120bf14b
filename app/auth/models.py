from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, String
from sqlmodel import Field

from app.core.models import SQLModel, lower_hex
from app.core.types import JSONDocument, UTCDateTime


class ApiToken(SQLModel, table=True):
    """A bearer token. Only the SHA-256 of the secret is stored; ``prefix`` is for display."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        *lower_hex("token_hash_format", "token_hash", 64),
        # The first characters of a secret, and every secret starts with `zwc_` (SPEC §4.1).
        CheckConstraint("substr(prefix, 1, 4) = 'zwc_'", name="prefix_format"),
        CheckConstraint("name <> ''", name="name_not_empty"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    department: str = Field(
        sa_column=Column(String(16), ForeignKey("departments.code"), nullable=False, index=True)
    )
    scopes: list[str] = Field(sa_type=JSONDocument)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
