from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema, model_validator
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


MAX_MILESTONES = 20
# A bound is a finite number a double holds; null for none.
Bound = Annotated[float | None, Field(allow_inf_nan=False)]


class YearValue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2100, description="Calendar year (年份), 2000–2100.")
    value: NumberOrBool = Field(description="The value (数值) in the indicator's unit: a number, or true/false for "
                                            "boolean indicators.")


# What each definition field means; IndicatorDefinition, IndicatorPatch and IndicatorOut share these texts.
ABOUT = {
    "name_zh": "Chinese name (指标名称), e.g. `工业固体废物产生强度`.",
    "name_en": "English name (英文名称).",
    "category": "First-level category (一级指标): `source_reduction` (源头减量), `utilization` (资源化利用), "
                "`disposal` (最终处置), `support` (保障能力) or `public` (群众获得感).",
    "group": "Second-level group (二级指标), e.g. `工业源头减量`.",
    "kind": "Kind (指标类型): `mandatory` (必选指标, national), `optional` (可选指标, chosen for local industry) "
            "or `self_selected` (自选指标, city-specific).",
    "unit": "Unit of measurement (计量单位), e.g. `%`, `万吨`, `t/万元`.",
    "value_type": "Value type (数值类型): `percent`, `quantity`, `count` (whole numbers), `boolean` (true/false) or "
                  "`ratio`; the values accepted are further held to `min_value` and `max_value`. For `percent` "
                  "`value` = 100 × numerator / denominator, for `ratio` numerator / denominator.",
    "direction": "Which way is better (指标方向): `increase` (正向, higher is better), `decrease` (逆向, lower is "
                 "better), `boolean` (是否类, for boolean indicators and only them) or `decrease_vs_previous` "
                 "(lower than the previous period; needs no target).",
    "frequency": "Reporting frequency (填报频次), which fixes the period syntax: `annual` (`YYYY`), "
                 "`quarterly` (`YYYYQn`) or `monthly` (`YYYY-MM`).",
    "baseline": "Baseline (基准值) as {`year`, `value`}, or null when there is none; its year must be before the "
                "target's. Scores measure progress from it.",
    "target": "Target (目标值) as {`year`, `value`}: the last milestone of `targets`, or null when none is set (the "
              "indicator then scores `no_target`, unless its direction is `decrease_vs_previous`).",
    "targets": "Milestones (阶段目标), as {`year`, `value`} in ascending years, e.g. the plan's 2023 and 2025 "
               "targets; empty when none is set. A period is scored against the first milestone whose year is at "
               "or after the period's year, else the last one. At most 20.",
    "min_value": "Smallest value accepted (最小值), in the indicator's unit; null: no minimum (rates of change, "
                 "下降率, where a rise is a negative value). Values, baselines and targets outside the bounds are "
                 "refused (`out_of_range`).",
    "max_value": "Largest value accepted (最大值), in the indicator's unit; null: no maximum. Not below "
                 "`min_value`. Boolean indicators have neither bound.",
    "lead_department": "Code of the lead department (牵头部门), which reports the values, e.g. `sthj`.",
    "cooperating_departments": "Codes of the cooperating departments (配合部门), who may also report; each once, "
                               "never the lead department; at most 30.",
    "weight": "Weight (权重) in the category and overall scores: more than 0, at most 100.",
    "definition": "Definition and calculation method (指标解释), free text; may be empty.",
    "source": "Where the values come from (数据来源): `submissions` (填报, reported by departments) or `cells` "
              "(counted from the zero-waste cell registry, 无废细胞; such indicators refuse submissions and "
              "must have value_type `count`).",
    "numerator_label": "For rates (`percent`, `ratio`) only: what the numerator counts (分子), e.g. "
                       "`通过审核评估的企业数`; null when not given.",
    "denominator_label": "For rates (`percent`, `ratio`) only: what the denominator counts (分母), e.g. "
                         "`应实施清洁生产审核的企业数`; null when not given.",
    "provenance": "Where the definition comes from (来源依据), e.g. `national-2021 (reconstructed)` or the "
                  "plan's own wording; null when not stated.",
}
# In a PATCH: fields that may be null are cleared by an explicit null; the others must not be null.
KEEP = " Omit it to keep the current one."
KEEP_OR_CLEAR = " Omit it to keep the current one; null removes it."


