"""All SQL of submissions and their revisions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.actor import Actor
from app.files.models import StoredFile
from app.indicators.models import Indicator, IndicatorVersion
from app.submissions.models import Submission, SubmissionEvidenceFile, SubmissionRevision
from app.submissions.visibility import visible_to


@dataclass(frozen=True)
class SubmissionFilter:
    indicator: str | None = None
    period: str | None = None
    department: str | None = None
    status: str | None = None


async def get(session: AsyncSession, submission_id: int, *, for_update: bool = False) -> Submission | None:
    query = select(Submission).where(col(Submission.id) == submission_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def find_existing(session: AsyncSession, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Ids of submissions that already exist for these (indicator, period) pairs."""
    wanted = list(set(pairs))
    if not wanted:
        return {}
    result = await session.execute(
        select(col(Submission.indicator), col(Submission.period), col(Submission.id)).where(
            tuple_(col(Submission.indicator), col(Submission.period)).in_(wanted)
        )
    )
    return {(row[0], row[1]): row[2] for row in result if row[2] is not None}


async def list_visible(
    session: AsyncSession, actor: Actor, filters: SubmissionFilter, *, after_id: int | None, limit: int
) -> Sequence[Submission]:
    query = select(Submission).where(visible_to(actor)).order_by(col(Submission.id))
    for column, value in (
        (Submission.indicator, filters.indicator),
        (Submission.period, filters.period),
        (Submission.department, filters.department),
        (Submission.status, filters.status),
    ):
        if value is not None:
            query = query.where(col(column) == value)
    if after_id is not None:
        query = query.where(col(Submission.id) > after_id)
    return (await session.execute(query.limit(limit))).scalars().all()


async def previous_values_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, float]:
    """For stored submissions: the latest approved value of an earlier period of the same indicator."""
    if not ids:
        return {}
    earlier = Submission.__table__.alias("earlier")  # type: ignore[attr-defined]
    previous = (
        select(earlier.c.value)
        .where(
            earlier.c.indicator == col(Submission.indicator),
            earlier.c.status == "approved",
            earlier.c.period_start < col(Submission.period_start),
            earlier.c.value.is_not(None),
        )
        .order_by(earlier.c.period_start.desc())
        .limit(1)
        .scalar_subquery()
    )
    result = await session.execute(select(col(Submission.id), previous).where(col(Submission.id).in_(ids)))
    return {row[0]: row[1] for row in result if row[1] is not None}


async def previous_approved_values(
    session: AsyncSession, keys: Iterable[tuple[str, date]]
) -> dict[tuple[str, date], float]:
    """For each (indicator, period start): the latest approved value of an earlier period."""
    found: dict[tuple[str, date], float] = {}
    for indicator, start in set(keys):
        result = await session.execute(
            select(col(Submission.value))
            .where(
                col(Submission.indicator) == indicator,
                col(Submission.status) == "approved",
                col(Submission.period_start) < start,
                col(Submission.value).is_not(None),
            )
            .order_by(col(Submission.period_start).desc())
            .limit(1)
        )
        value = result.scalar_one_or_none()
        if value is not None:
            found[(indicator, start)] = value
    return found


async def value_types(session: AsyncSession, versions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """The value type of each (indicator code, definition version)."""
    wanted = list(set(versions))
    if not wanted:
        return {}
    result = await session.execute(
        select(col(Indicator.code), col(IndicatorVersion.version), col(IndicatorVersion.value_type))
        .join(IndicatorVersion, col(IndicatorVersion.indicator_id) == col(Indicator.id))
        .where(tuple_(col(Indicator.code), col(IndicatorVersion.version)).in_(wanted))
    )
    return {(row[0], row[1]): row[2] for row in result}


async def files_of_department(session: AsyncSession, file_ids: Sequence[str], department: str) -> set[str]:
    if not file_ids:
        return set()
    result = await session.execute(
        select(col(StoredFile.id)).where(col(StoredFile.id).in_(file_ids), col(StoredFile.department) == department)
    )
    return set(result.scalars())


async def set_evidence_files(session: AsyncSession, submission_id: int, file_ids: Sequence[str]) -> None:
    await session.execute(
        delete(SubmissionEvidenceFile).where(col(SubmissionEvidenceFile.submission_id) == submission_id)
    )
    session.add_all(SubmissionEvidenceFile(submission_id=submission_id, file_id=f) for f in dict.fromkeys(file_ids))


async def revisions(
    session: AsyncSession, submission_id: int, *, after_revision: int | None, limit: int
) -> Sequence[SubmissionRevision]:
    query = (
        select(SubmissionRevision)
        .where(col(SubmissionRevision.submission_id) == submission_id)
        .order_by(col(SubmissionRevision.revision))
    )
    if after_revision is not None:
        query = query.where(col(SubmissionRevision.revision) > after_revision)
    return (await session.execute(query.limit(limit))).scalars().all()
