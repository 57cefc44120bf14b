"""All SQL of scores and scorecards: a handful of queries bounded by the catalogue and one year's
periods, never by the length of the history (indexes on submissions.period and on
submission_revisions (submission_id, revision))."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from app.cells.models import CellQuotaChange
from app.departments.models import Department
from app.events.models import OutboxEvent
from app.indicators.models import Indicator, IndicatorVersion
from app.submissions.models import Submission, SubmissionRevision


async def definitions(session: AsyncSession, moment: datetime, known_at: datetime | None
                      ) -> Sequence[tuple[str, IndicatorVersion]]:
    """The indicators in force by ``moment`` (SPEC §6.1), each with its version in force then: the newest valid
    from before it, ordered by code. An indicator with no version valid before the moment is left out.

    With ``known_at``, only versions recorded by then count, except the catalogue's first versions: they
    transcribe the plan's own annex, adopted before this service recorded anything (docs/decisions/0022)."""
    known = ([or_(col(IndicatorVersion.created_at) <= known_at,
                  and_(col(IndicatorVersion.version) == 1, col(IndicatorVersion.catalogue_digest).is_not(None)))]
             if known_at is not None else [])
    in_force = (
        select(col(IndicatorVersion.indicator_id).label("indicator_id"),
               func.max(col(IndicatorVersion.version)).label("version"))
        .where(col(IndicatorVersion.valid_from) < moment, *known)
        .group_by(col(IndicatorVersion.indicator_id))
        .subquery()
    )
    result = await session.execute(
        select(col(Indicator.code), IndicatorVersion)
        .join(in_force, in_force.c.indicator_id == col(Indicator.id))
        .join(IndicatorVersion, and_(col(IndicatorVersion.indicator_id) == col(Indicator.id),
                                     col(IndicatorVersion.version) == in_force.c.version))
        .order_by(col(Indicator.code))
    )
    return [(code, version) for code, version in result]


@dataclass(frozen=True)
class CountedValue:
    indicator: str
    period: str
    value: float | None
    numerator: float | None
    denominator: float | None
    status: str
    approved_at: datetime | None


async def counted_values(session: AsyncSession, periods: Collection[str], statuses: Collection[str],
                         as_of: datetime | None, *, latest_only: bool) -> list[CountedValue]:
    """The values of ``periods`` whose status counts: as stored now, or as they stood at ``as_of``
    (each submission's latest revision at or before it). With ``latest_only``, one per indicator: the one
    of the latest period (a window function, so a year of monthly values is never loaded)."""
    if not periods:
        return []
    order: tuple[Any, ...]
    if as_of is None:
        columns: list[Any] = [col(Submission.indicator), col(Submission.period), col(Submission.value),
                              col(Submission.numerator), col(Submission.denominator), col(Submission.status),
                              col(Submission.approved_at)]
        query = select(*columns).where(col(Submission.period).in_(periods), col(Submission.status).in_(statuses))
        order = (col(Submission.period_end).desc(), col(Submission.period_start).desc())
    elif session.get_bind().dialect.name == "postgresql":
        # For each submission of the periods, its latest revision by then: one backward step on the index
        # (submission_id, revision) per submission (LATERAL … LIMIT 1), so the cost follows the periods'
        # submissions and not the length of the history (a plain join lets the planner hash it all).
        revision = aliased(SubmissionRevision)
        latest = (
            select(col(revision.indicator), col(revision.period), col(revision.value), col(revision.numerator),
                   col(revision.denominator), col(revision.status), col(revision.at))
            .where(col(revision.submission_id) == col(Submission.id), col(revision.at) <= as_of)
            .order_by(col(revision.revision).desc())
            .limit(1)
            .lateral("latest")
        )
        columns = [latest.c.indicator, latest.c.period, latest.c.value, latest.c.numerator, latest.c.denominator,
                   latest.c.status, case((latest.c.status == "approved", latest.c.at))]
        query = (
            select(*columns)
            .select_from(Submission)
            .join(latest, true())
            .where(col(Submission.period).in_(periods), latest.c.status.in_(statuses))
        )
        order = (col(Submission.period_end).desc(), col(Submission.period_start).desc())
    else:
        # SQLite has no LATERAL; its planner looks each revision up by primary key in a nested loop.
        latest_revision = (
            select(col(SubmissionRevision.id))
            .where(col(SubmissionRevision.submission_id) == col(Submission.id),
                   col(SubmissionRevision.at) <= as_of)
            .order_by(col(SubmissionRevision.revision).desc())
            .limit(1)
            .correlate(Submission)
            .scalar_subquery()
        )
        picked = (
            select(col(Submission.period_start).label("period_start"), col(Submission.period_end).label("period_end"),
                   latest_revision.label("revision_id"))
            .where(col(Submission.period).in_(periods))
            .subquery()
        )
        approved_at = case((col(SubmissionRevision.status) == "approved", col(SubmissionRevision.at)))
        columns = [col(SubmissionRevision.indicator), col(SubmissionRevision.period), col(SubmissionRevision.value),
                   col(SubmissionRevision.numerator), col(SubmissionRevision.denominator),
                   col(SubmissionRevision.status), approved_at]
        query = (
            select(*columns)
            .join(picked, picked.c.revision_id == col(SubmissionRevision.id))
            .where(col(SubmissionRevision.status).in_(statuses))
        )
        order = (picked.c.period_end.desc(), picked.c.period_start.desc())
    if latest_only:
        rank = func.row_number().over(partition_by=columns[0], order_by=order).label("rank")
        ranked = query.add_columns(rank).subquery()
        query = select(*[ranked.c[i] for i in range(len(columns))]).where(ranked.c.rank == 1)
    result = await session.execute(query)
    return [CountedValue(*row) for row in result]


