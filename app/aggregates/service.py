"""The municipal pull: every indicator's approved figure for a period in a stable shape, with an ETag
that covers the figures only, so that a second pull answers 304 unless an approved value, a definition
or the registry changed.

Zhengzhou polls; most pulls find nothing new. The figures of a (period, as_of) are kept in process
memory with the data version they were computed at (`repository.data_version`), which is read from the
database on every pull: a change committed by any process shows there, so a cached answer is never
stale, and a pull that finds the version unchanged costs one small query instead of the whole board.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncSession

from app.aggregates import repository
from app.aggregates.schemas import AggregateCellsOut, AggregateIndicatorOut, AggregatesOut, RegionOut
from app.core.periods import Period
from app.indicators.service import present_value
from app.scores import service as scores

REGION = RegionOut(code="410183", name_zh="新密市")


CACHE_SIZE = 64


@dataclass(frozen=True)
class Pull:
    document: AggregatesOut
    digest: str  # of the figures (everything but `generated_at`), computed once per data version

    def etag(self, representation: str) -> str:
        """A strong ETag of the figures in one representation (json, csv, xlsx)."""
        return f'"agg-{representation}-{self.digest}"'


@dataclass(frozen=True)
class _Cached:
    version: tuple[int, int, int]
    pull: Pull


# One cache per database (engine): a process serves one database, the tests many in turn.
_caches: WeakKeyDictionary[Engine | Connection, OrderedDict[tuple[str, datetime | None], _Cached]] = WeakKeyDictionary()


async def aggregates(session: AsyncSession, period: Period, as_of: datetime | None, now: datetime) -> Pull:
    """The figures of a period (as they stand, or stood at ``as_of``), stamped ``generated_at=now``."""
    version = await repository.data_version(session)
    cache = _caches.setdefault(session.get_bind(), OrderedDict())
    key = (period.label, as_of)
    cached = cache.get(key)
    if cached is None or cached.version != version:
        document = await _compute(session, period, as_of, now)
        cached = _Cached(version, Pull(document, _digest(document)))
        cache[key] = cached
        while len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
    cache.move_to_end(key)
    return Pull(cached.pull.document.model_copy(update={"generated_at": now}), cached.pull.digest)


async def _compute(session: AsyncSession, period: Period, as_of: datetime | None, now: datetime) -> AggregatesOut:
    board = await scores.board(session, period, "approved", as_of)
    registry = board.registry
    indicators = []
    for s in board.indicators:
        d = s.definition
        indicators.append(AggregateIndicatorOut(
            code=s.code, name_zh=d.name_zh, unit=d.unit, value=present_value(s.value, d.value_type),
            numerator=s.numerator, denominator=s.denominator,
            target=present_value(s.target[1], d.value_type) if s.target else None,
            target_year=s.target[0] if s.target else None,
            score=s.outcome.score, status=s.outcome.status, approved_at=s.approved_at,
        ))
    cells = [AggregateCellsOut(type=cell_type, certified=registry.certified.get(cell_type, 0),
                               quota=registry.quotas.get(cell_type)) for cell_type in registry.types]
    return AggregatesOut(region=REGION, period=period.label, as_of=as_of, generated_at=now,
                         indicators=indicators, cells=cells)


def _digest(document: AggregatesOut) -> str:
    figures = document.model_dump(mode="json", exclude={"generated_at"})
    return hashlib.sha256(json.dumps(figures, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:32]
