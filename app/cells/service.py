"""Cells: applying, reading, editing, who may do what, and derived expiry."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.cells import repository
from app.cells.models import Cell, CellType
from app.cells.schemas import CellCreate, CellOut, TownOut
from app.core.actor import Actor
from app.core.concurrency import etag_for, require_if_match
from app.core.db import SessionDep
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.issues import issue
from app.core.periods import today_in_shanghai
from app.core.timeutil import utcnow
from app.events.service import emit

FILE_ID = re.compile(r"[0-9a-f]{32}")
EDITABLE = ("planned", "applied", "evaluated")

ISSUES: dict[str, tuple[str, str]] = {
    "unknown_type": ("no such cell type", "无废细胞类型不存在"),
    "unknown_town": ("no such town in the catalogue", "目录中没有该镇（街道）"),
    "unknown_file": ("no file with this id was uploaded by your department", "本部门未上传该文件"),
    "unknown_criterion": ("no such criterion for this cell type", "该类型无废细胞没有此评分项"),
    "duplicate_criterion": ("this criterion is scored earlier in the list (items[{first}])",
                            "该评分项已在第 {first_number} 项评分"),
    "points_out_of_range": ("points run from 0 to {max_points}", "得分应在 0 到 {max_points} 之间"),
}


def etag(cell: Cell) -> str:
    assert cell.id is not None
    return etag_for("cell", str(cell.id), cell.version)


def may_write(actor: Actor, cell_type: CellType) -> bool:
    """The type's responsible department, or the lead office for every type."""
    return actor.is_lead_office or actor.department == cell_type.responsible_department


def require_writer(actor: Actor, cell_type: CellType) -> None:
    if not may_write(actor, cell_type):
        raise Forbidden("not_responsible_for_type", type=cell_type.code)


def sees_contact(actor: Actor, cell: Cell, cell_type: CellType) -> bool:
    return (
        actor.department in (cell.department, cell_type.responsible_department)
        or actor.is_lead_office
        or actor.has_scope("cells:review")
    )


def snapshot(cell: Cell) -> dict[str, Any]:
    return {
        "id": cell.id, "type": cell.type, "name": cell.name, "town": cell.town, "address": cell.address,
        "contact": cell.contact, "latitude": cell.latitude, "longitude": cell.longitude, "evidence": cell.evidence,
        "department": cell.department, "status": cell.status, "certificate_no": cell.certificate_no,
        "certified_at": cell.certified_at.isoformat() if cell.certified_at else None,
        "valid_until": cell.valid_until.isoformat() if cell.valid_until else None, "version": cell.version,
    }


def event_data(cell: Cell) -> dict[str, Any]:
    """What subscribers see of a cell: never the contact."""
    data = snapshot(cell)
    data.pop("contact")
    return data


async def observe_expiry(session: SessionDep) -> None:
    """Certified cells past their `valid_until` (Asia/Shanghai) become `expired` the first time any cell
    request observes it; `cell.expired` is emitted once (docs/decisions/0011-cell-expiry.md)."""
    now = utcnow()
    system = Actor.system()
    for cell_id, cell_type, certificate_no, valid_until in await repository.expire_due(
            session, today_in_shanghai(now), now):
        data = {"id": cell_id, "type": cell_type, "certificate_no": certificate_no,
                "valid_until": valid_until.isoformat(), "status": "expired"}
        record(session, system, action="cell.expired", entity="cell", entity_id=str(cell_id),
               before={"status": "certified"}, after=data)
        await emit(session, "cell.expired", entity="cell", entity_id=str(cell_id), data=data)


async def towns(session: AsyncSession, *, after: str | None, limit: int) -> list[TownOut]:
    """The towns a cell may name, by code, after ``after`` (a page's cursor)."""
    return [TownOut(code=t.code, name_zh=t.name_zh, name_en=t.name_en, kind=t.kind)
            for t in await repository.towns(session, after=after, limit=limit)]


async def type_of(session: AsyncSession, code: str) -> CellType:
    cell_type = await repository.get_type(session, code)
    assert cell_type is not None  # a foreign key
    return cell_type


