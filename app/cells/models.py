"""Reference tables of the cell registry: towns, cell types and their checklist criteria."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, ForeignKey, String
from sqlmodel import Field

from app.core.models import SQLModel

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
