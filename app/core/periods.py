"""Reporting periods: ``YYYY`` (annual), ``YYYYQn`` (quarterly), ``YYYY-MM`` (monthly).

Boundaries are Asia/Shanghai dates; a period runs from ``start`` (inclusive) to ``end``
(exclusive, the next period's start).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Literal

from app.core.issues import issue
from app.core.timeutil import SHANGHAI

Frequency = Literal["annual", "quarterly", "monthly"]

EARLIEST_YEAR = 2016
_ANNUAL = re.compile(r"([0-9]{4})")
_QUARTERLY = re.compile(r"([0-9]{4})Q([1-4])")
_MONTHLY = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True, order=True)
class Period:
    start: date
    end: date
    frequency: Frequency
    label: str

    @property
    def year(self) -> int:
        return self.start.year

    @property
    def end_instant(self) -> datetime:
        """The moment the period ends (the next period's first instant, Asia/Shanghai)."""
        return datetime.combine(self.end, time.min, tzinfo=SHANGHAI)

    @property
    def last_day(self) -> date:
        return date.fromordinal(self.end.toordinal() - 1)

    def has_started(self, today: date) -> bool:
        return self.start <= today

    def previous(self) -> Period:
        """The period of the same frequency just before this one."""
        if self.frequency == "annual":
            return _annual(self.year - 1)
        if self.frequency == "quarterly":
            quarter = (self.start.month - 1) // 3 + 1
            return _quarter(self.year - 1, 4) if quarter == 1 else _quarter(self.year, quarter - 1)
        return _month(self.year - 1, 12) if self.start.month == 1 else _month(self.year, self.start.month - 1)

    def within(self, frequency: Frequency) -> list[Period]:
        """The periods of ``frequency`` that lie inside this one, in order (none when coarser)."""
        if frequency == self.frequency:
            return [self]
        if frequency == "quarterly" and self.frequency == "annual":
            return [_quarter(self.year, quarter) for quarter in range(1, 5)]
        if frequency == "monthly" and self.frequency != "monthly":
            first = self.start.month
            return [_month(self.year, month) for month in range(first, first + (12 if self.frequency == "annual"
                                                                               else 3))]
        return []


def _month_start(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def _annual(year: int) -> Period:
    return Period(date(year, 1, 1), date(year + 1, 1, 1), "annual", f"{year:04d}")


def _quarter(year: int, quarter: int) -> Period:
    first_month = 3 * (quarter - 1) + 1
    return Period(date(year, first_month, 1), _month_start(year, first_month + 3), "quarterly", f"{year:04d}Q{quarter}")


def _month(year: int, month: int) -> Period:
    return Period(date(year, month, 1), _month_start(year, month + 1), "monthly", f"{year:04d}-{month:02d}")


def parse_period(label: str) -> Period | None:
    """The period a label names, or None when it is not one of the three forms.

    A year whose period (or whose end, the next period's start) a date cannot hold — 0000, 9999 — names
    no period.
    """
    match = _ANNUAL.fullmatch(label) or _QUARTERLY.fullmatch(label) or _MONTHLY.fullmatch(label)
    if match is None or not 1 <= int(match[1]) < date.max.year:
        return None
    if match.re is _ANNUAL:
        return _annual(int(match[1]))
    if match.re is _QUARTERLY:
        return _quarter(int(match[1]), int(match[2]))
    return _month(int(match[1]), int(match[2]))


def today_in_shanghai(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date()


PERIOD_ISSUES: dict[str, tuple[str, str]] = {
    "invalid_period": ("a period is YYYY, YYYYQn or YYYY-MM", "期间格式应为 YYYY、YYYYQn 或 YYYY-MM"),
    "period_too_early": (f"periods start in {EARLIEST_YEAR}", f"期间不得早于 {EARLIEST_YEAR} 年"),
    "period_not_started": ("this period has not started yet (Asia/Shanghai)", "该期间尚未开始（北京时间）"),
}


def check_period(label: str, now: datetime, loc: Sequence[str | int] = ("period",)
                 ) -> tuple[Period | None, list[dict[str, Any]]]:
    """The period a label names and why it cannot be used: malformed, before 2016, or not started."""
    period = parse_period(label)
    if period is None:
        return None, [issue(loc, "invalid_period", PERIOD_ISSUES)]
    if period.year < EARLIEST_YEAR:
        return period, [issue(loc, "period_too_early", PERIOD_ISSUES)]
    if not period.has_started(today_in_shanghai(now)):
        return period, [issue(loc, "period_not_started", PERIOD_ISSUES)]
    return period, []
