"""A `limits` storage on PostgreSQL: the fixed-window counters every process shares.

`limits` keeps counters in memory, Redis, Memcached or MongoDB; a deployment of this service has
PostgreSQL and may have no Redis, so this storage keeps them in an unlogged table. Each call is one
autocommit statement on a small pool of its own: a request holding its unit of work's connection
never waits for another from the same pool, and a counter's row lock lasts one statement.
"""

from __future__ import annotations

import time

from limits.aio.storage import Storage
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# Times are seconds since the epoch on the database's clock (clock_timestamp()), the one clock every
# process shares; only durations leave the database.
_INCREMENT = text("""
    INSERT INTO rate_limit_counters AS c (key, hits, expires_at)
    VALUES (:key, :amount, extract(epoch from clock_timestamp()) + :expiry)
    ON CONFLICT (key) DO UPDATE SET
        hits = CASE WHEN c.expires_at <= extract(epoch from clock_timestamp())
                    THEN excluded.hits ELSE c.hits + excluded.hits END,
        expires_at = CASE WHEN c.expires_at <= extract(epoch from clock_timestamp())
                          THEN excluded.expires_at ELSE c.expires_at END
    RETURNING hits
""")
_HITS = text("SELECT hits FROM rate_limit_counters "
             "WHERE key = :key AND expires_at > extract(epoch from clock_timestamp())")
_SECONDS_LEFT = text("SELECT expires_at - extract(epoch from clock_timestamp()) FROM rate_limit_counters "
                     "WHERE key = :key AND expires_at > extract(epoch from clock_timestamp())")
_CLEAR = text("DELETE FROM rate_limit_counters WHERE key = :key")
_RESET = text("DELETE FROM rate_limit_counters")


class PostgresStorage(Storage):
    STORAGE_SCHEME = None  # built from the service's engine, never from a `limits` URI

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(wrap_exceptions=True)
        self.engine = engine

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        return (sa_exc.SQLAlchemyError, OSError)

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        async with self.engine.connect() as connection:
            result = await connection.execute(_INCREMENT, {"key": key, "amount": amount, "expiry": expiry})
            return int(result.scalar_one())

    async def get(self, key: str) -> int:
        async with self.engine.connect() as connection:
            hits = (await connection.execute(_HITS, {"key": key})).scalar_one_or_none()
        return int(hits or 0)

    async def get_expiry(self, key: str) -> float:
        """When the key's window ends, on this host's clock (`limits` compares it with ``time.time()``): the
        database tells how long is left, so a difference between the two clocks does not shift the window."""
        async with self.engine.connect() as connection:
            left = (await connection.execute(_SECONDS_LEFT, {"key": key})).scalar_one_or_none()
        return time.time() + (float(left) if left is not None else 0.0)

    async def check(self) -> bool:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True

    async def reset(self) -> int | None:
        async with self.engine.connect() as connection:
            return (await connection.execute(_RESET)).rowcount

    async def clear(self, key: str) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(_CLEAR, {"key": key})
