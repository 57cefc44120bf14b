"""The figures' data version, kept in process memory and pushed by PostgreSQL.

Every change a cached read can depend on inserts into one of three tables, whose triggers ``NOTIFY
zwc_data_version`` at commit (migration 5d1c0f7e9a2b). Each process listens on a connection of its own
and re-reads the version (`scores.repository.data_version_query`) when told, and at least every
``REFRESH_SECONDS``. The version is trusted only while the listener is connected: ``current`` is None
while it is not, between a notification and the re-read, and after this process's own writes until the
re-read, so a process always sees its own writes and sees other processes' as soon as PostgreSQL tells
it (decision 0020).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import ANY_TABLE
from app.scores.repository import DataVersion, data_version_query

logger = logging.getLogger("zwc.readcache")

CHANNEL = "zwc_data_version"
WATCHED_TABLES = frozenset({"outbox_events", "indicator_versions", "cell_quota_changes"})  # as the triggers
APPLICATION_NAME = "zwc-data-version"  # how operators (and tests) find the listener in pg_stat_activity


class DataVersionWatch:
    REFRESH_SECONDS = 1.0  # bounds what a notification lost on the way could cost
    RECONNECT_SECONDS = 1.0

    def __init__(self, conninfo: str, engine: AsyncEngine) -> None:
        self.conninfo = conninfo
        self.engine = engine
        self.current: DataVersion | None = None
        self._epoch = 0  # bumped by every event that makes a version being read possibly out of date
        self._listening = False
        self._sql = str(data_version_query().compile(dialect=postgresql.dialect(),  # type: ignore[no-untyped-call]
                                                     compile_kwargs={"literal_binds": True}))
        self._refreshing: asyncio.Task[None] | None = None

    @classmethod
    def for_database(cls, database_url: str, engine: AsyncEngine) -> DataVersionWatch | None:
        """A watch on PostgreSQL; None on SQLite, which has no NOTIFY (reads then always take the full path)."""
        url = make_url(database_url)
        if url.get_backend_name() not in ("postgresql", "postgres"):
            return None
        return cls(url.set(drivername="postgresql").render_as_string(hide_password=False), engine)

    def written(self, tables: frozenset[str]) -> None:
        """This process committed inserts or deletes in ``tables``: if the version depends on one of them,
        distrust it until it is read again."""
        if tables & WATCHED_TABLES or ANY_TABLE in tables:
            self.invalidate()

    def invalidate(self) -> None:
        self._epoch += 1
        self.current = None
        if self._listening and (self._refreshing is None or self._refreshing.done()):
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh_from_pool())

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after a lost connection."""
        failing = False
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        self.conninfo, autocommit=True, connect_timeout=5,
                        application_name=APPLICATION_NAME) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    self._listening = True
                    if failing:
                        logger.warning("data version notifications back")
                        failing = False
                    await self._listen(connection)
            except (psycopg.Error, OSError) as exc:
                if not failing:
                    logger.warning("data version notifications lost (%s); cached reads off until back",
                                   type(exc).__name__)
                failing = True
            finally:
                self._listening = False
                self._epoch += 1
                self.current = None
            await asyncio.sleep(self.RECONNECT_SECONDS)

    async def _listen(self, connection: psycopg.AsyncConnection[tuple[int, int, int]]) -> None:
        while True:
            epoch = self._epoch
            cursor = await connection.execute(self._sql)
            row = await cursor.fetchone()
            assert row is not None
            if self._epoch == epoch:
                self.current = (int(row[0]), int(row[1]), int(row[2]))
            async for _ in connection.notifies(timeout=self.REFRESH_SECONDS, stop_after=1):
                self._epoch += 1
                self.current = None

    async def _refresh_from_pool(self) -> None:
        with contextlib.suppress(Exception):  # the listener's own re-read follows within REFRESH_SECONDS
            while self._listening:
                epoch = self._epoch
                async with self.engine.connect() as connection:
                    row = (await connection.execute(data_version_query())).one()
                if self._epoch == epoch:
                    if self._listening:
                        self.current = (int(row[0]), int(row[1]), int(row[2]))
                    return
