from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.indicators.schemas import NumberOrBool, YearValue

Status = Literal["no_target", "no_data", "achieved", "on_track", "behind"]
IncludeOut = Literal["approved", "submitted"]


class IndicatorScoreOut(BaseModel):
    code: str = Field(examples=["1.1.03"])
    name_zh: str
    name_en: str
    category: str
    direction: str
    weight: float
    source: Literal["submissions", "cells"]
    version: int = Field(description="The definition version the period was scored with (in force at its end).")
    period: str = Field(description="The period of the value used (the latest inside a longer requested period), "
                                    "or the requested period when there is no value.")
    value: NumberOrBool | None = Field(description="Given whenever there is one, whatever the status.")
    numerator: float | None
    denominator: float | None
    previous_value: NumberOrBool | None = Field(
        description="`decrease_vs_previous` only: the previous period's value the value is compared with.")
    target: YearValue | None
    baseline: YearValue | None
    score: float | None = Field(description="0–100, two decimals; null for `no_target` and `no_data`.")
    status: Status
    expected_progress: float | None = Field(
        description="Where the score should be by this year (0–100); null without a target.")
    formula: str | None = Field(description="The formula with the numbers that produced the score.")


class MeanOut(BaseModel):
    score: float | None = Field(description="Weight-averaged score of the indicators that have one.")
    coverage: float = Field(description="Indicators with a score / indicators, 0–1, four decimals.")


class CategoryScoreOut(BaseModel):
    code: str = Field(examples=["source_reduction"])
    name_zh: str
    name_en: str
    score: float | None = Field(description="Weight-averaged score of the category's indicators that have one.")
    coverage: float = Field(description="Indicators with a score / indicators in the category, 0–1.")


class ScoresOut(BaseModel):
    period: str = Field(examples=["2025"])
    as_of: datetime | None = Field(description="The moment the scores stood at (UTC); null for now.")
    include: IncludeOut = Field(description="`approved` (only approved values count) or `submitted` "
                                            "(submitted ones count too).")
    overall: MeanOut
    categories: list[CategoryScoreOut]
    indicators: list[IndicatorScoreOut]


class CompletenessOut(BaseModel):
    expected: int = Field(description="(indicator, period) pairs of the department's indicators that have ended.")
    submitted: int = Field(description="Of those, submitted or approved.")
    approved: int
    rate: float | None = Field(description="submitted / expected, four decimals; null when nothing is expected.")


class TimelinessOut(BaseModel):
    on_time: int = Field(description="First submitted by the period's end + `deadline_days`.")
    late: int = Field(description="First submitted after the deadline.")
    overdue: int = Field(description="Not submitted, and the deadline has passed.")
    rate: float | None = Field(description="on_time / (on_time + late + overdue), four decimals.")


class DepartmentScorecardOut(BaseModel):
    department: str = Field(examples=["sthj"])
    name_zh: str
    name_en: str
    score: float | None = Field(description="Weight-averaged score of the led indicators that have one.")
    coverage: float = Field(description="Led indicators with a score / led indicators, 0–1.")
    indicators: list[IndicatorScoreOut] = Field(description="The indicators the department leads.")
    completeness: CompletenessOut
    timeliness: TimelinessOut


class ScorecardsOut(BaseModel):
    period: str
    as_of: datetime | None
    include: IncludeOut
    deadline_days: int
    items: list[DepartmentScorecardOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
