from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, FiniteFloat, field_validator

from app.submissions.schemas import EvidenceLink

CellStatus = Literal["planned", "applied", "evaluated", "certified", "expired", "revoked"]
CertificateStatus = Literal["certified", "expired", "revoked"]

Latitude = Field(default=None, ge=-90, le=90, description="WGS-84 latitude (−90…90).")
Longitude = Field(default=None, ge=-180, le=180, description="WGS-84 longitude (−180…180).")


class CriterionOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    max_points: int
    bonus: bool = Field(description="A bonus item: its points count towards the total beyond the base 100.")


class CellTypeOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    responsible_department: str
    pass_score: int
    validity_years: int
    criteria: list[CriterionOut]


class CellCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=16, description="A cell-type code, e.g. `school`.",
                      examples=["school"])
    name: str = Field(min_length=1, max_length=200, pattern=r"\S")
    town: str = Field(min_length=1, max_length=32, description="A town code from the catalogue.",
                      examples=["chengguan"])
    address: str | None = Field(default=None, max_length=500)
    contact: str | None = Field(default=None, max_length=200, description="Never shown publicly.")
    latitude: FiniteFloat | None = Latitude
    longitude: FiniteFloat | None = Longitude
    evidence: list[EvidenceLink | str] = Field(
        default_factory=list, max_length=50,
        description="File ids from `POST /v1/files` (uploaded by the caller's department), or `{title, url}`.",
    )


class CellPatch(BaseModel):
    """Any of these; `null` clears an optional field. `status: "applied"` applies for a `planned` cell."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"\S")
    town: str | None = Field(default=None, min_length=1, max_length=32)
    address: str | None = Field(default=None, max_length=500)
    contact: str | None = Field(default=None, max_length=200)
    latitude: FiniteFloat | None = Latitude
    longitude: FiniteFloat | None = Longitude
    evidence: list[EvidenceLink | str] | None = Field(default=None, max_length=50)
    status: Literal["applied"] | None = Field(default=None, description="`applied`: apply for a planned cell.")

    @field_validator("name", "town")
    @classmethod
    def _not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("may not be null")
        return value


class CellOut(BaseModel):
    id: int
    type: str
    name: str
    town: str
    address: str | None
    contact: str | None = Field(description="Only for the applicant's department, the type's responsible "
                                            "department, the lead office and `cells:review` tokens; else null.")
    latitude: float | None
    longitude: float | None
    evidence: list[EvidenceLink | str]
    department: str = Field(description="The applicant's department.")
    status: CellStatus
    certificate_no: str | None
    certified_at: dt.datetime | None
    valid_until: dt.date | None = Field(description="Last day of validity (Asia/Shanghai).")
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class EvaluationItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    criterion: str = Field(min_length=1, max_length=32)
    points: int = Field(strict=True, description="Whole points from 0 to the criterion's `max_points`.")


class EvaluationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: dt.date
    evaluator: str = Field(min_length=1, max_length=200, pattern=r"\S")
    items: list[EvaluationItem] = Field(min_length=1, max_length=50)
    note: str | None = Field(default=None, max_length=4000)


class EvaluationOut(BaseModel):
    id: int
    cell_id: int
    date: dt.date
    evaluator: str
    items: list[EvaluationItem]
    total: int = Field(description="Sum of the points, bonus items included.")
    passed: bool = Field(description="`total` at or above the type's `pass_score`.")
    note: str | None
    department: str | None
    created_at: dt.datetime


class RevokeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=4000, pattern=r"\S", description="Why (撤销原因).")


class InspectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inspected_at: AwareDatetime
    inspector: str = Field(min_length=1, max_length=200, pattern=r"\S")
    findings: str = Field(min_length=1, max_length=8000)
    score: FiniteFloat | None = Field(default=None, ge=0, le=110)
    latitude: FiniteFloat | None = Latitude
    longitude: FiniteFloat | None = Longitude
    photos: list[str] = Field(default_factory=list, max_length=30,
                              description="File ids uploaded by the caller's department.")


class InspectionOut(BaseModel):
    id: int
    cell_id: int
    inspected_at: dt.datetime
    inspector: str
    findings: str
    score: float | None
    latitude: float | None
    longitude: float | None
    photos: list[str]
    department: str | None
    created_at: dt.datetime


class QuotaBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quota: int = Field(strict=True, ge=0, le=100000)


class QuotaOut(BaseModel):
    year: int
    type: str
    quota: int
    updated_at: dt.datetime


class SummaryItem(BaseModel):
    type: str
    planned: int
    applied: int
    certified: int
    revoked: int
    quota: int | None
    progress: float | None = Field(description="certified / quota, rounded to 4 decimals; null without a quota.")


class TownSummaryItem(BaseModel):
    """`by=town`: the figures of one (town, type) pair; quotas and progress are per type only."""

    town: str = Field(description="A town code from the catalogue (the cell's current town).")
    type: str
    planned: int
    applied: int
    certified: int
    revoked: int


class PublicCertificate(BaseModel):
    certificate_no: str
    name: str
    type: str
    status: CertificateStatus
    certified_at: dt.datetime
    valid_until: dt.date

