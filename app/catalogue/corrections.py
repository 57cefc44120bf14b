"""How `zwc seed` brings an indicator up to a changed catalogue entry without rewriting history
(docs/decisions/0023).

The catalogue version last loaded (the newest version carrying a `catalogue_digest`) is the base. If the entry
changed since, the entry itself becomes a new version in force from the base's `valid_from`, so the periods that
base scored are scored with the corrected definition. Every definition the lead office put in force after the
base (through the API) is then appended again, in `valid_from` order, with the catalogue's changes applied to
the fields the office had left as the catalogue had them; the fields it changed keep its value. Appending them
again is what keeps them in force: a version is in force from its `valid_from` until a newer version (by number)
takes force, and the corrected entry is newer than they were.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalogue.loader import CatalogueIndicator
from app.core.actor import Actor
from app.indicators import repository, service
from app.indicators.models import IndicatorVersion
from app.indicators.schemas import IndicatorDefinition, IndicatorOut


def corrected(definition: IndicatorDefinition, base: IndicatorDefinition, entry: IndicatorDefinition
              ) -> tuple[IndicatorDefinition, list[str]]:
    """``definition`` with the entry's changes since ``base``, on the fields where it still has the base's value;
    the second result names the fields it had changed itself (kept)."""
    was, now, has = base.model_dump(), entry.model_dump(), definition.model_dump()
    changes: dict[str, Any] = {}
    kept: list[str] = []
    for name, value in now.items():
        if value == was[name]:
            continue
        if has[name] == was[name]:
            changes[name] = value
        elif has[name] != value:
            kept.append(name)
    return IndicatorDefinition.model_validate({**has, **changes}), kept


def _latest_per_start(versions: list[IndicatorOut]) -> list[IndicatorOut]:
    """Of versions taking force at the same moment, only the newest ever was in force."""
    by_start: dict[Any, IndicatorOut] = {}
    for version in versions:
        by_start[version.valid_from] = version
    return sorted(by_start.values(), key=lambda version: version.valid_from)


async def apply_entry(session: AsyncSession, actor: Actor, entry: CatalogueIndicator, counts: Counter[str]) -> None:
    """Bring one existing indicator up to its catalogue entry (see the module's text)."""
    code = entry.body.code
    indicator = await repository.get_indicator(session, code, for_update=True)
    assert indicator is not None
    assert indicator.id is not None
    base_row = await repository.latest_catalogue_version(session, indicator.id)
    if base_row is None:
        return  # defined by the lead office before the catalogue named it: its definition stands
    if base_row.catalogue_digest == entry.digest:
        return  # the entry has not changed since it was loaded
    rows: list[IndicatorVersion] = list(await repository.versions_from(session, indicator.id, base_row.version))
    history = await service.present(session, [(code, row) for row in rows])
    base = service.definition_of(history[0])
    catalogue = service.definition_of(entry.body)
    if catalogue == base:
        return  # only the digest's form changed (e.g. bounds the migration already stated)
    await service.validate(session, catalogue)
    current = history[-1]
    current = await service.append_version(session, actor, indicator, current, catalogue,
                                           valid_from=history[0].valid_from, catalogue_digest=entry.digest)
    counts["indicator.revised"] += 1
    for later in _latest_per_start(history[1:]):
        definition, kept = corrected(service.definition_of(later), base, catalogue)
        counts["indicator.kept_revision"] += bool(kept)
        await service.validate(session, definition)
        current = await service.append_version(session, actor, indicator, current, definition,
                                               valid_from=later.valid_from, catalogue_digest=None)
        counts["indicator.revised"] += 1
