"""Boards and scorecards as the API shows them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.periods import Period
from app.core.versioned_cache import VersionedCache
from app.indicators.schemas import YearValue
from app.indicators.service import present_value
from app.scores import service
from app.scores.schemas import CategoryScoreOut, IndicatorScoreOut, MeanOut, ScoresOut
from app.scores.service import CATEGORY_NAMES, Board, IndicatorScore


def _point(point: tuple[int, float] | None, value_type: str) -> YearValue | None:
    if point is None:
        return None
    shown = present_value(point[1], value_type)
    assert shown is not None
    return YearValue(year=point[0], value=shown)


def indicator_out(s: IndicatorScore) -> IndicatorScoreOut:
    d = s.definition
    return IndicatorScoreOut(
        code=s.code, name_zh=d.name_zh, name_en=d.name_en, category=d.category, direction=d.direction,
        weight=d.weight, source=d.source, version=d.version, period=s.period,
        value=present_value(s.value, d.value_type), numerator=s.numerator, denominator=s.denominator,
        previous_value=present_value(s.previous, d.value_type),
        target=_point(s.target, d.value_type), baseline=_point(s.baseline, d.value_type),
        score=s.outcome.score, status=s.outcome.status, expected_progress=s.outcome.expected_progress,
        formula=s.outcome.formula,
    )


def scores_out(board: Board) -> ScoresOut:
    overall = board.overall
    return ScoresOut(
        period=board.period.label, as_of=board.as_of, include=board.include,
        overall=MeanOut(score=overall.score, coverage=overall.coverage),
        categories=[CategoryScoreOut(code=code, name_zh=CATEGORY_NAMES[code][0], name_en=CATEGORY_NAMES[code][1],
                                     score=mean.score, coverage=mean.coverage)
                    for code, mean in board.categories()],
        indicators=[indicator_out(s) for s in board.indicators],
    )


_documents: VersionedCache[bytes] = VersionedCache(64)


async def scores_json(session: AsyncSession, period: Period, include: service.Include,
                      as_of: datetime | None, version: service.DataVersion) -> bytes:
    """The scores document as JSON at ``version`` (the session's current data version), rendered once per
    data version: most reads find nothing changed."""
    async def render() -> bytes:
        return scores_out(await service.board(session, period, include, as_of)).model_dump_json().encode()

    return await _documents.get(session, (period.label, include, as_of), version, render)
