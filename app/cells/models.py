"""Reference tables of the cell registry: towns, cell types and their checklist criteria."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field

from app.core.models import SQLModel, per_dialect
from app.core.types import JSONDocument, UTCDateTime

TOWN_KINDS = ("subdistrict", "town", "township", "district")


class Town(SQLModel, table=True):
    __tablename__ = "towns"
    __table_args__ = (
        CheckConstraint("kind IN ('subdistrict', 'town', 'township', 'district')", name="kind"),
        CheckConstraint("code <> ''", name="code_not_empty"),
        CheckConstraint("name_zh <> ''", name="name_zh_not_empty"),
    )

    code: str = Field(primary_key=True, max_length=32)
    name_zh: str = Field(max_length=100)
    # Null in a database migrated before the English names came, until the next `zwc seed`.
    name_en: str | None = Field(default=None, max_length=100)
    kind: str = Field(max_length=16)


class CellType(SQLModel, table=True):
    __tablename__ = "cell_types"
    __table_args__ = (
        CheckConstraint("pass_score BETWEEN 0 AND 110", name="pass_score_range"),
        CheckConstraint("validity_years BETWEEN 1 AND 20", name="validity_years_range"),
        CheckConstraint("code <> ''", name="code_not_empty"),
        CheckConstraint("name_zh <> ''", name="name_zh_not_empty"),
        CheckConstraint("name_en <> ''", name="name_en_not_empty"),
    )

    code: str = Field(primary_key=True, max_length=16)
    name_zh: str = Field(max_length=100)
    name_en: str = Field(max_length=200)
    responsible_department: str = Field(
        sa_column=Column(String(16), ForeignKey("departments.code"), nullable=False)
    )
    pass_score: int
    validity_years: int


class CellCriterion(SQLModel, table=True):
    __tablename__ = "cell_criteria"
    __table_args__ = (
        CheckConstraint("max_points > 0", name="max_points_positive"),
        CheckConstraint("code <> ''", name="code_not_empty"),
        CheckConstraint("name_zh <> ''", name="name_zh_not_empty"),
        CheckConstraint("name_en <> ''", name="name_en_not_empty"),
    )

    code: str = Field(primary_key=True, max_length=32)
    name_zh: str = Field(max_length=200)
    name_en: str = Field(max_length=300)
    max_points: int
    bonus: bool = False


class CellTypeCriterion(SQLModel, table=True):
    """Which criteria apply to which cell type."""

    __tablename__ = "cell_type_criteria"

    cell_type: str = Field(sa_column=Column(String(16), ForeignKey("cell_types.code"), primary_key=True))
    criterion: str = Field(sa_column=Column(String(32), ForeignKey("cell_criteria.code"), primary_key=True))


CELL_STATUSES = ("planned", "applied", "evaluated", "certified", "expired", "revoked")


class Cell(SQLModel, table=True):
    """A place applying for, or holding, a zero-waste certificate (SPEC §2)."""

    __tablename__ = "cells"
    __table_args__ = (
        CheckConstraint(
            "status IN ('planned', 'applied', 'evaluated', 'certified', 'expired', 'revoked')", name="status"
        ),
        CheckConstraint("latitude IS NULL OR latitude BETWEEN -90 AND 90", name="latitude_range"),
        CheckConstraint("longitude IS NULL OR longitude BETWEEN -180 AND 180", name="longitude_range"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("trim(name) <> ''", name="name_not_blank"),
        # certify sets number, time and last day together; nothing clears them (SPEC §4.1, §4.3).
        CheckConstraint("(certificate_no IS NULL) = (certified_at IS NULL) "
                        "AND (certificate_no IS NULL) = (valid_until IS NULL)", name="certificate_complete"),
        CheckConstraint("status NOT IN ('certified', 'expired', 'revoked') OR certificate_no IS NOT NULL",
                        name="certified_has_certificate"),
        CheckConstraint("status NOT IN ('planned', 'applied') OR certificate_no IS NULL",
                        name="uncertified_has_no_certificate"),
        # A certificate number is never reused (SPEC §4.3), and a cell's number is one of its own certificates.
        UniqueConstraint("certificate_no"),
        # Checked at commit: certify updates the cell in the same flush as it inserts the certificate, in
        # whichever order. use_alter: certificates refers to cells too; the cycle closes once both exist.
        ForeignKeyConstraint(["certificate_no", "id"], ["certificates.certificate_no", "certificates.cell_id"],
                             deferrable=True, initially="DEFERRED", use_alter=True),
        Index("ix_cells_type_status", "type", "status"),
        Index("ix_cells_status_valid_until", "status", "valid_until"),
    )

    # autoincrement spelled out: SQLAlchemy does not generate an integer key that is also in a foreign key
    # (fk_cells_certificate_no_certificates) unless told to.
    id: int | None = Field(default=None, primary_key=True, sa_column_kwargs={"autoincrement": True})
    type: str = Field(sa_column=Column(String(16), ForeignKey("cell_types.code"), nullable=False))
    name: str = Field(max_length=200)
    town: str = Field(sa_column=Column(String(32), ForeignKey("towns.code"), nullable=False))
    address: str | None = Field(default=None, max_length=500)
    contact: str | None = Field(default=None, max_length=200)
    latitude: float | None = None
    longitude: float | None = None
    evidence: list[Any] = Field(default_factory=list, sa_type=JSONDocument)
    department: str = Field(sa_column=Column(String(16), ForeignKey("departments.code"), nullable=False))
    status: str = Field(max_length=16)
    certificate_no: str | None = Field(default=None, max_length=32)
    certified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    valid_until: date | None = None
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class CellEvaluation(SQLModel, table=True):
    """One scoring of a cell's checklist; the latest decides whether it may be certified."""

    __tablename__ = "cell_evaluations"
    __table_args__ = (
        CheckConstraint("total >= 0", name="total_non_negative"),
        CheckConstraint("trim(evaluator) <> ''", name="evaluator_not_blank"),
        # At least one scored criterion (app/cells/schemas.py EvaluationCreate).
        *per_dialect("items_non_empty",
                     postgresql="jsonb_typeof(items) = 'array' AND jsonb_array_length(items) > 0",
                     sqlite="json_type(items) = 'array' AND json_array_length(items) > 0"),
    )

    id: int | None = Field(default=None, primary_key=True)
    cell_id: int = Field(sa_column=Column(Integer, ForeignKey("cells.id"), nullable=False, index=True))
    date: date
    evaluator: str = Field(max_length=200)
    items: list[Any] = Field(default_factory=list, sa_type=JSONDocument)
    total: int
    passed: bool
    note: str | None = Field(default=None, sa_type=Text)
    department: str | None = Field(
        default=None, sa_column=Column(String(16), ForeignKey("departments.code"), nullable=True)
    )
    token_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("api_tokens.id"), nullable=True))
    created_at: datetime = Field(sa_type=UTCDateTime)


