from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.indicators.schemas import NumberOrBool, YearValue

Status = Literal["no_target", "no_data", "achieved", "on_track", "behind"]
IncludeOut = Literal["approved", "submitted"]

# Texts the scores, scorecards and aggregates share.
STATUS = ("Status (评价状态), decided in this order: `no_target` (未设目标值; never for `decrease_vs_previous`), "
          "`no_data` (无数据: no value, or no previous value for `decrease_vs_previous`), `achieved` (已达标, score "
          "100), `on_track` (进度正常, score at or above the expected progress) or `behind` (进度滞后).")
AS_OF = ("The moment the figures stood at (截至时点), UTC ISO 8601 with offset, as asked with `as_of`; null when "
         "they are as of now.")
INCLUDE = ("Which values count (计分口径): `approved` (only approved values, 审核通过) or `submitted` (submitted "
           "ones too, 含已提交待审核), as asked with `include`.")
PERIOD = "The period scored (统计周期): `YYYY`, `YYYYQn` or `YYYY-MM`, as asked."
SCORE_MEAN = ("Score (得分), 0–100 with two decimals: the weight-averaged score of {which} that have one; null "
              "when none has.")
COVERAGE = ("Coverage (覆盖率): {which} with a score / {all}, a fraction from 0 to 1 rounded to four decimals.")


class IndicatorScoreOut(BaseModel):
    code: str = Field(examples=["1.1.03"], description="Indicator code (指标编码).")
    name_zh: str = Field(description="Chinese name (指标名称).")
    name_en: str = Field(description="English name (英文名称).")
    category: str = Field(description="First-level category (一级指标): `source_reduction` (源头减量), "
                                      "`utilization` (资源化利用), `disposal` (最终处置), `support` (保障能力) or "
                                      "`public` (群众获得感).", examples=["source_reduction"])
    direction: str = Field(description="Which way is better (指标方向): `increase` (正向), `decrease` (逆向), "
                                       "`boolean` (是否类) or `decrease_vs_previous` (lower than the previous "
                                       "period, 较上期下降); it picks the formula.")
    weight: float = Field(description="Weight (权重) in the category and overall means.")
    source: Literal["submissions", "cells"] = Field(
        description="Where the value comes from (数据来源): `submissions` (填报, approved department reports) or "
                    "`cells` (counted from the zero-waste cell registry, 无废细胞).")
    version: int = Field(description="The definition version (指标定义版本) the period was scored with: the one in "
                                     "force at the period's end.")
    period: str = Field(description="The period of the value used (数据所属周期): the latest with a counted value "
                                    "inside a longer requested period, or the requested period when there is no "
                                    "value.")
    value: NumberOrBool | None = Field(description="The value used (指标值), in the indicator's unit; given "
                                                   "whenever there is one, whatever the status; null when none.")
    numerator: float | None = Field(description="For rates: the numerator (分子) of the value used; null when not "
                                                "given or not a rate.")
    denominator: float | None = Field(description="For rates: the denominator (分母) of the value used; null when "
                                                  "not given or not a rate.")
    previous_value: NumberOrBool | None = Field(
        description="`decrease_vs_previous` only: the previous period's value (上期数值) the value is compared "
                    "with; null otherwise or when there is none.")
    target: YearValue | None = Field(description="The target the period is scored against (本期适用目标) as {`year`, "
                                                 "`value`}: the first milestone at or after the period's year, else "
                                                 "the last one; null when none is set. For 1.4.02 (counted from the "
                                                 "cell registry), the sum of the quotas of every year up to the "
                                                 "period's, when any is set.")
    baseline: YearValue | None = Field(description="Baseline (基准值) as {`year`, `value`}; null when there is "
                                                   "none.")
    score: float | None = Field(description="Score (得分), 0–100 (clamped), two decimals; null for `no_target` and "
                                            "`no_data`.")
    status: Status = Field(description=STATUS)
    expected_progress: float | None = Field(
        description="Expected progress (应达进度): where the score should be by the period's year, 0–100, two "
                    "decimals; 100 in and after the target year; null without a target.")
    formula: str | None = Field(description="The formula with the numbers that produced the score (计算过程), "
                                            "e.g. `100 × v / t = 100 × 45 / 60 = 75`; null when there is no score.")


