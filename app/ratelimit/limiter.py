"""Requests per token (SPEC §5 limits), counted where every process of a deployment sees them.

Where the counters live: Redis when ``ZWC_REDIS_URL`` is set; otherwise PostgreSQL when that is the
database; otherwise (the embedded SQLite default, one office, usually one process) this process's
memory. The windows are fixed: each storage's ``incr`` counts up to the window's expiry and starts
again after it (`RateLimiter` below adds hits in batches, and learns each window's end from the store).
When the counter store fails, the request goes through: a limiter outage must not become a service
outage.
"""

from __future__ import annotations

import asyncio
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
from app.ratelimit.wording import refusal_words

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
class _Window:
    """This process's view of one window of one counter.

    The process numbers its hits of the window as it counts them (1, 2, …): a hit's number is its position
    among them. The first ``added`` have been added to the store and answered, the next ``sending`` are in an
    add not yet answered, the rest are pending. ``others`` is what the other processes had added when the
    store last answered. The first ``forgotten`` hits went to a store window that ended before this one
    (see `RateLimiter._add`) and count no more.
    """

    ends_at: float | None = None  # time.monotonic() at the store's end of the window; None until it answers
    counted: int = 0
    added: int = 0
    sending: int = 0
    others: int = 0
    forgotten: int = 0
    sent_at: float = float("-inf")

    @property
    def pending(self) -> int:
        return self.counted - self.added - self.sending

    def total(self, position: int) -> int:
        """The window's hits up to and including this process's hit at ``position``, as far as it knows."""
        return self.others + position - self.forgotten


@dataclass
class _Counter:
    """One key's current window, and the lock that sends its adds to the store one at a time."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    window: _Window = field(default_factory=_Window)


@dataclass
class RateLimiter:
    """Fixed windows per token, counted in batches.

    Adding each request to the shared counter would cost a round trip per request. Each process instead
    counts locally and adds its hits to the shared store (`limits`' storage ``incr``) when it has
    gathered a sixteenth of what the window still allows, or at least every ``SYNC_SECONDS``. Far from
    the limit that is a round trip every few dozen requests; near it (and over it), every request.

    Each hit is decided on its position among this process's hits of the window plus the other processes'
    hits as of the store's last answer; a hit that closes a batch is decided on the answer to that batch.
    So in one process the first N hits of a window pass and the next is refused, whatever the concurrency;
    across processes the limit overshoots by at most the hits decided between answers (docs/decisions/0016).
    """

    limits: list[RateLimitItem]
    storage: Storage
    counters: TTLCache[str, _Counter] = field(default_factory=lambda: TTLCache(maxsize=100_000, ttl=3600))

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
                window, position = await self._count(limit, limit.key_for(identity))
                if window.total(position) > limit.amount:
                    retry_after = (max(1, math.ceil(window.ends_at - time.monotonic()))
                                   if window.ends_at is not None else limit.get_expiry())
                    metrics.RATE_LIMITED.inc()
                    words = refusal_words(limit, retry_after)
                    raise TooManyRequests(headers={"Retry-After": str(retry_after)}, requests=words.requests,
                                          period=words.period, wait=words.wait, amount=words.amount,
                                          period_zh=words.period_zh, retry_after=retry_after)
        except StorageError as exc:
            logger.warning("rate limit counters unavailable (%s); request let through",
                           type(exc.storage_error).__name__)

    async def _count(self, limit: RateLimitItem, key: str) -> tuple[_Window, int]:
        """Count the hit in its window (without awaiting: the position is this hit's alone) and, when that
        closes a batch, add the batch and wait for the store's answer. Answers the window and the position."""
        counter = self.counters.get(key)
        if counter is None:
            counter = self.counters[key] = _Counter()
        window = counter.window
        if window.ends_at is not None and time.monotonic() >= window.ends_at:
            window = counter.window = _Window()
        window.counted += 1
        position = window.counted
        if self._due(limit, window):
            async with counter.lock:
                # Meanwhile another hit's add may have taken this one, or told enough of the window to wait.
                if window is counter.window and position > window.added and self._due(limit, window):
                    await self._add(limit, key, window)
        return window, position

    def _due(self, limit: RateLimitItem, window: _Window) -> bool:
        if window.pending == 0:
            return False
        if window.ends_at is None:
            return True  # nothing known of the window: the store's answer decides
        remaining = limit.amount - window.total(window.counted)
        return (window.pending >= max(1, remaining // self.BATCH_DIVISOR)
                or time.monotonic() - window.sent_at >= self.SYNC_SECONDS)

    async def _add(self, limit: RateLimitItem, key: str, window: _Window) -> None:
        """Add the pending hits to the store (under the key's lock, so adds go one at a time and each
        answer tells how many of the store's hits are this process's)."""
        amount = window.pending
        window.sending, window.sent_at = amount, time.monotonic()  # taken out before awaiting: sent once
        try:
            total = await self.storage.incr(key, limit.get_expiry(), amount=amount)
        finally:
            window.sending = 0  # on failure the hits are pending again, for the next add
        if total < window.added - window.forgotten + amount:
            # The store holds fewer than this process added: its window restarted before this one ended
            # (clocks apart, counters lost). The store's new window holds this batch and what others added.
            window.forgotten, window.ends_at = window.added, None
        window.added += amount
        window.others = total - (window.added - window.forgotten)
        if window.ends_at is None:
            reset_at = await self.storage.get_expiry(key)
            window.ends_at = time.monotonic() + (reset_at - time.time())

    async def close(self) -> None:
        if isinstance(self.storage, PostgresStorage):
            await self.storage.engine.dispose()
