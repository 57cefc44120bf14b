from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

Category = Literal["source_reduction", "utilization", "disposal", "support", "public"]
Kind = Literal["mandatory", "optional", "self_selected"]
ValueType = Literal["percent", "quantity", "count", "boolean", "ratio"]
Direction = Literal["increase", "decrease", "boolean", "decrease_vs_previous"]
Frequency = Literal["annual", "quarterly", "monthly"]
Source = Literal["submissions", "cells"]

CODE_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z._-]{0,31}$"


def _number_or_bool(value: object) -> bool | int | float:
    """A JSON boolean, or a number a double can hold (no NaN, no infinity, no 400-digit integer)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        try:
            finite = math.isfinite(value)
        except OverflowError:
            finite = False
        if not finite:
            raise PydanticCustomError("finite_number", "Input should be a finite number")
        return value
    raise PydanticCustomError("number_or_bool_type", "Input should be a number or a boolean")


NumberOrBool = Annotated[
    bool | int | float,
    PlainValidator(_number_or_bool),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "boolean"}]}),
]


class YearValue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2100, description="Calendar year.")
    value: NumberOrBool = Field(description="A number, or true/false for boolean indicators.")


class IndicatorDefinition(BaseModel):
    """Everything that defines an indicator; a revision replaces it as a new version."""

    model_config = ConfigDict(extra="forbid")

    name_zh: str = Field(min_length=1, max_length=200, description="Chinese name (指标名称).")
    name_en: str = Field(min_length=1, max_length=200, description="English name.")
    category: Category = Field(description="First-level category (一级指标).")
    group: str = Field(min_length=1, max_length=100, description="Second-level group (二级指标).")
    kind: Kind = Field(description="`mandatory` (必选), `optional` (可选) or `self_selected` (自选).")
    unit: str = Field(min_length=1, max_length=32, description="Unit (单位), e.g. `%`, `万吨`.")
    value_type: ValueType
    direction: Direction
    frequency: Frequency = Field(description="Reporting frequency (填报频次).")
    baseline: YearValue | None = Field(default=None, description="Baseline (基准值), or null.")
    target: YearValue | None = Field(default=None, description="Target (目标值), or null when none is set.")
    lead_department: str = Field(min_length=2, max_length=16, description="Lead department code (牵头部门).")
    cooperating_departments: list[str] = Field(default_factory=list, max_length=30,
                                               description="Cooperating department codes (配合部门).")
    weight: float = Field(default=1.0, gt=0, le=100, description="Weight in category and overall scores.")
    definition: str = Field(default="", max_length=4000, description="How it is computed (指标解释); may be empty.")
    source: Source = Field(default="submissions",
                           description="`submissions` (reported by departments) or `cells` (the cell registry).")
    numerator_label: str | None = Field(default=None, max_length=200, description="For rates: the numerator (分子).")
    denominator_label: str | None = Field(default=None, max_length=200,
                                          description="For rates: the denominator (分母).")
    provenance: str | None = Field(default=None, max_length=2000,
                                   description="Where the definition comes from (e.g. reconstructed).")


class IndicatorCreate(IndicatorDefinition):
    code: str = Field(pattern=CODE_PATTERN, description="Indicator code, e.g. `1.4.03`.", examples=["6.1.01"])
    valid_from: AwareDatetime | None = Field(default=None, description="When it takes force (default: now).")


class IndicatorPatch(BaseModel):
    """Any definition fields to change; the result is a new version."""

    model_config = ConfigDict(extra="forbid")

    name_zh: str | None = Field(default=None, min_length=1, max_length=200)
    name_en: str | None = Field(default=None, min_length=1, max_length=200)
    category: Category | None = None
    group: str | None = Field(default=None, min_length=1, max_length=100)
    kind: Kind | None = None
    unit: str | None = Field(default=None, min_length=1, max_length=32)
    value_type: ValueType | None = None
    direction: Direction | None = None
    frequency: Frequency | None = None
    baseline: YearValue | None = None
    target: YearValue | None = None
    lead_department: str | None = Field(default=None, min_length=2, max_length=16)
    cooperating_departments: list[str] | None = Field(default=None, max_length=30)
    weight: float | None = Field(default=None, gt=0, le=100)
    definition: str | None = Field(default=None, max_length=4000)
    source: Source | None = None
    numerator_label: str | None = Field(default=None, max_length=200)
    denominator_label: str | None = Field(default=None, max_length=200)
    provenance: str | None = Field(default=None, max_length=2000)
    valid_from: AwareDatetime | None = Field(
        default=None, description="When the new version takes force (default: now; not before the current one's)."
    )


class IndicatorOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    category: Category
    group: str
    kind: Kind
    unit: str
    value_type: ValueType
    direction: Direction
    frequency: Frequency
    baseline: YearValue | None
    target: YearValue | None
    lead_department: str
    cooperating_departments: list[str]
    weight: float
    definition: str
    source: Source
    numerator_label: str | None
    denominator_label: str | None
    provenance: str | None
    version: int = Field(description="Definition version; every revision adds one.")
    valid_from: datetime = Field(description="When this version takes force.")
    revised_at: datetime = Field(description="When this version was recorded.")
