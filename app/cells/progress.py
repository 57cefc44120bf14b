"""Quotas assigned by Zhengzhou, and the registry's progress against them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.cells import repository
from app.cells.models import CellQuota
from app.cells.schemas import SummaryItem, TownSummaryItem
from app.cells.service import ISSUES
from app.core.actor import Actor
from app.core.errors import Unprocessable
from app.core.issues import issue
from app.core.periods import Period
from app.core.timeutil import SHANGHAI


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
                                 certified=f["certified"], cumulative=f["cumulative"],
                                 revoked=f["revoked"], quota=quota, progress=progress))
    return items


async def summary_by_town(session: AsyncSession, year: int) -> list[TownSummaryItem]:
    """The same figures per (town, type) pair that has a cell, ordered by town then type; no quota."""
    year_end = datetime.combine(date(year + 1, 1, 1), time.min, tzinfo=SHANGHAI)
    figures = await repository.summary(session, year, year_end, date(year, 12, 31), by_town=True)
    return [TownSummaryItem(town=town, type=cell_type, planned=f["planned"], applied=f["applied"],
                            certified=f["certified"], cumulative=f["cumulative"],
                            revoked=f["revoked"])
            for (town, cell_type), f in figures.items()]


@dataclass(frozen=True)
class RegistryFigures:
    types: list[str]  # every cell type, by code
    certified: dict[str, int]  # per cell type: certified and valid at the end of the period
    cumulative: dict[str, int]  # per cell type: built by the end of the period (SPEC §4.2, 累计)
    quotas: dict[str, int]  # per cell type: the quota of the period's year, where one is set
    quotas_to_date: dict[str, int]  # per cell type: the quotas of every year up to the period's, summed


async def registry_figures(session: AsyncSession, period: Period, as_of: datetime | None) -> RegistryFigures:
    """What the registry says about a period (SPEC §4.2), as it stands now or as it stood at ``as_of``."""
    cutoff = min(period.end_instant, as_of) if as_of is not None else period.end_instant
    types = [cell_type.code for cell_type in await repository.cell_types(session, after=None, limit=1000)]
    counts = await repository.certificate_counts(session, cutoff, period.last_day)
    quotas = await repository.quotas_up_to(session, period.year, as_of)
    to_date: dict[str, int] = {}
    for (_year, cell_type), quota in quotas.items():
        to_date[cell_type] = to_date.get(cell_type, 0) + quota
    return RegistryFigures(
        types=types,
        certified={cell_type: certified for cell_type, (certified, _built) in counts.items()},
        cumulative={cell_type: built for cell_type, (_certified, built) in counts.items()},
        quotas={cell_type: quota for (quota_year, cell_type), quota in quotas.items() if quota_year == period.year},
        quotas_to_date=to_date,
    )
