"""All SQL of the cell registry."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key
from sqlmodel import col

from app.cells.models import (
    Cell,
    CellCriterion,
    CellEvaluation,
    CellFile,
    CellInspection,
    CellQuota,
    CellQuotaChange,
    CellType,
    CellTypeCriterion,
    Certificate,
    CertificateCounter,
    Town,
)
from app.files.models import StoredFile


@dataclass(frozen=True)
class CellFilter:
    type: str | None = None
    status: str | None = None
    town: str | None = None
    year_start: datetime | None = None  # the year's bounds as instants (Asia/Shanghai)
    year_end: datetime | None = None


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def cell_types(session: AsyncSession, *, after: str | None, limit: int) -> Sequence[CellType]:
    query = select(CellType).order_by(col(CellType.code))
    if after is not None:
        query = query.where(col(CellType.code) > after)
    return (await session.execute(query.limit(limit))).scalars().all()


async def towns(session: AsyncSession, *, after: str | None, limit: int) -> Sequence[Town]:
    query = select(Town).order_by(col(Town.code))
    if after is not None:
        query = query.where(col(Town.code) > after)
    return (await session.execute(query.limit(limit))).scalars().all()


async def get_type(session: AsyncSession, code: str) -> CellType | None:
    return await session.get(CellType, code)


async def types_by_code(session: AsyncSession, codes: Collection[str]) -> dict[str, CellType]:
    """The named types: those the session already holds (a write has just checked its type), the others
    in one query."""
    held = {code: session.identity_map.get(identity_key(CellType, code)) for code in codes}
    found = {code: cell_type for code, cell_type in held.items() if isinstance(cell_type, CellType)}
    missing = [code for code in codes if code not in found]
    if missing:
        rows = (await session.execute(select(CellType).where(col(CellType.code).in_(missing)))).scalars()
        found.update((cell_type.code, cell_type) for cell_type in rows)
    return found


async def criteria_of(session: AsyncSession, types: Sequence[str]) -> dict[str, list[CellCriterion]]:
    result = await session.execute(
        select(col(CellTypeCriterion.cell_type), CellCriterion)
        .join(CellCriterion, col(CellCriterion.code) == col(CellTypeCriterion.criterion))
        .where(col(CellTypeCriterion.cell_type).in_(types))
        .order_by(col(CellCriterion.bonus), col(CellCriterion.code))
    )
    found: dict[str, list[CellCriterion]] = {code: [] for code in types}
    for cell_type, criterion in result:
        found[cell_type].append(criterion)
    return found


async def town_exists(session: AsyncSession, code: str) -> bool:
    return await session.get(Town, code) is not None


async def get(session: AsyncSession, cell_id: int, *, for_update: bool = False) -> Cell | None:
    query = select(Cell).where(col(Cell.id) == cell_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def find_by_type_and_name(session: AsyncSession, cell_type: str, name: str) -> Cell | None:
    result = await session.execute(select(Cell).where(col(Cell.type) == cell_type, col(Cell.name) == name))
    return result.scalars().first()


async def list_cells(session: AsyncSession, filters: CellFilter, *, after_id: int | None,
                     limit: int) -> Sequence[Cell]:
    query = select(Cell).order_by(col(Cell.id))
    for column, value in ((Cell.type, filters.type), (Cell.status, filters.status), (Cell.town, filters.town)):
        if value is not None:
            query = query.where(col(column) == value)
    if filters.year_start is not None and filters.year_end is not None:
        query = query.where(or_(
            and_(col(Cell.created_at) >= filters.year_start, col(Cell.created_at) < filters.year_end),
            and_(col(Cell.certified_at) >= filters.year_start, col(Cell.certified_at) < filters.year_end),
        ))
    if after_id is not None:
        query = query.where(col(Cell.id) > after_id)
    return (await session.execute(query.limit(limit))).scalars().all()


async def expire_due(session: AsyncSession, today: date, now: datetime) -> Sequence[Any]:
    """Mark certified cells whose validity ended before ``today`` as expired; answers those rows.

    One conditional UPDATE … RETURNING: of two concurrent requests only one sees a given row change.
    """
    statement = (
        update(Cell)
        .where(col(Cell.status) == "certified", col(Cell.valid_until) < today)
        .values(status="expired", version=col(Cell.version) + 1, updated_at=now)
        .returning(col(Cell.id), col(Cell.type), col(Cell.certificate_no), col(Cell.valid_until))
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(statement)).all()


async def files_of_department(session: AsyncSession, file_ids: Sequence[str], department: str) -> set[str]:
    if not file_ids:
        return set()
    result = await session.execute(
        select(col(StoredFile.id)).where(col(StoredFile.id).in_(file_ids), col(StoredFile.department) == department)
    )
    return set(result.scalars())


async def latest_evaluation(session: AsyncSession, cell_id: int) -> CellEvaluation | None:
    result = await session.execute(
        select(CellEvaluation).where(col(CellEvaluation.cell_id) == cell_id)
        .order_by(col(CellEvaluation.id).desc()).limit(1)
    )
    return result.scalar_one_or_none()


async def next_certificate_seq(session: AsyncSession, year: int, cell_type: str) -> int:
    """The next sequence number of (year, type), with the counter row locked until commit.

    PostgreSQL: the row is created if absent, then locked (FOR UPDATE) before it is read, so
    concurrent certifications queue on it. SQLite's BEGIN IMMEDIATE already serialises writers.
    """
    await session.execute(
        _insert(session)(CertificateCounter).values(year=year, type=cell_type, last=0)
        .on_conflict_do_nothing(index_elements=["year", "type"])
    )
    last = (await session.execute(
        select(col(CertificateCounter.last))
        .where(col(CertificateCounter.year) == year, col(CertificateCounter.type) == cell_type)
        .with_for_update()
    )).scalar_one()
    await session.execute(
        update(CertificateCounter)
        .where(col(CertificateCounter.year) == year, col(CertificateCounter.type) == cell_type)
        .values(last=last + 1)
    )
    return int(last) + 1


async def get_certificate(session: AsyncSession, number: str) -> tuple[Certificate, Cell] | None:
    result = await session.execute(
        select(Certificate, Cell).join(Cell, col(Cell.id) == col(Certificate.cell_id))
        .where(col(Certificate.certificate_no) == number)
    )
    row = result.first()
    return (row[0], row[1]) if row is not None else None


async def inspections(session: AsyncSession, cell_id: int, *, after_id: int | None,
                      limit: int) -> Sequence[CellInspection]:
    query = select(CellInspection).where(col(CellInspection.cell_id) == cell_id).order_by(col(CellInspection.id))
    if after_id is not None:
        query = query.where(col(CellInspection.id) > after_id)
    return (await session.execute(query.limit(limit))).scalars().all()


async def upsert_quota(session: AsyncSession, year: int, cell_type: str, quota: int, now: datetime) -> None:
    session.add(CellQuotaChange(year=year, type=cell_type, quota=quota, at=now))
    statement = _insert(session)(CellQuota).values(year=year, type=cell_type, quota=quota, updated_at=now)
    await session.execute(statement.on_conflict_do_update(
        index_elements=["year", "type"], set_={"quota": quota, "updated_at": now}))


async def get_quota(session: AsyncSession, year: int, cell_type: str) -> CellQuota | None:
    result = await session.execute(
        select(CellQuota).where(col(CellQuota.year) == year, col(CellQuota.type) == cell_type)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


def _held_at(cutoff: datetime, last_day: date) -> Any:
    """A certificate issued before ``cutoff``, valid on ``last_day`` and not revoked before ``cutoff``: the
    cell counts as certified and valid at the end of a period (SPEC §4.1 summary, §4.2)."""
    return and_(col(Certificate.certified_at) < cutoff, col(Certificate.valid_until) >= last_day,
                or_(col(Certificate.revoked_at).is_(None), col(Certificate.revoked_at) >= cutoff))


def _latest_before(cutoff: datetime) -> Any:
    """Each cell's latest certificate issued before ``cutoff``: (cell_id, at)."""
    return (
        select(col(Certificate.cell_id).label("cell_id"), func.max(col(Certificate.certified_at)).label("at"))
        .where(col(Certificate.certified_at) < cutoff)
        .group_by(col(Certificate.cell_id))
        .subquery()
    )


