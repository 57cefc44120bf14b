"""Field inspections from mobile apps, and quotas with the registry's progress against them."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.cells import repository, service
from app.cells.models import CellInspection, CellQuota
from app.cells.schemas import InspectionCreate, InspectionOut, SummaryItem, TownSummaryItem
from app.cells.service import FILE_ID, ISSUES
from app.core.actor import Actor
from app.core.errors import NotFound, Unprocessable
from app.core.issues import issue
from app.core.timeutil import SHANGHAI
from app.events.service import emit


async def inspect(session: AsyncSession, actor: Actor, cell_id: int, body: InspectionCreate,
                  now: datetime) -> CellInspection:
    cell = await service.get(session, cell_id)
    service.require_writer(actor, await service.type_of(session, cell.type))
    assert actor.department is not None
    assert cell.id is not None
    known = await repository.files_of_department(session, [f for f in body.photos if FILE_ID.fullmatch(f)],
                                                 actor.department)
    issues = [issue(["photos", index], "unknown_file", ISSUES) for index, photo in enumerate(body.photos)
              if photo not in known]
    if issues:
        raise Unprocessable(errors=issues)
    inspection = CellInspection(
        cell_id=cell.id, inspected_at=body.inspected_at.astimezone(UTC), inspector=body.inspector,
        findings=body.findings,
        score=body.score, latitude=body.latitude, longitude=body.longitude, photos=list(body.photos),
        department=actor.department, token_id=actor.token_id, created_at=now,
    )
    session.add(inspection)
    await session.flush()
    await repository.link_files(session, cell.id, "photo", list(body.photos), replace=False)
    data = present(inspection).model_dump(mode="json")
    record(session, actor, action="cell.inspected", entity="cell", entity_id=str(cell.id), after=data)
    emit(session, "cell.inspected", entity="cell", entity_id=str(cell.id), data={**data, "at": now.isoformat()})
    return inspection


def present(inspection: CellInspection) -> InspectionOut:
    assert inspection.id is not None
    return InspectionOut(
        id=inspection.id, cell_id=inspection.cell_id, inspected_at=inspection.inspected_at,
        inspector=inspection.inspector, findings=inspection.findings, score=inspection.score,
        latitude=inspection.latitude, longitude=inspection.longitude, photos=inspection.photos,
        department=inspection.department, created_at=inspection.created_at,
    )


async def set_quota(session: AsyncSession, actor: Actor, year: int, cell_type: str, quota: int,
                    now: datetime) -> CellQuota:
    if await repository.get_type(session, cell_type) is None:
        raise Unprocessable(errors=[issue(["path", "type"], "unknown_type", ISSUES)])
    before = await repository.get_quota(session, year, cell_type)
    before_data: dict[str, Any] | None = {"quota": before.quota} if before is not None else None
    await repository.upsert_quota(session, year, cell_type, quota, now)
    stored = await repository.get_quota(session, year, cell_type)
    assert stored is not None
    record(session, actor, action="cell_quota.set", entity="cell_quota", entity_id=f"{year}/{cell_type}",
           before=before_data, after={"year": year, "type": cell_type, "quota": quota})
    return stored


async def summary(session: AsyncSession, year: int) -> list[SummaryItem]:
    year_end = datetime.combine(date(year + 1, 1, 1), time.min, tzinfo=SHANGHAI)
    figures = await repository.summary(session, year, year_end, date(year, 12, 31))
    items = []
    for (cell_type,), f in figures.items():
        quota = f["quota"]
        progress = round(f["certified"] / quota, 4) if quota else None
        items.append(SummaryItem(type=cell_type, planned=f["planned"], applied=f["applied"],
                                 certified=f["certified"], revoked=f["revoked"], quota=quota, progress=progress))
    return items


async def summary_by_town(session: AsyncSession, year: int) -> list[TownSummaryItem]:
    """The same figures per (town, type) pair that has a cell, ordered by town then type; no quota."""
    year_end = datetime.combine(date(year + 1, 1, 1), time.min, tzinfo=SHANGHAI)
    figures = await repository.summary(session, year, year_end, date(year, 12, 31), by_town=True)
    return [TownSummaryItem(town=town, type=cell_type, planned=f["planned"], applied=f["applied"],
                            certified=f["certified"], revoked=f["revoked"])
            for (town, cell_type), f in figures.items()]


async def get(session: AsyncSession, actor: Actor, cell_id: int, inspection_id: int) -> CellInspection:
    """One inspection of a cell: the same rights as listing them (403 before 404 for another type's)."""
    cell = await service.get(session, cell_id)
    service.require_writer(actor, await service.type_of(session, cell.type))
    inspection = await repository.get_inspection(session, cell_id, inspection_id)
    if inspection is None:
        raise NotFound(entity="cell inspection", id=str(inspection_id))
    return inspection