class Certificate(SQLModel, table=True):
    """Every certificate number ever issued: numbers are never reused, old ones stay checkable."""

    __tablename__ = "certificates"
    __table_args__ = (
        # Not the number's format: SPEC §4.3 gives XM-WF-2026-SCH-0001 as an example, and certificates of
        # earlier years, issued before this registry, keep the numbers they were given.
        CheckConstraint("certificate_no <> ''", name="certificate_no_not_empty"),
        # Revoking records when and why, together (SPEC §4.1: a reason is required).
        CheckConstraint("(revoked_at IS NULL) = (revoke_reason IS NULL)", name="revocation_complete"),
        CheckConstraint("revoke_reason IS NULL OR trim(revoke_reason) <> ''", name="revoke_reason_not_blank"),
        # The target of cells' (certificate_no, id) foreign key.
        UniqueConstraint("certificate_no", "cell_id"),
    )

    certificate_no: str = Field(primary_key=True, max_length=32)
    cell_id: int = Field(sa_column=Column(Integer, ForeignKey("cells.id"), nullable=False, index=True))
    certified_at: datetime = Field(sa_type=UTCDateTime)
    valid_until: date
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoke_reason: str | None = Field(default=None, sa_type=Text)


class CertificateCounter(SQLModel, table=True):
    """The last sequence number issued per certification year and cell type."""

    __tablename__ = "certificate_counters"
    __table_args__ = (CheckConstraint("last >= 0", name="last_non_negative"),)

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    type: str = Field(sa_column=Column(String(16), ForeignKey("cell_types.code"), primary_key=True))
    last: int = 0


class CellInspection(SQLModel, table=True):
    """A field inspection posted from a mobile app."""

    __tablename__ = "cell_inspections"
    __table_args__ = (
        CheckConstraint("latitude IS NULL OR latitude BETWEEN -90 AND 90", name="latitude_range"),
        CheckConstraint("longitude IS NULL OR longitude BETWEEN -180 AND 180", name="longitude_range"),
        CheckConstraint("score IS NULL OR score BETWEEN 0 AND 110", name="score_range"),
        CheckConstraint("trim(inspector) <> ''", name="inspector_not_blank"),
        CheckConstraint("findings <> ''", name="findings_not_empty"),
    )

    id: int | None = Field(default=None, primary_key=True)
    cell_id: int = Field(sa_column=Column(Integer, ForeignKey("cells.id"), nullable=False, index=True))
    inspected_at: datetime = Field(sa_type=UTCDateTime)
    inspector: str = Field(max_length=200)
    findings: str = Field(sa_type=Text)
    score: float | None = None
    latitude: float | None = None
    longitude: float | None = None
    photos: list[Any] = Field(default_factory=list, sa_type=JSONDocument)
    department: str | None = Field(
        default=None, sa_column=Column(String(16), ForeignKey("departments.code"), nullable=True)
    )
    token_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("api_tokens.id"), nullable=True))
    created_at: datetime = Field(sa_type=UTCDateTime)


class CellQuota(SQLModel, table=True):
    """The number of certified cells of a type that Zhengzhou assigns for a year."""

    __tablename__ = "cell_quotas"
    __table_args__ = (CheckConstraint("quota >= 0", name="quota_non_negative"),)

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    type: str = Field(sa_column=Column(String(16), ForeignKey("cell_types.code"), primary_key=True))
    quota: int
    updated_at: datetime = Field(sa_type=UTCDateTime)


class CellQuotaChange(SQLModel, table=True):
    """Every quota ever set, so that a score `as_of` a past moment uses the quota in force then."""

    __tablename__ = "cell_quota_changes"
    __table_args__ = (
        CheckConstraint("quota >= 0", name="quota_non_negative"),
        Index("ix_cell_quota_changes_year_type_at", "year", "type", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    year: int
    type: str = Field(sa_column=Column(String(16), ForeignKey("cell_types.code"), nullable=False))
    quota: int
    at: datetime = Field(sa_type=UTCDateTime)


class CellFile(SQLModel, table=True):
    """Which uploaded files a cell's evidence or its inspections' photos name (who may read a file
    follows from it)."""

    __tablename__ = "cell_files"
    __table_args__ = (CheckConstraint("role IN ('evidence', 'photo')", name="role"),)

    cell_id: int = Field(sa_column=Column(Integer, ForeignKey("cells.id"), primary_key=True))
    file_id: str = Field(sa_column=Column(String(32), ForeignKey("files.id"), primary_key=True, index=True))
    role: str = Field(sa_column=Column(String(8), primary_key=True))
