"""The batch rules over the rows of an upload, each problem located by its sheet row.

Besides the rules of every submission (`rules.check`, through `batch.check_all`), an upload has its
own: a value typed as a percentage ("62.5%", or a spreadsheet's percent-formatted 0.625) stands only on
a `percent` indicator, which only the indicator version in force for the row's period tells. Messages
that tell what to do name the sheet's columns (数值, 分子, 分母, 期间) rather than the API's fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.actor import Actor
from app.core.errors import Unprocessable
from app.core.issues import issue
from app.core.periods import parse_period
from app.core.problems import validation_errors
from app.indicators import repository as indicators
from app.indicators.bounds import number_text, refused
from app.indicators.models import IndicatorVersion
from app.submissions import batch
from app.submissions.excel import COLUMNS
from app.submissions.excel_read import ParsedRow
from app.submissions.rules import ISSUES as RULE_ISSUES
from app.submissions.rules import Checked, Plausibility, rate_value
from app.submissions.schemas import SubmissionCreate

ISSUES: dict[str, tuple[str, str]] = {
    "percent_not_percent": (
        "{typed} is typed as a percentage, but this indicator is not a percentage (unit: {unit}): type the number "
        "without %",
        "{typed} 是百分数，但该指标不是百分比指标（单位：{unit}）：请直接填写数字，不带 %",
    ),
    "percent_yes_no": ("{typed} is typed as a percentage, but this is a yes/no indicator: choose 是 (yes) or 否 (no)",
                       "{typed} 是百分数，但该指标为是否类指标：请选择“是”或“否”"),
    "value_mismatch": (
        "value {value} differs from numerator/denominator ({computed}): leave the value empty (it is computed from "
        "numerator and denominator), or fill in the value alone with numerator and denominator empty",
        "数值 {value} 与分子/分母计算结果（{computed}）不一致：请将“数值”留空（由分子、分母自动计算），"
        "或只填“数值”并将分子、分母留空",
    ),
    "missing": ("this row has no {zh} ({en}): fill it in", "本行未填写“{zh}”"),
}
_COLUMN = {column.key: column for column in COLUMNS}


@dataclass
class _Versions:
    """The indicator version in force for a row's period, as `rules.check` picks it (the period's end, or
    now when the period cannot be read), asked once per indicator and moment."""

    session: AsyncSession
    now: datetime
    found: dict[tuple[str, datetime], IndicatorVersion | None] = field(default_factory=dict)

    async def of(self, indicator: str, period: str | None) -> IndicatorVersion | None:
        parsed = parse_period(period) if period is not None else None
        moment = parsed.end_instant if parsed is not None else self.now
        if (indicator, moment) not in self.found:
            self.found[indicator, moment] = await indicators.version_in_force(self.session, indicator, moment)
        return self.found[indicator, moment]


def _error_index(error: Mapping[str, Any]) -> int:
    loc = error.get("loc", [])
    return loc[1] if len(loc) > 1 and isinstance(loc[1], int) else -1


async def _percent_refused(versions: _Versions, row: ParsedRow) -> dict[str, Any] | None:
    """Why a value typed as a percentage cannot stand for the row's indicator; None when it is a percent
    indicator, or when the indicator is unknown (the rules say so)."""
    if row.percent is None or row.indicator is None:
        return None
    version = await versions.of(row.indicator, row.period)
    if version is None or version.value_type == "percent":
        return None
    kind = "percent_yes_no" if version.value_type == "boolean" else "percent_not_percent"
    return {**issue(["items", row.index, "value"], kind, ISSUES, typed=row.percent, unit=version.unit),
            "row": row.row_number}


def _schema_issue(row: ParsedRow, found: dict[str, Any]) -> dict[str, Any]:
    """A schema problem of a row, located in the file; an empty required cell named by its column."""
    loc = ["items", row.index, *found["loc"]]
    if found["type"] == "missing" and len(found["loc"]) == 1 and found["loc"][0] in _COLUMN:
        column = _COLUMN[found["loc"][0]]
        return {**issue(loc, "missing", ISSUES, zh=column.zh, en=column.en), "row": row.row_number}
    return {**found, "loc": loc, "row": row.row_number}


async def check_rows(session: AsyncSession, actor: Actor, rows: Sequence[ParsedRow], now: datetime,
                     plausible: Plausibility) -> list[Checked]:
    """The batch rules over every row; one 422 listing every problem, each with its ``row``.

    Rows whose cells could not be read are reported with the others' rule problems (the rules run
    over the readable rows, their positions mapped back to the file's). A value refused as a
    percentage is left out of its row, so that the row's other problems are reported with it.
    """
    errors: list[dict[str, Any]] = []
    readable: list[tuple[ParsedRow, SubmissionCreate]] = []
    versions = _Versions(session, now)
    for row in rows:
        if row.errors:
            errors += row.errors
            continue
        fields = row.fields()
        percent_problem = await _percent_refused(versions, row)
        if percent_problem is not None:
            errors.append(percent_problem)
            del fields["value"]
        try:
            readable.append((row, SubmissionCreate.model_validate(fields)))
        except ValidationError as exc:
            errors += [_schema_issue(row, found) for found in validation_errors(exc.errors())]
    checked: list[Checked] = []
    if readable:
        try:
            checked = await batch.check_all(session, actor, [item for _, item in readable], now, plausible)
        except Unprocessable as failed:
            errors += await _located(failed.errors or [], readable, versions)
    if errors:
        raise refused(sorted(errors, key=_error_index))
    return checked


def _shown(value: Any) -> str:
    return number_text(value) if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


async def _mismatch(loc: list[Any], item: SubmissionCreate, versions: _Versions) -> dict[str, Any] | None:
    """`value_mismatch` in the sheet's words (what to leave empty), with the rules' figures."""
    version = await versions.of(item.indicator, item.period)
    if version is None or item.numerator is None or not item.denominator:
        return None
    computed = rate_value(item.numerator, item.denominator, version.value_type)
    return issue(loc, "value_mismatch", ISSUES, value=_shown(item.value), computed=round(computed, 6))


async def _located(errors: Sequence[Mapping[str, Any]], readable: Sequence[tuple[ParsedRow, SubmissionCreate]],
                   versions: _Versions) -> list[dict[str, Any]]:
    """Issues of ``check_all`` (located among the readable rows) located in the file, with rows."""
    first_seen: dict[tuple[str, str], ParsedRow] = {}
    for row, item in readable:
        first_seen.setdefault((item.indicator, item.period), row)
    result = []
    for error in errors:
        loc = list(error["loc"])
        if len(loc) < 2 or not isinstance(loc[1], int):
            result.append(dict(error))
            continue
        row, item = readable[loc[1]]
        located = {**error, "loc": ["items", row.index, *loc[2:]], "row": row.row_number}
        if error.get("type") == "duplicate_in_batch":
            first = first_seen[(item.indicator, item.period)]
            located = {**issue(located["loc"], "duplicate_in_batch", RULE_ISSUES, first=first.index,
                               first_number=first.index + 1),
                       "row": row.row_number, "first_row": first.row_number}
        elif error.get("type") == "value_mismatch":
            reworded = await _mismatch(located["loc"], item, versions)
            if reworded is not None:
                located = {**reworded, "row": row.row_number}
        result.append(located)
    return result
