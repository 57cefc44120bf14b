from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field

from app.core.models import SQLModel
from app.core.types import BigIntKey, JSONDocument, UTCDateTime

STATUSES = ("draft", "submitted", "approved", "returned")


class Submission(SQLModel, table=True):
    """One department's value for one indicator and one period (unique per indicator and period)."""

    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("indicator", "period"),
        CheckConstraint("status IN ('draft', 'submitted', 'approved', 'returned')", name="status"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("period_end > period_start", name="period_order"),
        CheckConstraint("denominator IS NULL OR denominator <> 0", name="denominator_nonzero"),
        CheckConstraint("status <> 'approved' OR approved_at IS NOT NULL", name="approved_has_time"),
        Index("ix_submissions_indicator_status_period_start", "indicator", "status", "period_start"),
        Index("ix_submissions_department_status", "department", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    indicator: str = Field(sa_column=Column(String(32), ForeignKey("indicators.code"), nullable=False))
    indicator_version: int = Field(description="The definition version the value was validated against.")
    period: str = Field(max_length=7, index=True)
    period_start: date
    period_end: date
    department: str = Field(sa_column=Column(String(16), ForeignKey("departments.code"), nullable=False))
    value: float | None = None
    numerator: float | None = None
    denominator: float | None = None
    note: str | None = Field(default=None, sa_type=Text)
    evidence: list[Any] = Field(default_factory=list, sa_type=JSONDocument)
    status: str = Field(max_length=16)
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reviewer_note: str | None = Field(default=None, sa_type=Text)
    created_by_token_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("api_tokens.id"), nullable=True)
    )


class SubmissionRevision(SQLModel, table=True):
    """Every state of a submission from creation on. Append-only: triggers refuse UPDATE and DELETE."""

    __tablename__ = "submission_revisions"
    __table_args__ = (
        UniqueConstraint("submission_id", "revision"),
        CheckConstraint("status IN ('draft', 'submitted', 'approved', 'returned')", name="status"),
        CheckConstraint(
            "action IN ('created', 'edited', 'submitted', 'approved', 'returned', 'reopened')", name="action"
        ),
        Index("ix_submission_revisions_indicator_at", "indicator", "at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntKey, primary_key=True, autoincrement=True))
    submission_id: int = Field(sa_column=Column(Integer, ForeignKey("submissions.id"), nullable=False))
    revision: int
    action: str = Field(max_length=16)
    at: datetime = Field(sa_type=UTCDateTime)
    indicator: str = Field(max_length=32)
    period: str = Field(max_length=7)
    status: str = Field(max_length=16)
    value: float | None = None
    numerator: float | None = None
    denominator: float | None = None
    note: str | None = Field(default=None, sa_type=Text)
    evidence: list[Any] = Field(default_factory=list, sa_type=JSONDocument)
    reason: str | None = Field(default=None, sa_type=Text)
    department: str | None = Field(
        default=None, sa_column=Column(String(16), ForeignKey("departments.code"), nullable=True)
    )
    token_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("api_tokens.id"), nullable=True)
    )


class SubmissionEvidenceFile(SQLModel, table=True):
    """Which uploaded files a submission's evidence names (who may read a file follows from it)."""

    __tablename__ = "submission_evidence_files"

    submission_id: int = Field(sa_column=Column(Integer, ForeignKey("submissions.id"), primary_key=True))
    file_id: str = Field(sa_column=Column(String(32), ForeignKey("files.id"), primary_key=True, index=True))
