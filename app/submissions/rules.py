"""The rules a submission's fields must keep, checked against the indicator definition in force."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.actor import Actor
from app.core.config import Settings
from app.core.issues import issue
from app.core.periods import PERIOD_ISSUES, Period, check_period
from app.indicators import repository as indicators
from app.indicators.bounds import number_text
from app.indicators.models import IndicatorVersion
from app.indicators.service import value_issues
from app.submissions import repository

RATE_TYPES = ("percent", "ratio")
VALUE_TOLERANCE = 1e-6
FILE_ID = re.compile(r"[0-9a-f]{32}")

ISSUES: dict[str, tuple[str, str]] = {
    **PERIOD_ISSUES,
    "period_frequency": ("this indicator is reported {frequency}", "该指标的填报频次为 {frequency_zh}"),
    "unknown_indicator": ("no such indicator", "指标不存在"),
    "cells_source": ("this indicator is counted from the cell registry; nobody submits it",
                     "该指标由无废细胞登记数据自动生成，无需填报"),
    "not_responsible": ("your department neither leads nor cooperates on this indicator",
                        "本部门不是该指标的牵头或配合部门"),
    "submission_exists": ("a submission for this indicator and period exists (id {existing_id})",
                          "该指标该期间已有填报（id {existing_id}）"),
    "duplicate_in_batch": ("the same indicator and period appear earlier in this batch (items[{first}])",
                           "同一指标同一期间已在本批次第 {first_number} 项出现"),
    "numerator_denominator_pair": ("give numerator and denominator together", "分子和分母必须同时填写"),
    "not_a_rate": ("numerator and denominator are for percent and ratio indicators only",
                   "只有百分比和比率型指标可以填写分子、分母"),
    "value_mismatch": ("value {value} differs from numerator/denominator ({computed}): leave value out (it is "
                       "computed from numerator and denominator), or send value alone with numerator and "
                       "denominator null",
                       "数值 {value} 与分子/分母计算结果（{computed}）不一致：请不传数值（由分子、分母计算），"
                       "或只传数值并将分子、分母设为 null"),
    "implausible_magnitude": ("{value} is larger than any plausible figure{in_unit} (at most {ceiling}); check the "
                              "unit and the decimal point",
                              "{value} 超出{in_unit_zh}合理数值范围（不超过 {ceiling}），请核对单位和小数点"),
    "unknown_file": ("no file with this id was uploaded by your department", "本部门未上传该文件"),
    "value_required": ("a value is needed before submitting", "提交前必须填写数值"),
    "note_required": (
        "the value is over {threshold}% away from the previous approved value ({previous}); explain it in the note",
        "数值与上一期已审核数值（{previous}）相差超过 {threshold}%，请在说明中解释",
    ),
}

FREQUENCY_ZH = {"annual": "年度", "quarterly": "季度", "monthly": "月度"}


@dataclass(frozen=True)
class Plausibility:
    """How large a typed figure may plausibly be, where the indicator sets no maximum: per unit (e.g. 万吨), and
    for every other number (numerators, denominators, units without a ceiling). A figure above it is a slip of
    the unit or of the decimal point (1.2e16 万吨), and a double would not even keep its digits."""

    unit_ceilings: Mapping[str, float]
    max_magnitude: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Plausibility:
        return cls(unit_ceilings=settings.unit_ceilings, max_magnitude=settings.max_magnitude)

    def ceiling(self, unit: str | None) -> float:
        return self.unit_ceilings.get(unit, self.max_magnitude) if unit is not None else self.max_magnitude


def _implausible(loc: list[str | int], value: float, unit: str | None, ceiling: float) -> dict[str, Any]:
    return issue(loc, "implausible_magnitude", ISSUES, value=number_text(value), ceiling=number_text(ceiling),
                 in_unit=f" in {unit}" if unit else "", in_unit_zh=f"以“{unit}”计的" if unit else "")


@dataclass
class Refusal(Exception):
    """Why a submission's fields cannot be stored: invalid (422), forbidden (403) or conflict (409)."""

    kind: Literal["invalid", "forbidden", "conflict"]
    issues: list[dict[str, Any]] = field(default_factory=list)
    existing_id: int | None = None


@dataclass
class Checked:
    """Fields that keep every rule, with the value computed where it is derived."""

    indicator: str
    version: IndicatorVersion
    period: Period
    department: str
    value: float | None
    numerator: float | None
    denominator: float | None
    note: str | None
    evidence: list[Any]
    file_ids: list[str]

    @property
    def value_type(self) -> str:
        return self.version.value_type


