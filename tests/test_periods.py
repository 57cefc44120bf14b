"""Period labels and their Asia/Shanghai boundaries, worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.core.periods import parse_period, today_in_shanghai


@pytest.mark.parametrize(
    ("label", "frequency", "start", "end"),
    [
        ("2024", "annual", date(2024, 1, 1), date(2025, 1, 1)),
        ("2025Q1", "quarterly", date(2025, 1, 1), date(2025, 4, 1)),
        ("2025Q4", "quarterly", date(2025, 10, 1), date(2026, 1, 1)),
        ("2024-02", "monthly", date(2024, 2, 1), date(2024, 3, 1)),
        ("2025-12", "monthly", date(2025, 12, 1), date(2026, 1, 1)),
    ],
)
def test_valid_labels(label: str, frequency: str, start: date, end: date) -> None:
    period = parse_period(label)
    assert period is not None
    assert (period.frequency, period.start, period.end, period.label) == (frequency, start, end, label)


@pytest.mark.parametrize("label", ["24", "2024Q0", "2024Q5", "2024-13", "2024-00", "2024-1", "2024q1", " 2024",
                                   "2024-Q1", "2024H1", "", "２０２４", "2024\n", "2024-01\n",
                                   # found by the fuzz suite: no date holds these (they answered 500)
                                   "0000", "0000Q1", "0000-01", "9999", "9999Q4", "9999-12"])
def test_invalid_labels(label: str) -> None:
    assert parse_period(label) is None


def test_period_end_instant_is_shanghai_midnight() -> None:
    period = parse_period("2025")
    assert period is not None
    assert period.end_instant.astimezone(UTC) == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)


def test_today_turns_at_shanghai_midnight() -> None:
    assert today_in_shanghai(datetime(2025, 12, 31, 15, 59, tzinfo=UTC)) == date(2025, 12, 31)
    assert today_in_shanghai(datetime(2025, 12, 31, 16, 0, tzinfo=UTC)) == date(2026, 1, 1)


@pytest.mark.parametrize(
    ("label", "previous"),
    [("2024", "2023"), ("2025Q1", "2024Q4"), ("2025Q3", "2025Q2"), ("2025-01", "2024-12"), ("2025-07", "2025-06")],
)
def test_previous_period_of_the_same_frequency(label: str, previous: str) -> None:
    period = parse_period(label)
    assert period is not None
    assert period.previous().label == previous


@pytest.mark.parametrize(
    ("label", "frequency", "inside"),
    [
        ("2024", "annual", ["2024"]),
        ("2024", "quarterly", ["2024Q1", "2024Q2", "2024Q3", "2024Q4"]),
        ("2024", "monthly", [f"2024-{m:02d}" for m in range(1, 13)]),
        ("2024Q3", "monthly", ["2024-07", "2024-08", "2024-09"]),
        ("2024Q3", "quarterly", ["2024Q3"]),
        ("2024Q3", "annual", []),
        ("2024-05", "monthly", ["2024-05"]),
        ("2024-05", "quarterly", []),
    ],
)
def test_periods_within(label: str, frequency: str, inside: list[str]) -> None:
    period = parse_period(label)
    assert period is not None
    assert [p.label for p in period.within(frequency)] == inside  # type: ignore[arg-type]


def test_last_day() -> None:
    assert [parse_period(label).last_day for label in ("2024", "2024Q1", "2024-02")] == [  # type: ignore[union-attr]
        date(2024, 12, 31), date(2024, 3, 31), date(2024, 2, 29)]
