from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field

from app.core.models import SQLModel, lower_hex, one_of, per_dialect
from app.core.types import UTCDateTime

CATEGORIES = ("source_reduction", "utilization", "disposal", "support", "public")
KINDS = ("mandatory", "optional", "self_selected")
VALUE_TYPES = ("percent", "quantity", "count", "boolean", "ratio")
DIRECTIONS = ("increase", "decrease", "boolean", "decrease_vs_previous")
FREQUENCIES = ("annual", "quarterly", "monthly")
SOURCES = ("submissions", "cells")
RATE_TYPES = ("percent", "ratio")


class Indicator(SQLModel, table=True):
    """The identity of an indicator; its definition lives in versions."""

    __tablename__ = "indicators"
    __table_args__ = (
        CheckConstraint("latest_version >= 1", name="latest_version_positive"),
        # CODE_PATTERN of app/indicators/schemas.py: a letter or digit, then letters, digits, `.`, `_`, `-`.
        *per_dialect("code_format", postgresql="code ~ '^[0-9A-Za-z][0-9A-Za-z._-]*$'",
                     sqlite="code GLOB '[0-9A-Za-z]*' AND code NOT GLOB '*[^0-9A-Za-z._-]*'"),
        # The latest version exists. Checked at commit: a new indicator's row comes before its version 1.
        # use_alter: indicator_versions refers to indicators too; the cycle closes once both exist.
        ForeignKeyConstraint(["id", "latest_version"],
                             ["indicator_versions.indicator_id", "indicator_versions.version"],
                             deferrable=True, initially="DEFERRED", use_alter=True),
    )

    # autoincrement spelled out: SQLAlchemy does not generate an integer key that is also in a foreign key
    # (fk_indicators_id_indicator_versions) unless told to.
    id: int | None = Field(default=None, primary_key=True, sa_column_kwargs={"autoincrement": True})
    code: str = Field(max_length=32, unique=True)
    latest_version: int = Field(ge=1)
    created_at: datetime = Field(sa_type=UTCDateTime)


class IndicatorVersion(SQLModel, table=True):
    """One definition of an indicator, in force from ``valid_from``. Never updated, never deleted."""

    __tablename__ = "indicator_versions"
    __table_args__ = (
        UniqueConstraint("indicator_id", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint(one_of("category", CATEGORIES), name="category"),
        CheckConstraint(one_of("kind", KINDS), name="kind"),
        CheckConstraint(one_of("value_type", VALUE_TYPES), name="value_type"),
        CheckConstraint(one_of("direction", DIRECTIONS), name="direction"),
        CheckConstraint(one_of("frequency", FREQUENCIES), name="frequency"),
        CheckConstraint(one_of("source", SOURCES), name="source"),
        CheckConstraint("weight > 0", name="weight_positive"),
        CheckConstraint("(baseline_year IS NULL) = (baseline_value IS NULL)", name="baseline_complete"),
        CheckConstraint("(target_year IS NULL) = (target_value IS NULL)", name="target_complete"),
        # The cross-field rules of app.indicators.service.definition_issues.
        CheckConstraint("(value_type = 'boolean') = (direction = 'boolean')", name="boolean_direction"),
        CheckConstraint("baseline_year IS NULL OR target_year IS NULL OR baseline_year < target_year",
                        name="baseline_before_target"),
        CheckConstraint("min_value IS NULL OR max_value IS NULL OR min_value <= max_value", name="bounds_ordered"),
        CheckConstraint("value_type <> 'boolean' OR (min_value IS NULL AND max_value IS NULL)",
                        name="no_bounds_for_booleans"),
        CheckConstraint("baseline_value IS NULL OR ((min_value IS NULL OR baseline_value >= min_value) "
                        "AND (max_value IS NULL OR baseline_value <= max_value))", name="baseline_within_bounds"),
        CheckConstraint(f"{one_of('value_type', RATE_TYPES)} OR (COALESCE(numerator_label, '') = '' "
                        "AND COALESCE(denominator_label, '') = '')", name="labels_only_for_rates"),
        CheckConstraint("source <> 'cells' OR value_type = 'count'", name="cells_source_count"),
        CheckConstraint("name_zh <> ''", name="name_zh_not_empty"),
        CheckConstraint("name_en <> ''", name="name_en_not_empty"),
        CheckConstraint("group_name <> ''", name="group_name_not_empty"),
        CheckConstraint("unit <> ''", name="unit_not_empty"),
        *lower_hex("catalogue_digest_format", "catalogue_digest", 64),
    )

    id: int | None = Field(default=None, primary_key=True)
    indicator_id: int = Field(sa_column=Column(Integer, ForeignKey("indicators.id"), nullable=False))
    version: int
    valid_from: datetime = Field(sa_type=UTCDateTime)
    name_zh: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    category: str = Field(max_length=32)
    group_name: str = Field(max_length=100)
    kind: str = Field(max_length=16)
    unit: str = Field(max_length=32)
    value_type: str = Field(max_length=16)
    direction: str = Field(max_length=32)
    frequency: str = Field(max_length=16)
    baseline_year: int | None = None
    baseline_value: float | None = None
    # The last milestone (IndicatorMilestone holds them all), kept for replicas of the release before
    # milestones during a rolling upgrade; read only for a version that has no milestone rows (one written by
    # such a replica). A later release drops them (docs/OPERATIONS.md, expand and contract).
    target_year: int | None = None
    target_value: float | None = None
    # The bounds of a value (SPEC §6.1); null: unbounded on that side.
    min_value: float | None = None
    max_value: float | None = None
    lead_department: str = Field(
        sa_column=Column(String(16), ForeignKey("departments.code"), nullable=False, index=True)
    )
    weight: float = 1.0
    definition: str = Field(sa_type=Text)
    source: str = Field(max_length=16)
    numerator_label: str | None = Field(default=None, max_length=200)
    denominator_label: str | None = Field(default=None, max_length=200)
    provenance: str | None = Field(default=None, sa_type=Text)
    # SHA-256 of the catalogue entry this version was loaded from (null for API revisions), so that
    # `zwc seed` adds a version only when the catalogue itself changed.
    catalogue_digest: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by_token_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("api_tokens.id"), nullable=True)
    )


class IndicatorCooperator(SQLModel, table=True):
    """A cooperating department of one indicator version, in the catalogue's order."""

    __tablename__ = "indicator_cooperators"
    __table_args__ = (
        UniqueConstraint("version_id", "position"),
        CheckConstraint("position >= 0", name="position_non_negative"),
    )

    version_id: int = Field(
        sa_column=Column(Integer, ForeignKey("indicator_versions.id"), primary_key=True)
    )
    department: str = Field(
        sa_column=Column(String(16), ForeignKey("departments.code"), primary_key=True, index=True)
    )
    position: int = Field(ge=0)


class IndicatorMilestone(SQLModel, table=True):
    """A target of one indicator version: the value to reach by the end of ``year`` (SPEC §6.1). A version
    has none (no target set), one, or several in ascending years (the plan's 2023 and 2025 targets)."""

    __tablename__ = "indicator_milestones"
    __table_args__ = (CheckConstraint("year BETWEEN 2000 AND 2100", name="year_range"),)

    version_id: int = Field(
        sa_column=Column(Integer, ForeignKey("indicator_versions.id"), primary_key=True)
    )
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    value: float
