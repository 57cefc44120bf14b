"""The change feed: outbox events after a cursor, as subscribers may see them.

The cursor is the outbox id. Ids become visible in commit order (docs/decisions/0012-outbox-order.md),
so a reader that moved past an id never misses an event committed later.
"""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from app.changes import repository
from app.changes.schemas import ChangeOut, ChangePage
from app.core.errors import BadRequest
from app.events.exposure import public_data
from app.events.models import OutboxEvent

_DIGITS = re.compile(r"[0-9]+")
# The largest outbox id either database can hold (a signed 64-bit integer); a cursor beyond it is past the
# end, not an error.
_MAX_ID = 2**63 - 1


def parse_cursor(after: str | None, cursor: str | None) -> int | None:
    """The outbox id to continue after (None: from the beginning).

    ``cursor`` is accepted as another name for ``after`` (every list takes ``cursor``); naming two
    different positions is refused.
    """
    if after is not None and cursor is not None and after != cursor:
        raise BadRequest("invalid_cursor")
    raw = after if after is not None else cursor
    if raw is None:
        return None
    if not _DIGITS.fullmatch(raw):
        raise BadRequest("invalid_cursor")
    significant = raw.lstrip("0") or "0"
    if len(significant) > len(str(_MAX_ID)):
        return _MAX_ID
    return min(int(significant), _MAX_ID)


def _item(event: OutboxEvent) -> ChangeOut:
    assert event.id is not None
    return ChangeOut(cursor=str(event.id), event=event.event, entity=event.entity, id=event.entity_id, at=event.at,
                     data=public_data(event))


async def list_changes(session: AsyncSession, *, after_id: int | None, limit: int) -> ChangePage:
    rows = await repository.list_after(session, after_id=after_id, limit=limit + 1)
    items = [_item(event) for event in rows[:limit]]
    next_cursor = items[-1].cursor if len(rows) > limit and items else None
    return ChangePage(items=items, next_cursor=next_cursor)
