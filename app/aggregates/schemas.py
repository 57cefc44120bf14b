from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.indicators.schemas import NumberOrBool
from app.scores.schemas import Status


class RegionOut(BaseModel):
    code: str = Field(examples=["410183"], description="Administrative division code (新密市).")
    name_zh: str = Field(examples=["新密市"])


class AggregateIndicatorOut(BaseModel):
    code: str = Field(examples=["2.4.01"])
    name_zh: str
    unit: str
    value: NumberOrBool | None = Field(description="The approved value (a monthly or quarterly indicator's latest "
                                                   "inside the period); null when there is none.")
    numerator: float | None = Field(description="For rates: sum these across counties, never average rates.")
    denominator: float | None
    target: NumberOrBool | None = Field(description="The target value in force for the period.")
    target_year: int | None
    score: float | None
    status: Status
    approved_at: datetime | None


class AggregateCellsOut(BaseModel):
    type: str = Field(examples=["school"])
    certified: int = Field(description="Cells certified and valid at the end of the period.")
    quota: int | None = Field(description="The year's quota assigned by Zhengzhou; null when none is set.")


class AggregatesOut(BaseModel):
    region: RegionOut
    period: str = Field(examples=["2025"])
    as_of: datetime | None = Field(default=None, description="The moment the figures stood at; null for now.")
    generated_at: datetime = Field(description="When this answer was made (not covered by the ETag).")
    indicators: list[AggregateIndicatorOut]
    cells: list[AggregateCellsOut]
