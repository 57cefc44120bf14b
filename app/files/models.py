from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, String
from sqlmodel import Field

from app.core.models import SQLModel, lower_hex
from app.core.types import UTCDateTime

MEDIA_TYPES = (
    "image/jpeg",
    "image/png",
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)


class StoredFile(SQLModel, table=True):
    """An uploaded evidence file. Its bytes live content-addressed (SHA-256) under ZWC_FILES_DIR."""

    __tablename__ = "files"
    __table_args__ = (
        CheckConstraint("size >= 0", name="size_non_negative"),
        CheckConstraint("length(sha256) = 64", name="sha256_length"),
        *lower_hex("sha256_hex", "sha256"),
        *lower_hex("id_format", "id", 32),  # uuid4().hex
        CheckConstraint("filename <> ''", name="filename_not_empty"),
        CheckConstraint(
            "media_type IN ('image/jpeg', 'image/png', 'application/pdf', "
            "'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet')",
            name="media_type",
        ),
    )

    id: str = Field(primary_key=True, max_length=32)
    sha256: str = Field(max_length=64, index=True)
    size: int
    media_type: str = Field(max_length=100)
    filename: str = Field(max_length=255)
    department: str = Field(sa_column=Column(String(16), ForeignKey("departments.code"), nullable=False))
    token_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("api_tokens.id"), nullable=True))
    created_at: datetime = Field(sa_type=UTCDateTime)
