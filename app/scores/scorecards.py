"""Department scorecards: the scores of the indicators a department leads, and how complete and timely
its reporting is for the period (docs/decisions/0014-scores.md)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.scores import formulas, repository
from app.scores.schemas import CompletenessOut, DepartmentScorecardOut, TimelinessOut
from app.scores.service import Board, IndicatorScore
from app.scores.views import indicator_out


@dataclass
class _Tally:
    expected: int = 0
    submitted: int = 0
    approved: int = 0
    on_time: int = 0
    late: int = 0
    overdue: int = 0


def _rate(part: int, whole: int) -> float | None:
    return formulas.round_half_up(part / whole, 4) if whole else None


async def scorecards(session: AsyncSession, board: Board, *, deadline_days: int, now: datetime,
                     after_department: str | None, limit: int) -> list[DepartmentScorecardOut]:
    """Scorecards of departments (ordered by code, after ``after_department``) that lead an indicator."""
    cutoff = board.as_of or now
    led: dict[str, list[IndicatorScore]] = defaultdict(list)
    for s in board.indicators:
        led[s.definition.lead_department].append(s)
    departments = sorted(code for code in led if after_department is None or code > after_department)[:limit]

    # Every (indicator, period) pair whose period has ended by the cutoff is expected.
    expected: list[tuple[IndicatorScore, str, datetime]] = []
    for department in departments:
        for s in led[department]:
            if s.definition.source != "submissions":
                continue
            for sub in board.period.within(s.definition.frequency):  # type: ignore[arg-type]
                if sub.end_instant <= cutoff:
                    expected.append((s, sub.label, sub.end_instant + timedelta(days=deadline_days)))
    states = {(state.indicator, state.period): state for state in await repository.submission_states(
        session, {s.code for s, _, _ in expected}, {label for _, label, _ in expected}, board.as_of)}

    tallies: dict[str, _Tally] = defaultdict(_Tally)
    for s, label, deadline in expected:
        tally = tallies[s.definition.lead_department]
        tally.expected += 1
        state = states.get((s.code, label))
        status = state.status if state is not None else None
        tally.submitted += status in ("submitted", "approved")
        tally.approved += status == "approved"
        first = state.first_submitted_at if state is not None else None
        if first is not None:
            tally.on_time += first <= deadline
            tally.late += first > deadline
        elif deadline <= cutoff:
            tally.overdue += 1

    names = await repository.department_names(session, departments)
    cards = []
    for department in departments:
        mean = board.mean(led[department])
        t = tallies[department]
        name_zh, name_en = names.get(department, (department, department))
        cards.append(DepartmentScorecardOut(
            department=department, name_zh=name_zh, name_en=name_en, score=mean.score, coverage=mean.coverage,
            indicators=[indicator_out(s) for s in led[department]],
            completeness=CompletenessOut(expected=t.expected, submitted=t.submitted, approved=t.approved,
                                         rate=_rate(t.submitted, t.expected)),
            timeliness=TimelinessOut(on_time=t.on_time, late=t.late, overdue=t.overdue,
                                     rate=_rate(t.on_time, t.on_time + t.late + t.overdue)),
        ))
    return cards
