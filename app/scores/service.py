"""How far Xinmi is from its targets for a period: the score board of SPEC §6.

The inputs come from a few bounded queries (the definitions in force, the counted values of the
period's sub-periods, the previous period's values where a direction needs them, and the registry's
counts); the arithmetic is `app.scores.formulas`. A board can be computed as it stood at any moment
(``as_of``) from the revision history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.cells.progress import RegistryFigures, registry_figures
from app.core.errors import Unprocessable
from app.core.issues import issue
from app.core.periods import Period, check_period, parse_period
from app.indicators import repository as indicators_repository
from app.indicators import service as indicators_service
from app.indicators.models import CATEGORIES, FREQUENCIES, IndicatorVersion
from app.scores import formulas, repository
from app.scores.repository import CountedValue

Include = Literal["approved", "submitted"]

CATEGORY_NAMES: dict[str, tuple[str, str]] = {
    "source_reduction": ("源头减量", "Source reduction"),
    "utilization": ("资源化利用", "Resource utilization"),
    "disposal": ("最终处置", "Final disposal"),
    "support": ("保障能力", "Supporting capacity"),
    "public": ("群众获得感", "Public sense of gain"),
}

@dataclass(frozen=True)
class RegistryCount:
    """What an indicator fed by the cell registry counts (SPEC §4.2): the cells of ``types`` built to date (None:
    every type), against the quotas Zhengzhou set up to the period's year or against its own milestones."""

    types: tuple[str, ...] | None
    target_from_quotas: bool


# The catalogue's two; any other indicator with source "cells" counts every type against its own milestones.
REGISTRY_COUNTS: dict[str, RegistryCount] = {
    "1.4.02": RegistryCount(types=None, target_from_quotas=True),
    "5.1.04": RegistryCount(types=("scenic",), target_from_quotas=False),
}
OWN_MILESTONES = RegistryCount(types=None, target_from_quotas=False)


def milestone_for(milestones: list[tuple[int, float]], year: int) -> tuple[int, float] | None:
    """The target a period of ``year`` is scored against (SPEC §6.1): the first milestone at or after the year,
    else the last one; None when there are none."""
    for milestone in milestones:
        if milestone[0] >= year:
            return milestone
    return milestones[-1] if milestones else None


@dataclass(frozen=True)
class IndicatorScore:
    code: str
    definition: IndicatorVersion
    period: str  # of the value used; the requested period when there is none
    value: float | None
    numerator: float | None
    denominator: float | None
    previous: float | None
    target: tuple[int, float] | None
    baseline: tuple[int, float] | None
    approved_at: datetime | None
    outcome: formulas.Outcome


@dataclass(frozen=True)
class Mean:
    score: float | None
    coverage: float


@dataclass(frozen=True)
class Board:
    period: Period
    include: Include
    as_of: datetime | None
    indicators: list[IndicatorScore]
    registry: RegistryFigures

    def mean(self, scores: list[IndicatorScore]) -> Mean:
        scored = [(s.outcome.score, s.definition.weight) for s in scores if s.outcome.score is not None]
        return Mean(formulas.weighted_mean(scored), formulas.coverage(len(scored), len(scores)))

    @property
    def overall(self) -> Mean:
        return self.mean(self.indicators)

    def categories(self) -> list[tuple[str, Mean]]:
        return [(code, self.mean([s for s in self.indicators if s.definition.category == code]))
                for code in CATEGORIES]


DataVersion = repository.DataVersion


async def data_version(session: AsyncSession) -> DataVersion:
    """Grows with every committed change a board can depend on (see the repository)."""
    return await repository.data_version(session)


async def board(session: AsyncSession, period: Period, include: Include, as_of: datetime | None) -> Board:
    definitions = await repository.definitions(session, period.end_instant, as_of)
    statuses = ("approved",) if include == "approved" else ("approved", "submitted")
    labels = {sub.label for frequency in FREQUENCIES for sub in period.within(frequency)}  # type: ignore[arg-type]
    chosen = {counted.indicator: counted for counted in await repository.counted_values(
        session, labels, statuses, as_of, latest_only=True)}

    previous_of: dict[str, str] = {}
    for code, version in definitions:
        latest: CountedValue | None = chosen.get(code)
        if version.direction == "decrease_vs_previous" and latest is not None:
            own_period = parse_period(latest.period)
            assert own_period is not None
            previous_of[code] = own_period.previous().label
    previous_values = {(c.indicator, c.period): c.value for c in await repository.counted_values(
        session, set(previous_of.values()), statuses, as_of, latest_only=False) if c.indicator in previous_of}

    registry = await registry_figures(session, period, as_of)
    milestones = await indicators_repository.milestones(session, [v.id for _, v in definitions if v.id is not None])

    scores = []
    for code, version in definitions:
        assert version.id is not None
        target = milestone_for(indicators_service.milestones_of(version, milestones[version.id]), period.year)
        baseline = ((version.baseline_year, version.baseline_value)
                    if version.baseline_year is not None and version.baseline_value is not None else None)
        value: float | None
        numerator: float | None
        denominator: float | None
        approved_at: datetime | None
        if version.source == "cells":
            counted = REGISTRY_COUNTS.get(code, OWN_MILESTONES)
            count = sum(n for cell_type, n in registry.cumulative.items()
                        if counted.types is None or cell_type in counted.types)
            if counted.target_from_quotas:
                quotas = [q for cell_type, q in registry.quotas_to_date.items()
                          if counted.types is None or cell_type in counted.types]
                target = (period.year, float(sum(quotas))) if quotas else None
            value_period, value, numerator, denominator, approved_at = period.label, float(count), None, None, None
        else:
            used = chosen.get(code)
            value_period = used.period if used is not None else period.label
            value = used.value if used is not None else None
            numerator = used.numerator if used is not None else None
            denominator = used.denominator if used is not None else None
            approved_at = used.approved_at if used is not None else None
        previous = previous_values.get((code, previous_of[code])) if code in previous_of else None
        inputs = formulas.Inputs(
            direction=version.direction, value=value,
            target=target[1] if target else None, target_year=target[0] if target else None,
            baseline=baseline[1] if baseline else None, baseline_year=baseline[0] if baseline else None,
            previous=previous,
        )
        scores.append(IndicatorScore(
            code=code, definition=version, period=value_period, value=value, numerator=numerator,
            denominator=denominator, previous=previous, target=target, baseline=baseline,
            approved_at=approved_at, outcome=formulas.score(inputs, period.year),
        ))
    return Board(period=period, include=include, as_of=as_of, indicators=scores, registry=registry)


ISSUES: dict[str, tuple[str, str]] = {
    "as_of_in_future": ("as_of is in the future", "as_of 不能晚于当前时间"),
}


def resolve(period_label: str, as_of: datetime | None, now: datetime) -> tuple[Period, datetime | None]:
    """The requested period and ``as_of`` in UTC, refusing what cannot be scored: a period malformed,
    before 2016 or not started; an ``as_of`` in the future."""
    period, issues = check_period(period_label, now, loc=("query", "period"))
    if as_of is not None and as_of > now:
        issues.append(issue(["query", "as_of"], "as_of_in_future", ISSUES))
    if issues:
        raise Unprocessable(errors=issues)
    assert period is not None
    return period, as_of.astimezone(UTC) if as_of is not None else None
