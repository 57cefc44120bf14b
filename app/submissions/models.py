from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field

from app.core.models import SQLModel, per_dialect
from app.core.types import BigIntKey, JSONDocument, UTCDateTime

STATUSES = ("draft", "submitted", "approved", "returned")

# `YYYY`, `YYYYQn` or `YYYY-MM` (SPEC §2 "Period").
PERIOD_POSTGRESQL = "period ~ '^[0-9]{4}(Q[1-4]|-(0[1-9]|1[0-2]))?$'"
PERIOD_SQLITE = ("(period GLOB '[0-9][0-9][0-9][0-9]' OR period GLOB '[0-9][0-9][0-9][0-9]Q[1-4]' "
                 "OR period GLOB '[0-9][0-9][0-9][0-9]-0[1-9]' OR period GLOB '[0-9][0-9][0-9][0-9]-1[0-2]')")


def _rate_constraints() -> tuple[CheckConstraint, ...]:
    """What a submission and each of its revisions keep about numerator, denominator and value (SPEC §2)."""
    return (
        *per_dialect("period_format", postgresql=PERIOD_POSTGRESQL, sqlite=PERIOD_SQLITE),
        CheckConstraint("(numerator IS NULL) = (denominator IS NULL)", name="numerator_denominator_pair"),
        CheckConstraint("numerator IS NULL OR numerator >= 0", name="numerator_non_negative"),
        # With denominator_nonzero: a positive denominator.
        CheckConstraint("denominator IS NULL OR denominator >= 0", name="denominator_non_negative"),
        # With numerator and denominator the value is computed from them.
        CheckConstraint("numerator IS NULL OR value IS NOT NULL", name="rate_has_value"),
        # Submitting needs a value, and an approved value is locked.
        CheckConstraint("status NOT IN ('submitted', 'approved') OR value IS NOT NULL", name="submitted_has_value"),
    )


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
        CheckConstraint("status = 'approved' OR approved_at IS NULL", name="approved_time_only_when_approved"),
        CheckConstraint("indicator_version >= 1", name="indicator_version_positive"),
        # A draft was never submitted (nothing leads back to draft).
        CheckConstraint("status <> 'draft' OR submitted_at IS NULL", name="draft_not_submitted"),
        # Returning and reopening need a reason, kept as the reviewer's note (SPEC §4.1).
        CheckConstraint("status <> 'returned' OR (reviewer_note IS NOT NULL AND trim(reviewer_note) <> '')",
                        name="returned_has_reason"),
        *_rate_constraints(),
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
        CheckConstraint("revision >= 1", name="revision_positive"),
        CheckConstraint("denominator IS NULL OR denominator <> 0", name="denominator_nonzero"),
        # The status each action leaves a submission in (app/submissions/workflow.py); unknown actions and
        # statuses are the other two checks' to refuse.
        CheckConstraint(
            "CASE action WHEN 'created' THEN status = 'draft' WHEN 'edited' THEN status NOT IN ('submitted', "
            "'approved') WHEN 'submitted' THEN status = 'submitted' WHEN 'approved' THEN status = 'approved' "
            "WHEN 'returned' THEN status = 'returned' WHEN 'reopened' THEN status = 'returned' ELSE TRUE END",
            name="action_status",
        ),
        # Returning and reopening carry a reason; nothing else does.
        CheckConstraint(
            "(action IN ('returned', 'reopened') AND reason IS NOT NULL AND trim(reason) <> '') "
            "OR (action NOT IN ('returned', 'reopened') AND reason IS NULL)",
            name="reason_only_when_returned",
        ),
        *_rate_constraints(),
        Index("ix_submission_revisions_indicator_at", "indicator", "at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntKey, primary_key=True, autoincrement=True))
    submission_id: int = Field(sa_column=Column(Integer, ForeignKey("submissions.id"), nullable=False))
    revision: int
    action: str = Field(max_length=16)
    at: datetime = Field(sa_type=UTCDateTime)
    indicator: str = Field(sa_column=Column(String(32), ForeignKey("indicators.code"), nullable=False))
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