class MeanOut(BaseModel):
    score: float | None = Field(description=SCORE_MEAN.format(which="all indicators"))
    coverage: float = Field(description=COVERAGE.format(which="Indicators", all="all indicators"))


class CategoryScoreOut(BaseModel):
    code: str = Field(examples=["source_reduction"],
                      description="Category code (一级指标): `source_reduction` (源头减量), `utilization` "
                                  "(资源化利用), `disposal` (最终处置), `support` (保障能力) or `public` (群众获得感).")
    name_zh: str = Field(description="Chinese name (类别名称), e.g. `源头减量`.")
    name_en: str = Field(description="English name (英文名称), e.g. `Source reduction`.")
    score: float | None = Field(description=SCORE_MEAN.format(which="the category's indicators"))
    coverage: float = Field(description=COVERAGE.format(which="The category's indicators",
                                                        all="its indicators"))


class ScoresOut(BaseModel):
    period: str = Field(examples=["2025"], description=PERIOD)
    as_of: datetime | None = Field(description=AS_OF)
    include: IncludeOut = Field(description=INCLUDE)
    overall: MeanOut = Field(description="Overall score and coverage (总体得分) over every indicator.")
    categories: list[CategoryScoreOut] = Field(description="Per first-level category (一级指标), in the order "
                                                           "`source_reduction`, `utilization`, `disposal`, "
                                                           "`support`, `public`.")
    indicators: list[IndicatorScoreOut] = Field(description="Every indicator of the catalogue (全部指标), by "
                                                            "code, each with its status.")


class CompletenessOut(BaseModel):
    expected: int = Field(description="Values expected (应报数): for each indicator the department leads that is "
                                      "fed by submissions, the periods of its frequency inside the requested one "
                                      "that have ended (by `as_of`, else now).")
    submitted: int = Field(description="Of those, values submitted or approved (已报数).")
    approved: int = Field(description="Of those, values approved (已审核通过数).")
    rate: float | None = Field(description="Completeness rate (填报完整率): submitted / expected, four decimals; "
                                           "null when nothing is expected.")


class TimelinessOut(BaseModel):
    on_time: int = Field(description="Submitted on time (按时报送): first submitted by the period's end + "
                                     "`deadline_days`.")
    late: int = Field(description="Submitted late (逾期报送): first submitted after that deadline.")
    overdue: int = Field(description="Overdue (逾期未报): never submitted, and the deadline has passed.")
    rate: float | None = Field(description="Timeliness rate (及时率): on_time / (on_time + late + overdue), four "
                                           "decimals; null when that sum is 0.")


class DepartmentScorecardOut(BaseModel):
    department: str = Field(examples=["sthj"], description="Department code (部门代码).")
    name_zh: str = Field(description="Chinese name (部门名称).")
    name_en: str = Field(description="English name (英文名称).")
    score: float | None = Field(description=SCORE_MEAN.format(which="the indicators it leads"))
    coverage: float = Field(description=COVERAGE.format(which="Indicators it leads",
                                                        all="the indicators it leads"))
    indicators: list[IndicatorScoreOut] = Field(description="The indicators the department leads (牵头指标), by "
                                                            "code.")
    completeness: CompletenessOut = Field(description="How completely it reported (填报完整性).")
    timeliness: TimelinessOut = Field(description="How timely it reported (填报及时性).")


class ScorecardsOut(BaseModel):
    period: str = Field(examples=["2025"], description=PERIOD)
    as_of: datetime | None = Field(description=AS_OF)
    include: IncludeOut = Field(description=INCLUDE)
    deadline_days: int = Field(description="Reporting deadline (填报时限): days after a period's end within which "
                                           "its value counts as on time (`ZWC_SUBMISSION_DEADLINE_DAYS`, default "
                                           "30).", examples=[30])
    items: list[DepartmentScorecardOut] = Field(description="One scorecard per department that leads indicators "
                                                            "(部门评分卡), by department code.")
    next_cursor: str | None = Field(description="Cursor of the next page (下一页游标): pass it as `cursor`; null on "
                                                "the last page.")
