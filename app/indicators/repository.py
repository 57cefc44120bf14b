"""All SQL of the indicator catalogue."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.indicators.models import Indicator, IndicatorCooperator, IndicatorMilestone, IndicatorVersion


@dataclass(frozen=True)
class IndicatorFilter:
    category: str | None = None
    kind: str | None = None
    department: str | None = None
    q: str | None = None


async def get_indicator(session: AsyncSession, code: str, *, for_update: bool = False) -> Indicator | None:
    """The indicator; ``for_update`` locks its row (PostgreSQL) so concurrent revisions queue up."""
    query = select(Indicator).where(col(Indicator.code) == code)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    result = await session.execute(query)
    return result.scalar_one_or_none()


async def get_version(session: AsyncSession, indicator_id: int, version: int) -> IndicatorVersion:
    result = await session.execute(
        select(IndicatorVersion).where(
            col(IndicatorVersion.indicator_id) == indicator_id,
            col(IndicatorVersion.version) == version,
        )
    )
    return result.scalar_one()


async def latest_catalogue_version(session: AsyncSession, indicator_id: int) -> IndicatorVersion | None:
    """The newest version that `zwc seed` loaded from the catalogue, if any."""
    result = await session.execute(
        select(IndicatorVersion)
        .where(
            col(IndicatorVersion.indicator_id) == indicator_id,
            col(IndicatorVersion.catalogue_digest).is_not(None),
        )
        .order_by(col(IndicatorVersion.version).desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def cooperators(session: AsyncSession, version_ids: Iterable[int]) -> dict[int, list[str]]:
    ids = list(version_ids)
    found: dict[int, list[str]] = {version_id: [] for version_id in ids}
    if not ids:
        return found
    result = await session.execute(
        select(col(IndicatorCooperator.version_id), col(IndicatorCooperator.department))
        .where(col(IndicatorCooperator.version_id).in_(ids))
        .order_by(col(IndicatorCooperator.version_id), col(IndicatorCooperator.position))
    )
    for version_id, department in result:
        found[version_id].append(department)
    return found


async def milestones(session: AsyncSession, version_ids: Iterable[int]) -> dict[int, list[tuple[int, float]]]:
    """Each version's milestones (year, value), in ascending years."""
    ids = list(version_ids)
    found: dict[int, list[tuple[int, float]]] = {version_id: [] for version_id in ids}
    if not ids:
        return found
    result = await session.execute(
        select(col(IndicatorMilestone.version_id), col(IndicatorMilestone.year), col(IndicatorMilestone.value))
        .where(col(IndicatorMilestone.version_id).in_(ids))
        .order_by(col(IndicatorMilestone.version_id), col(IndicatorMilestone.year))
    )
    for version_id, year, value in result:
        found[version_id].append((year, value))
    return found


async def list_latest(
    session: AsyncSession, filters: IndicatorFilter, *, after_code: str | None, limit: int
) -> Sequence[tuple[str, IndicatorVersion]]:
    """Current versions, ordered by code, filtered."""
    query = (
        select(col(Indicator.code), IndicatorVersion)
        .join(
            IndicatorVersion,
            and_(
                col(IndicatorVersion.indicator_id) == col(Indicator.id),
                col(IndicatorVersion.version) == col(Indicator.latest_version),
            ),
        )
        .order_by(col(Indicator.code))
    )
    if after_code is not None:
        query = query.where(col(Indicator.code) > after_code)
    if filters.category is not None:
        query = query.where(col(IndicatorVersion.category) == filters.category)
    if filters.kind is not None:
        query = query.where(col(IndicatorVersion.kind) == filters.kind)
    if filters.department is not None:
        cooperates = exists().where(
            col(IndicatorCooperator.version_id) == col(IndicatorVersion.id),
            col(IndicatorCooperator.department) == filters.department,
        )
        query = query.where(or_(col(IndicatorVersion.lead_department) == filters.department, cooperates))
    if filters.q:
        needle = filters.q.lower()
        query = query.where(
            or_(
                func.lower(col(Indicator.code)).contains(needle, autoescape=True),
                func.lower(col(IndicatorVersion.name_zh)).contains(needle, autoescape=True),
                func.lower(col(IndicatorVersion.name_en)).contains(needle, autoescape=True),
                func.lower(col(IndicatorVersion.group_name)).contains(needle, autoescape=True),
            )
        )
    result = await session.execute(query.limit(limit))
    return [(row[0], row[1]) for row in result]


async def list_versions(
    session: AsyncSession, indicator_id: int, *, before_version: int | None, limit: int
) -> Sequence[IndicatorVersion]:
    query = (
        select(IndicatorVersion)
        .where(col(IndicatorVersion.indicator_id) == indicator_id)
        .order_by(col(IndicatorVersion.version).desc())
    )
    if before_version is not None:
        query = query.where(col(IndicatorVersion.version) < before_version)
    return (await session.execute(query.limit(limit))).scalars().all()


async def versions_from(session: AsyncSession, indicator_id: int, first: int) -> Sequence[IndicatorVersion]:
    """The versions numbered ``first`` and later, oldest first."""
    result = await session.execute(
        select(IndicatorVersion)
        .where(col(IndicatorVersion.indicator_id) == indicator_id, col(IndicatorVersion.version) >= first)
        .order_by(col(IndicatorVersion.version))
    )
    return result.scalars().all()


async def count_indicators(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(Indicator))).scalar_one())


def add_cooperators(session: AsyncSession, version_id: int, departments: Sequence[str]) -> None:
    session.add_all(
        IndicatorCooperator(version_id=version_id, department=code, position=position)
        for position, code in enumerate(departments)
    )


def add_milestones(session: AsyncSession, version_id: int, milestones: Sequence[tuple[int, float]]) -> None:
    session.add_all(IndicatorMilestone(version_id=version_id, year=year, value=value) for year, value in milestones)


async def version_in_force(session: AsyncSession, code: str, moment: datetime) -> IndicatorVersion | None:
    """The definition of ``code`` in force at ``moment``: the newest version valid from before it, or
    the first version when the moment precedes them all."""
    base = (
        select(IndicatorVersion)
        .join(Indicator, col(Indicator.id) == col(IndicatorVersion.indicator_id))
        .where(col(Indicator.code) == code)
    )
    result = await session.execute(
        base.where(col(IndicatorVersion.valid_from) < moment).order_by(col(IndicatorVersion.version).desc()).limit(1)
    )
    version = result.scalar_one_or_none()
    if version is not None:
        return version
    return (await session.execute(base.order_by(col(IndicatorVersion.version)).limit(1))).scalar_one_or_none()
