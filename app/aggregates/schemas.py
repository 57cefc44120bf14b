from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.indicators.schemas import NumberOrBool
from app.scores.schemas import AS_OF, STATUS, Status


class RegionOut(BaseModel):
    code: str = Field(examples=["410183"], description="Administrative division code (行政区划代码) of Xinmi "
                                                       "(新密市): always `410183`.")
    name_zh: str = Field(examples=["新密市"], description="Region name (行政区划名称): always `新密市`.")


class AggregateIndicatorOut(BaseModel):
    code: str = Field(examples=["2.4.01"], description="Indicator code (指标编码).")
    name_zh: str = Field(description="Chinese name (指标名称).")
    unit: str = Field(description="Unit of measurement (计量单位), e.g. `%`, `万吨`.")
    value: NumberOrBool | None = Field(description="The approved value (审核通过的指标值; a monthly or quarterly "
                                                   "indicator's latest inside the period), or the count from the "
                                                   "cell registry; null when there is none.")
    numerator: float | None = Field(description="For rates: the numerator (分子) of the value. Sum numerators and "
                                                "denominators across counties, never average rates. Null when not "
                                                "given or not a rate.")
    denominator: float | None = Field(description="For rates: the denominator (分母) of the value; null when not "
                                                  "given or not a rate.")
    target: NumberOrBool | None = Field(description="The target value (目标值) in force for the period, in the "
                                                    "indicator's unit; null when none is set.")
    target_year: int | None = Field(description="The year the target is set for (目标年份); null when there is no "
                                                 "target.")
    score: float | None = Field(description="Score (得分), 0–100 with two decimals, as in `GET /v1/scores` "
                                            "counting approved values only; null for `no_target` and `no_data`.")
    status: Status = Field(description=STATUS)
    approved_at: datetime | None = Field(description="When the value was approved (审核通过时间), UTC ISO 8601 with "
                                                     "offset; null when there is no approved value (and for counts "
                                                     "from the cell registry).")


class AggregateCellsOut(BaseModel):
    type: str = Field(examples=["school"], description="Cell-type code (无废细胞类型), e.g. `school` (无废学校), "
                                                       "as in `GET /v1/cell-types`; every type is listed.")
    certified: int = Field(description="Cells of this type certified (已认证) and valid at the end of the period.")
    quota: int | None = Field(description="The year's quota (下达任务数) assigned by Zhengzhou; null when none is "
                                          "set.")


class AggregatesOut(BaseModel):
    region: RegionOut = Field(description="The reporting region (行政区划).")
    period: str = Field(examples=["2025"], description="The period (统计周期): `YYYY`, `YYYYQn` or `YYYY-MM`, as "
                                                       "asked.")
    as_of: datetime | None = Field(default=None, description=AS_OF)
    generated_at: datetime = Field(description="When this answer was made (生成时间), UTC ISO 8601 with offset; not "
                                               "covered by the ETag.")
    indicators: list[AggregateIndicatorOut] = Field(description="Every indicator of the catalogue (全部指标), by "
                                                                "code, with nulls where there is no value.")
    cells: list[AggregateCellsOut] = Field(description="Zero-waste cells (无废细胞) per type, by type code.")