def _certificate_figures(keys: list[Any], cutoff: datetime, last_day: date, *extra: Any) -> Any:
    """Per ``keys``: the cells certified and valid at the end of a period (``_held_at``), and the cells built by
    then (SPEC §4.2, 累计): whose latest certificate before ``cutoff`` was not revoked before it. An expired
    certificate still counts as built; a re-certified cell counts once. ``extra`` adds more columns."""
    latest = _latest_before(cutoff)
    built = and_(latest.c.cell_id.is_not(None),
                 or_(col(Certificate.revoked_at).is_(None), col(Certificate.revoked_at) >= cutoff))
    return (
        select(*keys,
               func.count(func.distinct(case((_held_at(cutoff, last_day), col(Certificate.cell_id))))),
               func.count(func.distinct(case((built, col(Certificate.cell_id))))),
               *extra)
        .join(Cell, col(Cell.id) == col(Certificate.cell_id))
        .outerjoin(latest, and_(latest.c.cell_id == col(Certificate.cell_id),
                                latest.c.at == col(Certificate.certified_at)))
        .group_by(*keys)
    )


async def summary(session: AsyncSession, year: int, year_end: datetime, last_day: date, *,
                  by_town: bool = False) -> dict[tuple[str, ...], dict[str, Any]]:
    """Per type (keys ``(type,)``) or per town and type (keys ``(town, type)``): counts by current
    status, cells certified and valid at the year's end, cells built by then, cells whose certificate was
    revoked during the year, and (per type only) the year's quota. Three GROUP BY queries.

    Per type every type is listed; per town, every (town, type) pair that has at least one cell."""
    keys: list[Any] = [col(Cell.town), col(Cell.type)] if by_town else [col(Cell.type)]
    figures: dict[tuple[str, ...], dict[str, Any]] = {}
    if by_town:
        pairs = await session.execute(select(*keys).distinct().order_by(*keys))
        for town, cell_type in pairs:
            figures[(town, cell_type)] = {"planned": 0, "applied": 0, "certified": 0, "cumulative": 0, "revoked": 0}
    else:
        for code in (await session.execute(select(col(CellType.code)).order_by(col(CellType.code)))).scalars():
            figures[(code,)] = {"planned": 0, "applied": 0, "certified": 0, "cumulative": 0, "revoked": 0,
                                "quota": None}
    by_status = await session.execute(
        select(*keys,
               func.sum(case((col(Cell.status) == "planned", 1), else_=0)),
               func.sum(case((col(Cell.status).in_(("applied", "evaluated")), 1), else_=0)))
        .group_by(*keys)
    )
    width = len(keys)
    for row in by_status:
        planned, applied = row[width:]
        figures[tuple(row[:width])].update(planned=int(planned or 0), applied=int(applied or 0))
    year_start = year_end.replace(year=year_end.year - 1)
    revoked_in_year = func.count(func.distinct(case((and_(
        col(Certificate.revoked_at) >= year_start, col(Certificate.revoked_at) < year_end,
    ), col(Certificate.cell_id)))))
    certificates = await session.execute(_certificate_figures(keys, year_end, last_day, revoked_in_year))
    for row in certificates:
        certified, cumulative, revoked = row[width:]
        figures[tuple(row[:width])].update(certified=int(certified or 0), cumulative=int(cumulative or 0),
                                           revoked=int(revoked or 0))
    if not by_town:
        quotas = await session.execute(
            select(col(CellQuota.type), col(CellQuota.quota)).where(col(CellQuota.year) == year))
        for cell_type, quota in quotas:
            figures[(cell_type,)]["quota"] = int(quota)
    return figures


