"""The scoring method of SPEC §6, as pure functions of one indicator's inputs.

Where SPEC is silent (docs/decisions/0014-scores.md): a zero span (target equal to baseline, or a zero
target without baseline) scores 100 when the target is reached and 0 otherwise; scores and expected
progress are rounded half-up to two decimals, and the status is decided on the rounded score, so that
what is shown and the status never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

Status = Literal["no_target", "no_data", "achieved", "on_track", "behind"]
PLAN_BASE_YEAR = 2020  # the year before the plan period, the base of expected progress without a baseline


def round_half_up(number: float, places: int) -> float:
    """Rounded as people do it on paper: the shortest decimal form of the double, then half-up."""
    return float(Decimal(repr(number)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _clamp(number: float, low: float = 0.0, high: float = 100.0) -> float:
    return max(low, min(high, number))


def _fmt(number: float) -> str:
    return f"{number:g}" if abs(number) < 1e15 else repr(number)


@dataclass(frozen=True)
class Inputs:
    direction: str
    value: float | None
    target: float | None
    target_year: int | None
    baseline: float | None
    baseline_year: int | None
    previous: float | None = None


@dataclass(frozen=True)
class Outcome:
    score: float | None
    status: Status
    expected_progress: float | None
    formula: str | None


def _raw_score(i: Inputs) -> tuple[float, str]:
    """The unclamped score and the formula with its numbers; value and (where needed) target are set."""
    v = i.value
    assert v is not None
    if i.direction == "boolean":
        return (100.0 if v else 0.0), f"boolean: {'true' if v else 'false'} → {100 if v else 0}"
    if i.direction == "decrease_vs_previous":
        assert i.previous is not None
        below = v < i.previous
        return (100.0 if below else 0.0), (f"decrease_vs_previous: v={_fmt(v)} {'<' if below else '≥'} "
                                           f"previous={_fmt(i.previous)} → {100 if below else 0}")
    t = i.target
    assert t is not None
    b = i.baseline
    if i.direction == "increase":
        if b is not None:
            text = f"100 × (v − b) / (t − b) = 100 × ({_fmt(v)} − {_fmt(b)}) / ({_fmt(t)} − {_fmt(b)})"
            if t == b:
                return (100.0 if v >= t else 0.0), text + " (t = b: 100 when v ≥ t, else 0)"
            return 100.0 * ((v - b) / (t - b)), text
        text = f"100 × v / t = 100 × {_fmt(v)} / {_fmt(t)}"
        if t == 0:
            return (100.0 if v >= t else 0.0), text + " (t = 0: 100 when v ≥ t, else 0)"
        return 100.0 * (v / t), text
    # decrease
    if b is not None:
        text = f"100 × (b − v) / (b − t) = 100 × ({_fmt(b)} − {_fmt(v)}) / ({_fmt(b)} − {_fmt(t)})"
        if t == b:
            return (100.0 if v <= t else 0.0), text + " (t = b: 100 when v ≤ t, else 0)"
        return 100.0 * ((b - v) / (b - t)), text
    if v <= t:
        return 100.0, f"v ≤ t: {_fmt(v)} ≤ {_fmt(t)} → 100"
    return 100.0 * (t / v), f"100 × t / v = 100 × {_fmt(t)} / {_fmt(v)}"


def expected_progress(direction: str, year: int, target_year: int | None, baseline_year: int | None
                      ) -> float | None:
    """How far along the way to the target the period's year should be (0–100), SPEC §6."""
    if direction == "decrease_vs_previous":
        return 100.0  # every year is measured against the one before
    if target_year is None:
        return None
    if year >= target_year:
        return 100.0
    base = baseline_year if baseline_year is not None else PLAN_BASE_YEAR
    if target_year <= base:
        return 100.0
    return round_half_up(_clamp(100.0 * (year - base) / (target_year - base)), 2)


def score(i: Inputs, year: int) -> Outcome:
    """Score, status, expected progress and formula of one indicator for a period of ``year``."""
    progress = expected_progress(i.direction, year, i.target_year, i.baseline_year)
    if i.direction != "decrease_vs_previous" and i.target is None:
        return Outcome(None, "no_target", None, None)
    if i.value is None or (i.direction == "decrease_vs_previous" and i.previous is None):
        return Outcome(None, "no_data", progress, None)
    raw, formula = _raw_score(i)
    shown = round_half_up(_clamp(raw), 2)
    clamp_note = " (clamped to 0–100)" if shown != round_half_up(raw, 2) else ""
    formula = f"{formula} = {_fmt(shown)}{clamp_note}" if "→" not in formula else formula
    assert progress is not None
    status: Status = "achieved" if shown == 100 else "on_track" if shown >= progress else "behind"
    return Outcome(shown, status, progress, formula)


def weighted_mean(scored: Iterable[tuple[float, float]]) -> float | None:
    """The weight-averaged score of (score, weight) pairs, or None when there are none."""
    pairs = list(scored)
    total_weight = sum(weight for _, weight in pairs)
    if not pairs or total_weight == 0:
        return None
    return round_half_up(sum(s * weight for s, weight in pairs) / total_weight, 2)


def coverage(scored: int, total: int) -> float:
    return round_half_up(scored / total, 4) if total else 0.0