@dataclass(frozen=True)
class SubmissionState:
    indicator: str
    period: str
    status: str | None
    first_submitted_at: datetime | None


async def submission_states(session: AsyncSession, indicators: Collection[str], periods: Collection[str],
                            as_of: datetime | None) -> list[SubmissionState]:
    """For scorecards: each submission's status (now, or at ``as_of``) and when it was first submitted."""
    if not indicators or not periods:
        return []
    cutoff = [col(SubmissionRevision.at) <= as_of] if as_of is not None else []
    first_submitted = (
        select(func.min(col(SubmissionRevision.at)))
        .where(col(SubmissionRevision.submission_id) == col(Submission.id),
               col(SubmissionRevision.action) == "submitted", *cutoff)
        .correlate(Submission)
        .scalar_subquery()
    )
    status: Any
    if as_of is None:
        status = col(Submission.status)
    else:
        latest = (
            select(func.max(col(SubmissionRevision.revision)))
            .where(col(SubmissionRevision.submission_id) == col(Submission.id), *cutoff)
            .correlate(Submission)
            .scalar_subquery()
        )
        status = (
            select(col(SubmissionRevision.status))
            .where(col(SubmissionRevision.submission_id) == col(Submission.id),
                   col(SubmissionRevision.revision) == latest)
            .correlate(Submission)
            .scalar_subquery()
        )
    result = await session.execute(
        select(col(Submission.indicator), col(Submission.period), status, first_submitted)
        .where(col(Submission.indicator).in_(indicators), col(Submission.period).in_(periods))
    )
    return [SubmissionState(*row) for row in result]


async def department_names(session: AsyncSession, codes: Collection[str]) -> dict[str, tuple[str, str]]:
    result = await session.execute(
        select(col(Department.code), col(Department.name_zh), col(Department.name_en))
        .where(col(Department.code).in_(codes))
    )
    return {code: (name_zh, name_en) for code, name_zh, name_en in result}


DataVersion = tuple[int, int, int]


def data_version_query() -> Select[int, int, int]:
    """Three maxima (index-only lookups) that grow with every change the figures can depend on: outbox
    events (approvals, reopenings, revisions, certificates), indicator versions (new indicators too), and
    quota changes. Inserting into (or deleting from) any of the three tables notifies ``zwc_data_version``
    on PostgreSQL (migration 5d1c0f7e9a2b)."""
    return select(
        select(func.coalesce(func.max(col(OutboxEvent.id)), 0)).scalar_subquery(),
        select(func.coalesce(func.max(col(IndicatorVersion.id)), 0)).scalar_subquery(),
        select(func.coalesce(func.max(col(CellQuotaChange.id)), 0)).scalar_subquery(),
    )


async def data_version(session: AsyncSession) -> DataVersion:
    row = (await session.execute(data_version_query())).one()
    return int(row[0]), int(row[1]), int(row[2])