async def _check_fields(session: AsyncSession, actor: Actor, fields: dict[str, Any]) -> list[dict[str, Any]]:
    issues: list[dict[str, Any]] = []
    if "town" in fields and not await repository.town_exists(session, fields["town"]):
        issues.append(issue(["town"], "unknown_town", ISSUES))
    evidence = list(fields.get("evidence") or [])
    file_ids = [item for item in evidence if isinstance(item, str)]
    assert actor.department is not None
    known = await repository.files_of_department(session, [f for f in file_ids if FILE_ID.fullmatch(f)],
                                                 actor.department)
    for index, item in enumerate(evidence):
        if isinstance(item, str) and item not in known:
            issues.append(issue(["evidence", index], "unknown_file", ISSUES))
    return issues


def _file_ids(evidence: Sequence[Any]) -> list[str]:
    return [item for item in evidence if isinstance(item, str)]


def _plain(evidence: Sequence[Any]) -> list[Any]:
    return [item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in evidence]


async def create(session: AsyncSession, actor: Actor, body: CellCreate, now: datetime) -> Cell:
    cell_type = await repository.get_type(session, body.type)
    if cell_type is None:
        issues = [issue(["type"], "unknown_type", ISSUES)]
        if not await repository.town_exists(session, body.town):
            issues.append(issue(["town"], "unknown_town", ISSUES))
        raise Unprocessable(errors=issues)
    require_writer(actor, cell_type)
    issues = await _check_fields(session, actor, dict(body))
    if issues:
        raise Unprocessable(errors=issues)
    assert actor.department is not None
    cell = Cell(
        type=body.type, name=body.name, town=body.town, address=body.address, contact=body.contact,
        latitude=body.latitude, longitude=body.longitude, evidence=_plain(body.evidence),
        department=actor.department, status="applied", version=1, created_at=now, updated_at=now,
    )
    session.add(cell)
    await session.flush()
    assert cell.id is not None
    await repository.add_file_links(session, cell.id, "evidence", _file_ids(cell.evidence))
    record(session, actor, action="cell.applied", entity="cell", entity_id=str(cell.id), after=snapshot(cell))
    await emit(session, "cell.applied", entity="cell", entity_id=str(cell.id), data={**event_data(cell),
                                                                               "at": now.isoformat()})
    return cell


async def get(session: AsyncSession, cell_id: int, *, for_update: bool = False) -> Cell:
    """Every token may read every cell (the contact aside)."""
    cell = await repository.get(session, cell_id, for_update=for_update)
    if cell is None:
        raise NotFound(entity="cell", id=str(cell_id))
    return cell


async def edit(session: AsyncSession, actor: Actor, cell_id: int, changes: dict[str, Any], *,
               if_match: str | None, now: datetime) -> Cell:
    cell = await get(session, cell_id, for_update=True)
    require_writer(actor, await type_of(session, cell.type))
    require_if_match(if_match, etag(cell))
    if cell.status not in EDITABLE:
        raise Conflict("cell_locked", status=cell.status)
    issues = await _check_fields(session, actor, changes)
    applying = changes.pop("status", None) == "applied"
    if applying and cell.status != "planned":
        raise Conflict("invalid_transition", action="apply", status=cell.status)
    if issues:
        raise Unprocessable(errors=issues)
    before = snapshot(cell)
    for name, value in changes.items():
        setattr(cell, name, _plain(value) if name == "evidence" and value is not None else value)
    if cell.evidence is None:
        cell.evidence = []
    if applying:
        cell.status = "applied"
    cell.version += 1
    cell.updated_at = now
    session.add(cell)
    await session.flush()
    assert cell.id is not None
    await repository.link_files(session, cell.id, "evidence", _file_ids(cell.evidence), replace=True)
    record(session, actor, action="cell.edited", entity="cell", entity_id=str(cell.id), before=before,
           after=snapshot(cell))
    if applying:
        await emit(session, "cell.applied", entity="cell", entity_id=str(cell.id),
             data={**event_data(cell), "at": now.isoformat()})
    return cell


async def present(session: AsyncSession, actor: Actor, cells: Sequence[Cell]) -> list[CellOut]:
    types = await repository.types_by_code(session, {c.type for c in cells})
    result = []
    for c in cells:
        assert c.id is not None
        result.append(CellOut(
            id=c.id, type=c.type, name=c.name, town=c.town, address=c.address,
            contact=c.contact if sees_contact(actor, c, types[c.type]) else None,
            latitude=c.latitude, longitude=c.longitude, evidence=c.evidence, department=c.department,
            status=c.status, certificate_no=c.certificate_no, certified_at=c.certified_at,
            valid_until=c.valid_until, version=c.version, created_at=c.created_at, updated_at=c.updated_at,
        ))
    return result
