"""All SQL of the indicator catalogue."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.indicators.models import Indicator, IndicatorCooperator, IndicatorVersion


@dataclass(frozen=True)
class IndicatorFilter:
    category: str | None = None
    kind: str | None = None
    department: str | None = None
    q: str | None = None


async def get_indicator(session: AsyncSession, code: str) -> Indicator | None:
    result = await session.execute(select(Indicator).where(Indicator.code == code))  # type: ignore[arg-type]
    return result.scalar_one_or_none()


async def get_version(session: AsyncSession, indicator_id: int, version: int) -> IndicatorVersion:
    result = await session.execute(
        select(IndicatorVersion).where(
            IndicatorVersion.indicator_id == indicator_id,  # type: ignore[arg-type]
            IndicatorVersion.version == version,  # type: ignore[arg-type]
        )
    )
    return result.scalar_one()


async def latest_catalogue_digest(session: AsyncSession, indicator_id: int) -> str | None:
    """The digest of the newest version that `zwc seed` loaded, if any."""
    result = await session.execute(
        select(IndicatorVersion.catalogue_digest)
        .where(
            IndicatorVersion.indicator_id == indicator_id,  # type: ignore[arg-type]
            IndicatorVersion.catalogue_digest.is_not(None),  # type: ignore[union-attr]
        )
        .order_by(IndicatorVersion.version.desc())  # type: ignore[attr-defined]
        .limit(1)
    )
    return result.scalar_one_or_none()


async def cooperators(session: AsyncSession, version_ids: Iterable[int]) -> dict[int, list[str]]:
    ids = list(version_ids)
    found: dict[int, list[str]] = {version_id: [] for version_id in ids}
    if not ids:
        return found
    result = await session.execute(
        select(IndicatorCooperator.version_id, IndicatorCooperator.department)
        .where(IndicatorCooperator.version_id.in_(ids))  # type: ignore[attr-defined]
        .order_by(IndicatorCooperator.version_id, IndicatorCooperator.position)  # type: ignore[arg-type]
    )
    for version_id, department in result:
        found[version_id].append(department)
    return found


async def list_latest(
    session: AsyncSession, filters: IndicatorFilter, *, after_code: str | None, limit: int
) -> Sequence[tuple[str, IndicatorVersion]]:
    """Current versions, ordered by code, filtered."""
    query = (
        select(Indicator.code, IndicatorVersion)
        .join(
            IndicatorVersion,
            and_(
                IndicatorVersion.indicator_id == Indicator.id,  # type: ignore[arg-type]
                IndicatorVersion.version == Indicator.latest_version,  # type: ignore[arg-type]
            ),
        )
        .order_by(Indicator.code)  # type: ignore[arg-type]
    )
    if after_code is not None:
        query = query.where(Indicator.code > after_code)  # type: ignore[arg-type]
    if filters.category is not None:
        query = query.where(IndicatorVersion.category == filters.category)  # type: ignore[arg-type]
    if filters.kind is not None:
        query = query.where(IndicatorVersion.kind == filters.kind)  # type: ignore[arg-type]
    if filters.department is not None:
        cooperates = exists().where(
            IndicatorCooperator.version_id == IndicatorVersion.id,  # type: ignore[arg-type]
            IndicatorCooperator.department == filters.department,  # type: ignore[arg-type]
        )
        query = query.where(or_(IndicatorVersion.lead_department == filters.department, cooperates))  # type: ignore[arg-type]
    if filters.q:
        needle = filters.q.lower()
        query = query.where(
            or_(
                func.lower(Indicator.code).contains(needle, autoescape=True),
                func.lower(IndicatorVersion.name_zh).contains(needle, autoescape=True),
                func.lower(IndicatorVersion.name_en).contains(needle, autoescape=True),
                func.lower(IndicatorVersion.group_name).contains(needle, autoescape=True),
            )
        )
    result = await session.execute(query.limit(limit))
    return [(row[0], row[1]) for row in result]


async def list_versions(
    session: AsyncSession, indicator_id: int, *, before_version: int | None, limit: int
) -> Sequence[IndicatorVersion]:
    query = (
        select(IndicatorVersion)
        .where(IndicatorVersion.indicator_id == indicator_id)  # type: ignore[arg-type]
        .order_by(IndicatorVersion.version.desc())  # type: ignore[attr-defined]
    )
    if before_version is not None:
        query = query.where(IndicatorVersion.version < before_version)  # type: ignore[arg-type]
    return (await session.execute(query.limit(limit))).scalars().all()


async def count_indicators(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(Indicator))).scalar_one())


def add_cooperators(session: AsyncSession, version_id: int, departments: Sequence[str]) -> None:
    session.add_all(
        IndicatorCooperator(version_id=version_id, department=code, position=position)
        for position, code in enumerate(departments)
    )
