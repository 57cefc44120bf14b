"""Reporting periods: ``YYYY`` (annual), ``YYYYQn`` (quarterly), ``YYYY-MM`` (monthly).

Boundaries are Asia/Shanghai dates; a period runs from ``start`` (inclusive) to ``end``
(exclusive, the next period's start).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Literal

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

    def has_started(self, today: date) -> bool:
        return self.start <= today


def _month_start(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def parse_period(label: str) -> Period | None:
    """The period a label names, or None when it is not one of the three forms."""
    if match := _ANNUAL.fullmatch(label):
        year = int(match[1])
        return Period(date(year, 1, 1), date(year + 1, 1, 1), "annual", label)
    if match := _QUARTERLY.fullmatch(label):
        year, quarter = int(match[1]), int(match[2])
        first_month = 3 * (quarter - 1) + 1
        return Period(date(year, first_month, 1), _month_start(year, first_month + 3), "quarterly", label)
    if match := _MONTHLY.fullmatch(label):
        year, month = int(match[1]), int(match[2])
        return Period(date(year, month, 1), _month_start(year, month + 1), "monthly", label)
    return None


def today_in_shanghai(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date()