def _patch(name: str) -> str:
    nullable = name in ("baseline", "target", "numerator_label", "denominator_label", "provenance", "min_value",
                        "max_value")
    return ABOUT[name] + (KEEP_OR_CLEAR if nullable else KEEP)


class IndicatorDefinition(BaseModel):
    """Everything that defines an indicator; a revision replaces it as a new version."""

    model_config = ConfigDict(extra="forbid")

    name_zh: str = Field(min_length=1, max_length=200, description=ABOUT["name_zh"])
    name_en: str = Field(min_length=1, max_length=200, description=ABOUT["name_en"])
    category: Category = Field(description=ABOUT["category"])
    group: str = Field(min_length=1, max_length=100, description=ABOUT["group"])
    kind: Kind = Field(description=ABOUT["kind"])
    unit: str = Field(min_length=1, max_length=32, description=ABOUT["unit"])
    value_type: ValueType = Field(description=ABOUT["value_type"])
    direction: Direction = Field(description=ABOUT["direction"])
    frequency: Frequency = Field(description=ABOUT["frequency"])
    baseline: YearValue | None = Field(default=None, description=ABOUT["baseline"])
    targets: list[YearValue] = Field(default_factory=list, max_length=MAX_MILESTONES, description=ABOUT["targets"])
    min_value: Bound = Field(default=None, description=ABOUT["min_value"])
    max_value: Bound = Field(default=None, description=ABOUT["max_value"])
    lead_department: str = Field(min_length=2, max_length=16, description=ABOUT["lead_department"])
    cooperating_departments: list[str] = Field(default_factory=list, max_length=30,
                                               description=ABOUT["cooperating_departments"] + " Default none.")
    weight: float = Field(default=1.0, gt=0, le=100, description=ABOUT["weight"] + " Default 1.")
    definition: str = Field(default="", max_length=4000, description=ABOUT["definition"])
    source: Source = Field(default="submissions", description=ABOUT["source"] + " Default `submissions`.")
    numerator_label: str | None = Field(default=None, max_length=200, description=ABOUT["numerator_label"])
    denominator_label: str | None = Field(default=None, max_length=200, description=ABOUT["denominator_label"])
    provenance: str | None = Field(default=None, max_length=2000, description=ABOUT["provenance"])


DEFAULT_BOUNDS = ("Each bound not given takes the value type's default: `percent` 0–100, `quantity`, `count` and "
                  "`ratio` at least 0 with no maximum, `boolean` none.")


def _one_target_field(data: Any) -> Any:
    """`target` is a one-milestone shorthand of `targets`; giving both is ambiguous."""
    if isinstance(data, dict) and "target" in data and "targets" in data:
        raise PydanticCustomError("target_and_targets", "give either target or targets, not both")
    return data


class IndicatorCreate(IndicatorDefinition):
    min_value: Bound = Field(default=None, description=ABOUT["min_value"] + " " + DEFAULT_BOUNDS)
    max_value: Bound = Field(default=None, description=ABOUT["max_value"] + " " + DEFAULT_BOUNDS)
    target: YearValue | None = Field(default=None, description="A single target (目标值) as {`year`, `value`}: "
                                                               "shorthand for `targets` with one milestone; give "
                                                               "one or the other.")
    code: str = Field(pattern=CODE_PATTERN,
                      description="Indicator code (指标编码), e.g. `1.4.03`: up to 32 letters, digits, `.`, `_` "
                                  "and `-`, starting with a letter or digit; it never changes.",
                      examples=["6.1.01"])
    valid_from: AwareDatetime | None = Field(
        default=None, description="When the definition takes force (生效时间), ISO 8601 with an offset; default: "
                                  "now. A period is scored with the version in force at the period's end.")

    @model_validator(mode="before")
    @classmethod
    def _target_or_targets(cls, data: Any) -> Any:
        return _one_target_field(data)


