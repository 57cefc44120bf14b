"""Results computed from the database, kept in process memory with the data version they were computed at.

The caller reads the current data version from the database on every use, so a change committed by any
process makes the kept result unusable at once: a kept result is never stale, and an unchanged version
costs one small query instead of the computation. One cache per database (engine): a process serves one
database, the tests many in turn.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncSession

V = TypeVar("V")


class VersionedCache(Generic[V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._caches: WeakKeyDictionary[Engine | Connection, OrderedDict[Hashable, tuple[Hashable, V]]] = (
            WeakKeyDictionary())

    async def get(self, session: AsyncSession, key: Hashable, version: Hashable,
                  compute: Callable[[], Awaitable[V]]) -> V:
        """The value kept for ``key`` if it was computed at ``version``; else ``compute()``, kept."""
        cache = self._caches.setdefault(session.get_bind(), OrderedDict())
        kept = cache.get(key)
        if kept is None or kept[0] != version:
            kept = (version, await compute())
            cache[key] = kept
            while len(cache) > self.size:
                cache.popitem(last=False)
        cache.move_to_end(key)
        return kept[1]
