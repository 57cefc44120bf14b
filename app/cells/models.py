"""Reference tables of the cell registry: towns, cell types and their checklist criteria."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field

from app.core.models import SQLModel
from app.core.types import JSONDocument, UTCDateTime

TOWN_KINDS = ("subdistrict", "town", "township", "district")


class Town(SQLModel, table=True):
    __tablename__ = "towns"
    __table_args__ = (CheckConstraint("kind IN ('subdistrict', 'town', 'township', 'district')", name="kind"),)

    code: str = Field(primary_key=True, max_length=32)
    name_zh: str = Field(max_length=100)
    kind: str = Field(max_length=16)


class CellType(SQLModel, table=True):
    __tablename__ = "cell_types"
    __table_args__ = (
        CheckConstraint("pass_score BETWEEN 0 AND 110", name="pass_score_range"),
        CheckConstraint("validity_years BETWEEN 1 AND 20", name="validity_years_range"),
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
    __table_args__ = (CheckConstraint("max_points > 0", name="max_points_positive"),)

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
        Index("ix_cells_type_status", "type", "status"),
        Index("ix_cells_status_valid_until", "status", "valid_until"),
    )

    id: int | None = Field(default=None, primary_key=True)
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
    __table_args__ = (CheckConstraint("total >= 0", name="total_non_negative"),)

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
