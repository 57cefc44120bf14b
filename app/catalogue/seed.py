"""``zwc seed``: load or refresh the reference catalogue. Running it twice changes nothing.

Departments, towns, cell types and criteria are brought in line with the catalogue files.
Indicators are versioned: a catalogue entry that changed since it was last loaded becomes new versions
(the old ones stay); what the lead office revised through the API is kept (app/catalogue/corrections.py).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.catalogue import corrections, loader
from app.catalogue import repository as reference
from app.cells import repository as cells_repository
from app.cells.models import Cell, CellCriterion, CellType, Town
from app.core.actor import Actor
from app.core.models import SQLModel
from app.core.timeutil import utcnow
from app.departments.models import Department
from app.indicators import repository as indicators_repository
from app.indicators import service as indicators


async def _sync(
    session: AsyncSession,
    actor: Actor,
    counts: Counter[str],
    model: type[SQLModel],
    entity: str,
    values: dict[str, Any],
    **timestamps: dict[str, Any],
) -> None:
    key = values["code"]
    _row, before, changed = await reference.sync_row(session, model, key, values, **timestamps)
    if not changed:
        return
    action = f"{entity}.created" if before is None else f"{entity}.updated"
    counts[action] += 1
    record(session, actor, action=action, entity=entity, entity_id=key, before=before, after=values)


async def seed(session: AsyncSession, actor: Actor) -> Counter[str]:
    """Apply the catalogue; answers what changed, by audit action."""
    counts: Counter[str] = Counter()
    now = utcnow()
    for values in loader.departments():
        await _sync(session, actor, counts, Department, "department", values,
                    on_insert={"created_at": now, "updated_at": now}, on_update={"updated_at": now})
    for values in loader.towns():
        await _sync(session, actor, counts, Town, "town", values)
    types = loader.cell_types()
    for values in types:
        await _sync(session, actor, counts, CellType, "cell_type", values)
    wanted_links: set[tuple[str, str]] = set()
    for values, applies_to in loader.cell_criteria():
        await _sync(session, actor, counts, CellCriterion, "cell_criterion", values)
        for cell_type in applies_to if applies_to is not None else [t["code"] for t in types]:
            wanted_links.add((cell_type, values["code"]))
    present = await reference.criteria_links(session)
    if present != wanted_links:
        await reference.set_criteria_links(session, wanted_links - present, present - wanted_links)
        counts["cell_type_criteria.updated"] += 1
        record(session, actor, action="cell_type_criteria.updated", entity="cell_type_criteria", entity_id="*",
               before={"links": sorted(map(list, present))}, after={"links": sorted(map(list, wanted_links))})
    for entry in loader.indicators():
        await _seed_indicator(session, actor, counts, entry)
    await _seed_planned_cells(session, actor, counts, now)
    return counts


async def _seed_planned_cells(session: AsyncSession, actor: Actor, counts: Counter[str], now: datetime) -> None:
    """The plan's named cells, matched by type and name; the type's responsible department applies."""
    for values in loader.planned_cells():
        if await cells_repository.find_by_type_and_name(session, values["type"], values["name"]) is not None:
            continue
        cell_type = await session.get(CellType, values["type"])
        assert cell_type is not None
        cell = Cell(type=values["type"], name=values["name"], town=values["town"],
                    department=cell_type.responsible_department, status="planned", evidence=[], version=1,
                    created_at=now, updated_at=now)
        session.add(cell)
        await session.flush()
        counts["cell.planned"] += 1
        record(session, actor, action="cell.planned", entity="cell", entity_id=str(cell.id),
               after={**values, "department": cell.department, "status": "planned"})


async def _seed_indicator(
    session: AsyncSession, actor: Actor, counts: Counter[str], entry: loader.CatalogueIndicator
) -> None:
    if await indicators_repository.get_indicator(session, entry.body.code) is None:
        await indicators.define(session, actor, entry.body, catalogue_digest=entry.digest)
        counts["indicator.created"] += 1
        return
    await corrections.apply_entry(session, actor, entry, counts)


async def catalogue_is_empty(session: AsyncSession) -> bool:
    return await indicators_repository.count_indicators(session) == 0