async def evaluations(session: AsyncSession, cell_id: int, *, after_id: int | None,
                      limit: int) -> Sequence[CellEvaluation]:
    query = select(CellEvaluation).where(col(CellEvaluation.cell_id) == cell_id).order_by(col(CellEvaluation.id))
    if after_id is not None:
        query = query.where(col(CellEvaluation.id) > after_id)
    return (await session.execute(query.limit(limit))).scalars().all()


async def get_evaluation(session: AsyncSession, cell_id: int, evaluation_id: int) -> CellEvaluation | None:
    result = await session.execute(select(CellEvaluation).where(
        col(CellEvaluation.id) == evaluation_id, col(CellEvaluation.cell_id) == cell_id))
    return result.scalar_one_or_none()


async def get_inspection(session: AsyncSession, cell_id: int, inspection_id: int) -> CellInspection | None:
    result = await session.execute(select(CellInspection).where(
        col(CellInspection.id) == inspection_id, col(CellInspection.cell_id) == cell_id))
    return result.scalar_one_or_none()


async def town_names(session: AsyncSession) -> dict[str, str]:
    rows = (await session.execute(select(col(Town.code), col(Town.name_zh)))).all()
    return {row[0]: row[1] for row in rows}


async def link_files(session: AsyncSession, cell_id: int, role: str, file_ids: Sequence[str], *,
                     replace: bool) -> None:
    """Record which files a cell names (its evidence, or its inspections' photos)."""
    if replace:
        await session.execute(
            delete(CellFile).where(col(CellFile.cell_id) == cell_id, col(CellFile.role) == role)
        )
        present: set[str] = set()
    else:
        result = await session.execute(
            select(col(CellFile.file_id)).where(col(CellFile.cell_id) == cell_id, col(CellFile.role) == role)
        )
        present = set(result.scalars())
    await add_file_links(session, cell_id, role, [file_id for file_id in file_ids if file_id not in present])


