"""Scores (SPEC §6) and department scorecards."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime

from app.auth.dependencies import Caller
from app.core.db import ReadSessionDep
from app.core.openapi import problem_responses
from app.core.pagination import PageDep, encode_cursor
from app.core.routing import ApiRoute
from app.core.timeutil import utcnow
from app.scores import service
from app.scores.schemas import ScorecardsOut, ScoresOut
from app.scores.scorecards import scorecards
from app.scores.views import scores_json

router = APIRouter(prefix="/scores", tags=["scores"], route_class=ApiRoute)

PeriodQuery = Annotated[str, Query(
    max_length=7, description="Reporting period (统计周期): `YYYY`, `YYYYQn` or `YYYY-MM`, from 2016 up to the "
                              "current period (Asia/Shanghai); 422 when malformed or not started. In a year, a "
                              "monthly or quarterly indicator counts with its latest value inside it.",
    examples=["2025"])]
IncludeQuery = Annotated[service.Include, Query(
    description="Which values count (计分口径): `approved` (default; only approved values, 审核通过) or "
                "`submitted` (submitted values too, 含已提交待审核).")]
AsOfQuery = Annotated[AwareDatetime | None, Query(
    description="Point in time (截至时点), ISO 8601 with an offset, not in the future: answer as the figures stood "
                "at that moment, from the revision history; omit for now.",
    examples=["2025-06-30T23:59:59+08:00"])]


@router.get("", response_model=ScoresOut, operation_id="getScores", responses=problem_responses(422))
async def get_scores(request: Request, _caller: Caller, session: ReadSessionDep, period: PeriodQuery,
                     include: IncludeQuery = "approved", as_of: AsOfQuery = None) -> Response:
    """How far Xinmi is from its targets for a period: every indicator's score with its status, inputs and
    formula, each category's and the overall weighted mean with coverage (SPEC §6). A monthly or quarterly
    indicator counts in a longer period with its latest value inside it."""
    resolved, as_of = service.resolve(period, as_of, utcnow())
    version = request.state.data_version = await service.data_version(session)  # for the read cache
    return Response(await scores_json(session, resolved, include, as_of, version), media_type="application/json")


@router.get("/departments", response_model=ScorecardsOut, operation_id="getDepartmentScorecards",
            responses=problem_responses(400, 422))
async def get_department_scorecards(request: Request, _caller: Caller, session: ReadSessionDep, page: PageDep,
                                    period: PeriodQuery, include: IncludeQuery = "approved",
                                    as_of: AsOfQuery = None) -> ScorecardsOut:
    """Per department that leads indicators: their scores and weighted mean, completeness (values expected
    for the period's ended sub-periods vs submitted vs approved) and timeliness (first submitted within
    `deadline_days` of the period's end)."""
    now = utcnow()
    resolved, as_of = service.resolve(period, as_of, now)
    position = page.position("scorecards", str)
    deadline_days: int = request.app.state.settings.submission_deadline_days
    board = await service.board(session, resolved, include, as_of)
    cards = await scorecards(session, board, deadline_days=deadline_days, now=now,
                             after_department=position[0] if position else None, limit=page.limit + 1)
    items = cards[:page.limit]
    next_cursor = encode_cursor("scorecards", [items[-1].department]) if len(cards) > page.limit else None
    return ScorecardsOut(period=resolved.label, as_of=as_of, include=include, deadline_days=deadline_days,
                         items=items, next_cursor=next_cursor)
