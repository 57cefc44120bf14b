from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint
from sqlmodel import Field

from app.core.models import SQLModel, per_dialect
from app.core.types import UTCDateTime

DEPARTMENT_KINDS = ("department", "lead_office", "external")


class Department(SQLModel, table=True):
    __tablename__ = "departments"
    __table_args__ = (
        CheckConstraint("kind IN ('department', 'lead_office', 'external')", name="kind"),
        CheckConstraint("length(code) BETWEEN 2 AND 16", name="code_length"),
        # A short pinyin abbreviation: a lower-case letter, then lower-case letters or digits.
        *per_dialect("code_format", postgresql="code ~ '^[a-z][a-z0-9]*$'",
                     sqlite="code GLOB '[a-z]*' AND code NOT GLOB '*[^a-z0-9]*'"),
        CheckConstraint("name_zh <> ''", name="name_zh_not_empty"),
        CheckConstraint("name_en <> ''", name="name_en_not_empty"),
    )

    code: str = Field(primary_key=True, max_length=16)
    name_zh: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    kind: str = Field(max_length=16)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
