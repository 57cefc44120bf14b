"""The municipal pull: every indicator's approved figure for a period in a stable shape, with an ETag
that covers the figures only, so that a second pull answers 304 unless an approved value, a definition
or the registry changed.

Zhengzhou polls; most pulls find nothing new. The figures of a (period, as_of) and their digest are
kept per data version (`app/core/versioned_cache.py`): a pull that finds the version unchanged costs one
small query instead of the whole board, and a change committed by any process shows at once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.aggregates.schemas import AggregateCellsOut, AggregateIndicatorOut, AggregatesOut, RegionOut
from app.core.periods import Period
from app.core.versioned_cache import VersionedCache
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


_pulls: VersionedCache[Pull] = VersionedCache(CACHE_SIZE)


async def aggregates(session: AsyncSession, period: Period, as_of: datetime | None, now: datetime,
                     version: scores.DataVersion) -> Pull:
    """The figures of a period (as they stand, or stood at ``as_of``) at ``version`` (the session's current
    data version), stamped ``generated_at=now``."""
    async def compute() -> Pull:
        document = await _compute(session, period, as_of, now)
        return Pull(document, _digest(document))

    pull = await _pulls.get(session, (period.label, as_of), version, compute)
    return Pull(pull.document.model_copy(update={"generated_at": now}), pull.digest)


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
