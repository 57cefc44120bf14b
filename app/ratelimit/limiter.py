"""Requests per token (SPEC §5 limits), counted where every process of a deployment sees them.

Where the counters live: Redis when ``ZWC_REDIS_URL`` is set; otherwise PostgreSQL when that is the
database; otherwise (the embedded SQLite default, one office, usually one process) this process's
memory. The windows are fixed (``limits``' fixed-window strategy). When the counter store fails, the
request goes through: a limiter outage must not become a service outage.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from sqlalchemy.engine import make_url

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
class RateLimiter:
    limits: list[RateLimitItem]
    storage: Storage

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
        strategy = FixedWindowRateLimiter(self.storage)
        identity = f"token:{token_id}"
        try:
            for limit in self.limits:
                if not await strategy.hit(limit, identity):
                    reset_at, _remaining = await strategy.get_window_stats(limit, identity)
                    retry_after = max(1, math.ceil(reset_at - time.time()))
                    raise TooManyRequests(limit=str(limit), retry_after=retry_after,
                                          headers={"Retry-After": str(retry_after)})
        except StorageError as exc:
            logger.warning("rate limit counters unavailable (%s); request let through",
                           type(exc.storage_error).__name__)

    async def close(self) -> None:
        if isinstance(self.storage, PostgresStorage):
            await self.storage.engine.dispose()