def rate_value(numerator: float, denominator: float, value_type: str) -> float:
    """A rate's value (SPEC §2): 100 × n / d for `percent`, n / d for `ratio`."""
    return numerator / denominator * (100 if value_type == "percent" else 1)


def compute_value(
    value: Any, numerator: float | None, denominator: float | None, version: IndicatorVersion,
    plausible: Plausibility,
) -> tuple[Any, list[dict[str, Any]]]:
    """The value to store: given, or computed from numerator and denominator (SPEC §2), within the version's
    bounds (SPEC §6.1) and plausible magnitudes."""
    issues: list[dict[str, Any]] = []
    value_type = version.value_type
    if (numerator is None) != (denominator is None):
        missing = "denominator" if denominator is None else "numerator"
        return value, [issue([missing], "numerator_denominator_pair", ISSUES)]
    if numerator is not None and denominator is not None:
        if value_type not in RATE_TYPES:
            return value, [issue(["numerator"], "not_a_rate", ISSUES)]
        too_large = [(name, number) for name, number in (("numerator", numerator), ("denominator", denominator))
                     if number > plausible.max_magnitude]
        if too_large:
            return value, [_implausible([name], number, None, plausible.max_magnitude) for name, number in too_large]
        computed = rate_value(numerator, denominator, value_type)
        if value is not None and (isinstance(value, bool) or abs(value - computed) > VALUE_TOLERANCE):
            issues.append(issue(["value"], "value_mismatch", ISSUES, value=value, computed=round(computed, 6)))
        value = computed
    if value is not None:
        found = value_issues(["value"], value, value_type, version.min_value, version.max_value)
        ceiling = plausible.ceiling(version.unit)
        if (not found and version.max_value is None and not isinstance(value, bool)
                and abs(value) > ceiling):
            found = [_implausible(["value"], value, version.unit, ceiling)]
        issues += found
    return value, issues


async def check(
    session: AsyncSession, actor: Actor, fields: dict[str, Any], *, now: datetime, plausible: Plausibility
) -> Checked:
    """Every rule for one submission's fields (creation, or an edit merged onto the stored ones)."""
    period, issues = check_period(fields["period"], now)
    moment = period.end_instant if period is not None else now
    version = await indicators.version_in_force(session, fields["indicator"], moment)
    if version is None:
        raise Refusal("invalid", [*issues, issue(["indicator"], "unknown_indicator", ISSUES)])
    if version.source == "cells":
        raise Refusal("invalid", [*issues, issue(["indicator"], "cells_source", ISSUES)])
    if period is not None and not issues and period.frequency != version.frequency:
        issues.append(issue(["period"], "period_frequency", ISSUES, frequency=version.frequency,
                            frequency_zh=FREQUENCY_ZH[version.frequency]))
    assert version.id is not None
    cooperating = (await indicators.cooperators(session, [version.id]))[version.id]
    if actor.department not in (version.lead_department, *cooperating):
        raise Refusal("forbidden", [issue(["indicator"], "not_responsible", ISSUES)])
    value, value_problems = compute_value(fields.get("value"), fields.get("numerator"),
                                          fields.get("denominator"), version, plausible)
    issues += value_problems
    evidence = list(fields.get("evidence") or [])
    file_ids = [item for item in evidence if isinstance(item, str)]
    assert actor.department is not None
    known = await repository.files_of_department(session, [f for f in file_ids if FILE_ID.fullmatch(f)],
                                                 actor.department)
    for index, item in enumerate(evidence):
        if isinstance(item, str) and item not in known:
            issues.append(issue(["evidence", index], "unknown_file", ISSUES))
    if issues:
        raise Refusal("invalid", issues)
    assert period is not None
    return Checked(
        indicator=fields["indicator"],
        version=version,
        period=period,
        department=actor.department,
        value=None if value is None else float(value),
        numerator=fields.get("numerator"),
        denominator=fields.get("denominator"),
        note=fields.get("note"),
        evidence=[item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in evidence],
        file_ids=file_ids,
    )


def is_outlier(value: float | None, previous: float | None, value_type: str, threshold: float) -> bool:
    """More than ``threshold`` (a fraction) above or below the previous approved value."""
    if value is None or previous is None or value_type == "boolean":
        return False
    if previous == 0:
        return value != 0
    return abs(value - previous) / abs(previous) > threshold