async def add_file_links(session: AsyncSession, cell_id: int, role: str, file_ids: Sequence[str]) -> None:
    """Links of a cell to files it does not name yet (a cell created in this transaction names none)."""
    session.add_all(CellFile(cell_id=cell_id, file_id=file_id, role=role) for file_id in dict.fromkeys(file_ids))
    await session.flush()


async def certificate_counts(session: AsyncSession, cutoff: datetime, last_day: date
                             ) -> dict[str, tuple[int, int]]:
    """Per cell type, (certified and valid at the end of a period, built by then): see
    ``_certificate_figures``; ``cutoff`` is the end of the period, or an earlier moment asked about."""
    result = await session.execute(_certificate_figures([col(Cell.type)], cutoff, last_day))
    return {cell_type: (int(certified), int(built)) for cell_type, certified, built in result}


async def quotas_up_to(session: AsyncSession, year: int, known_at: datetime | None) -> dict[tuple[int, str], int]:
    """Every quota of the years up to and including ``year``, by (year, type): as set now, or the last one set
    at or before ``known_at``."""
    if known_at is None:
        current = await session.execute(
            select(col(CellQuota.year), col(CellQuota.type), col(CellQuota.quota)).where(col(CellQuota.year) <= year))
        return {(quota_year, cell_type): int(quota) for quota_year, cell_type, quota in current}
    latest = (
        select(func.max(col(CellQuotaChange.id)).label("id"))
        .where(col(CellQuotaChange.year) <= year, col(CellQuotaChange.at) <= known_at)
        .group_by(col(CellQuotaChange.year), col(CellQuotaChange.type))
        .subquery()
    )
    historic = await session.execute(
        select(col(CellQuotaChange.year), col(CellQuotaChange.type), col(CellQuotaChange.quota))
        .join(latest, latest.c.id == col(CellQuotaChange.id))
    )
    return {(quota_year, cell_type): int(quota) for quota_year, cell_type, quota in historic}
