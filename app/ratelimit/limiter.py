"""Requests per token (SPEC §5 limits), counted where every process of a deployment sees them.

Where the counters live: Redis when ``ZWC_REDIS_URL`` is set; otherwise PostgreSQL when that is the
database; otherwise (the embedded SQLite default, one office, usually one process) this process's
memory. The windows are fixed: each storage's ``incr`` counts up to the window's expiry and starts
again after it (`RateLimiter` below adds hits in batches). When the counter store fails, the
request goes through: a limiter outage must not become a service outage.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import ClassVar

from cachetools import TTLCache
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.errors import StorageError
from sqlalchemy.engine import make_url

from app.core import metrics
from app.core.config import Settings
from app.core.db import create_autocommit_engine
from app.core.errors import TooManyRequests
from app.ratelimit.storage import PostgresStorage

logger = logging.getLogger("zwc.ratelimit")

REDIS_TIMEOUT_SECONDS = 1.0
COUNTER_POOL_SIZE = 2


def _storage(settings: Settings) -> Storage:
    if settings.redis_url:
        return RedisStorage(
            "async+" + settings.redis_url,
            wrap_exceptions=True,
            implementation="redispy",
            key_prefix=settings.redis_key_prefix,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
    if make_url(settings.database_url).get_backend_name() in ("postgresql", "postgres"):
        return PostgresStorage(create_autocommit_engine(settings.database_url, pool_size=COUNTER_POOL_SIZE))
    return MemoryStorage()


@dataclass
class _Tally:
    """One process's view of one window: the shared count when last added to, and the hits since."""

    shared: int = 0
    pending: int = 0
    synced_at: float = float("-inf")


@dataclass
class RateLimiter:
    """Fixed windows per token, counted in batches.

    Adding each request to the shared counter would cost a round trip per request. Each process instead
    counts locally and adds its hits to the shared store (`limits`' storage ``incr``) when it has
    gathered a sixteenth of what the window still allows, or at least every ``SYNC_SECONDS``. Far from
    the limit that is a round trip every few dozen requests; near it (and over it), every request. So a
    limit is exact for slow callers and overshoots by at most what each other process has not yet added.
    """

    limits: list[RateLimitItem]
    storage: Storage
    tallies: TTLCache[str, _Tally] = field(default_factory=lambda: TTLCache(maxsize=100_000, ttl=3600))

    SYNC_SECONDS: ClassVar[float] = 1.0
    BATCH_DIVISOR: ClassVar[int] = 16

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter | None:
        if not settings.rate_limit.strip():
            return None
        return cls(limits=parse_many(settings.rate_limit), storage=_storage(settings))

    @property
    def backend(self) -> str:
        return type(self.storage).__name__

    async def hit(self, token_id: int) -> None:
        """Count one request of the token; raise 429 when it is over any of the limits."""
        identity = f"token:{token_id}"
        try:
            for limit in self.limits:
                if not await self._count(limit, limit.key_for(identity)):
                    reset_at = await self.storage.get_expiry(limit.key_for(identity))
                    retry_after = max(1, math.ceil(reset_at - time.time()))
                    metrics.RATE_LIMITED.inc()
                    raise TooManyRequests(limit=str(limit), retry_after=retry_after,
                                          headers={"Retry-After": str(retry_after)})
        except StorageError as exc:
            logger.warning("rate limit counters unavailable (%s); request let through",
                           type(exc.storage_error).__name__)

    async def _count(self, limit: RateLimitItem, key: str) -> bool:
        now = time.monotonic()
        tally = self.tallies.get(key)
        if tally is None or now - tally.synced_at >= limit.get_expiry():
            tally = self.tallies[key] = _Tally()  # nothing known of the current window
        tally.pending += 1
        remaining = limit.amount - tally.shared - tally.pending
        if tally.pending >= max(1, remaining // self.BATCH_DIVISOR) or now - tally.synced_at >= self.SYNC_SECONDS:
            tally.shared = await self.storage.incr(key, limit.get_expiry(), amount=tally.pending)
            tally.pending, tally.synced_at = 0, now
        return tally.shared + tally.pending <= limit.amount

    async def close(self) -> None:
        if isinstance(self.storage, PostgresStorage):
            await self.storage.engine.dispose()
