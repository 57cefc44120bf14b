"""Field inspections from mobile apps."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.cells import repository, service
from app.cells.models import CellInspection
from app.cells.schemas import InspectionCreate, InspectionOut
from app.cells.service import FILE_ID, ISSUES
from app.core.actor import Actor
from app.core.errors import NotFound, Unprocessable
from app.core.issues import issue
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
    await emit(session, "cell.inspected", entity="cell", entity_id=str(cell.id), data={**data, "at": now.isoformat()})
    return inspection


def present(inspection: CellInspection) -> InspectionOut:
    assert inspection.id is not None
    return InspectionOut(
        id=inspection.id, cell_id=inspection.cell_id, inspected_at=inspection.inspected_at,
        inspector=inspection.inspector, findings=inspection.findings, score=inspection.score,
        latitude=inspection.latitude, longitude=inspection.longitude, photos=inspection.photos,
        department=inspection.department, created_at=inspection.created_at,
    )


async def get(session: AsyncSession, actor: Actor, cell_id: int, inspection_id: int) -> CellInspection:
    """One inspection of a cell: the same rights as listing them (403 before 404 for another type's)."""
    cell = await service.get(session, cell_id)
    service.require_writer(actor, await service.type_of(session, cell.type))
    inspection = await repository.get_inspection(session, cell_id, inspection_id)
    if inspection is None:
        raise NotFound(entity="cell inspection", id=str(inspection_id))
    return inspection