class IndicatorPatch(BaseModel):
    """Any definition fields to change; the result is a new version."""

    model_config = ConfigDict(extra="forbid")

    name_zh: str | None = Field(default=None, min_length=1, max_length=200, description=_patch("name_zh"))
    name_en: str | None = Field(default=None, min_length=1, max_length=200, description=_patch("name_en"))
    category: Category | None = Field(default=None, description=_patch("category"))
    group: str | None = Field(default=None, min_length=1, max_length=100, description=_patch("group"))
    kind: Kind | None = Field(default=None, description=_patch("kind"))
    unit: str | None = Field(default=None, min_length=1, max_length=32, description=_patch("unit"))
    value_type: ValueType | None = Field(default=None, description=_patch("value_type"))
    direction: Direction | None = Field(default=None, description=_patch("direction"))
    frequency: Frequency | None = Field(default=None, description=_patch("frequency"))
    baseline: YearValue | None = Field(default=None, description=_patch("baseline"))
    target: YearValue | None = Field(default=None, description=_patch("target") + " Sets `targets` to this one "
                                                                                  "milestone; give `target` or "
                                                                                  "`targets`, not both.")
    targets: list[YearValue] | None = Field(default=None, max_length=MAX_MILESTONES,
                                            description=_patch("targets") + " `[]` removes every milestone.")
    min_value: Bound = Field(default=None, description=_patch("min_value") + " When `value_type` changes, each "
                                                                             "bound not given takes the new type's "
                                                                             "default.")
    max_value: Bound = Field(default=None, description=_patch("max_value"))
    lead_department: str | None = Field(default=None, min_length=2, max_length=16,
                                        description=_patch("lead_department"))
    cooperating_departments: list[str] | None = Field(default=None, max_length=30,
                                                      description=_patch("cooperating_departments"))
    weight: float | None = Field(default=None, gt=0, le=100, description=_patch("weight"))
    definition: str | None = Field(default=None, max_length=4000, description=_patch("definition"))
    source: Source | None = Field(default=None, description=_patch("source"))
    numerator_label: str | None = Field(default=None, max_length=200, description=_patch("numerator_label"))
    denominator_label: str | None = Field(default=None, max_length=200, description=_patch("denominator_label"))
    provenance: str | None = Field(default=None, max_length=2000, description=_patch("provenance"))
    valid_from: AwareDatetime | None = Field(
        default=None, description="When the new version takes force (生效时间), ISO 8601 with an offset; default: "
                                  "now; not earlier than the current version's."
    )

    @model_validator(mode="before")
    @classmethod
    def _target_or_targets(cls, data: Any) -> Any:
        return _one_target_field(data)


class IndicatorOut(BaseModel):
    code: str = Field(description="Indicator code (指标编码), e.g. `1.4.02`.")
    name_zh: str = Field(description=ABOUT["name_zh"])
    name_en: str = Field(description=ABOUT["name_en"])
    category: Category = Field(description=ABOUT["category"])
    group: str = Field(description=ABOUT["group"])
    kind: Kind = Field(description=ABOUT["kind"])
    unit: str = Field(description=ABOUT["unit"])
    value_type: ValueType = Field(description=ABOUT["value_type"])
    direction: Direction = Field(description=ABOUT["direction"])
    frequency: Frequency = Field(description=ABOUT["frequency"])
    baseline: YearValue | None = Field(description=ABOUT["baseline"])
    target: YearValue | None = Field(description=ABOUT["target"])
    targets: list[YearValue] = Field(description=ABOUT["targets"])
    min_value: float | None = Field(description=ABOUT["min_value"])
    max_value: float | None = Field(description=ABOUT["max_value"])
    lead_department: str = Field(description=ABOUT["lead_department"])
    cooperating_departments: list[str] = Field(description=ABOUT["cooperating_departments"])
    weight: float = Field(description=ABOUT["weight"])
    definition: str = Field(description=ABOUT["definition"])
    source: Source = Field(description=ABOUT["source"])
    numerator_label: str | None = Field(description=ABOUT["numerator_label"])
    denominator_label: str | None = Field(description=ABOUT["denominator_label"])
    provenance: str | None = Field(description=ABOUT["provenance"])
    version: int = Field(description="Definition version (版本号): 1 when defined; every revision adds one.")
    valid_from: datetime = Field(description="When this version takes force (生效时间), UTC ISO 8601.")
    revised_at: datetime = Field(description="When this version was recorded (修订时间), UTC ISO 8601.")
