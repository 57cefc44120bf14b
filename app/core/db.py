"""Engines, sessions and the one unit of work per request.

``ZWC_DATABASE_URL`` takes plain ``sqlite:///…`` and ``postgresql://…`` URLs; the driver is
picked here: psycopg 3 for PostgreSQL (one driver for the async service and the synchronous
migrations and CLI, and it runs without server-side prepared statements, which PgBouncer's
transaction pooling needs), aiosqlite/pysqlite for SQLite.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session

from app.core import metrics, registry
from app.core.config import Settings


def normalize_url(url: str, *, use_async: bool) -> URL:
    """Turn a plain database URL into one naming the driver this service uses."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite" if use_async else "sqlite+pysqlite")
    raise ValueError(f"unsupported database URL scheme: {parsed.drivername!r}")


def _ensure_sqlite_dir(url: URL) -> None:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine) -> None:
    """Foreign keys on, WAL, a busy timeout, and write-intent transactions.

    pysqlite's own transaction handling is switched off and every transaction starts with
    ``BEGIN IMMEDIATE``: two deferred transactions that both later write can deadlock, and SQLite
    then fails one at once instead of waiting.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _postgres_connect_args() -> dict[str, Any]:
    # prepare_threshold=None: never prepare statements, so PgBouncer in transaction pooling works.
    return {"prepare_threshold": None, "connect_timeout": 5}


def create_sync_engine(url: str) -> Engine:
    """A synchronous engine for migrations, the CLI and tests."""
    normalized = normalize_url(url, use_async=False)
    if normalized.get_backend_name() == "sqlite":
        _ensure_sqlite_dir(normalized)
        engine = create_engine(normalized)
        _configure_sqlite(engine)
        return engine
    return create_engine(normalized, pool_pre_ping=True, connect_args=_postgres_connect_args())


def create_service_engine(url: str, settings: Settings) -> AsyncEngine:
    normalized = normalize_url(url, use_async=True)
    if normalized.get_backend_name() == "sqlite":
        _ensure_sqlite_dir(normalized)
        engine = create_async_engine(normalized, pool_pre_ping=True)
        _configure_sqlite(engine.sync_engine)
        return engine
    return create_async_engine(
        normalized,
        pool_pre_ping=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_recycle=1800,
        connect_args=_postgres_connect_args(),
    )


def create_autocommit_engine(url: str, *, pool_size: int) -> AsyncEngine:
    """A small PostgreSQL pool of autocommit connections, for one-statement work beside a request's own."""
    return create_async_engine(
        normalize_url(url, use_async=True),
        isolation_level="AUTOCOMMIT",
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        connect_args=_postgres_connect_args(),
    )


@dataclass
class Database:
    """The engines and session factory of one running application."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # A streaming replica for the read-only heavy endpoints (ZWC_DATABASE_READ_URL), if any.
    read_engine: AsyncEngine | None = None
    read_sessionmaker: async_sessionmaker[AsyncSession] | None = None
    # Called with the tables (or ANY_TABLE) a request's unit of work inserted into or deleted from, after
    # it committed them (the read cache's invalidation).
    on_write_commit: list[Callable[[frozenset[str]], None]] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        assert registry.metadata.tables, "every table module is imported before the first session"
        engine = create_service_engine(settings.database_url, settings)
        metrics.watch_pool(engine)
        read_engine = None
        if settings.database_read_url:
            read_engine = create_service_engine(settings.database_read_url, settings)
            metrics.watch_pool(read_engine)
        return cls(engine=engine, sessionmaker=async_sessionmaker(engine, expire_on_commit=False),
                   read_engine=read_engine,
                   read_sessionmaker=async_sessionmaker(read_engine) if read_engine is not None else None)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not None:
            await self.read_engine.dispose()


_WRITTEN = "zwc_written"  # session.info: the tables a transaction inserted into or deleted from
ANY_TABLE = "*"  # SQL text: which tables it wrote is not known


def _written(session: Session) -> set[str]:
    written: set[str] = session.info.setdefault(_WRITTEN, set())
    return written


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context: Any) -> None:
    # Still the flush's pending lists here (SQLAlchemy keeps them until after_flush_postexec).
    _written(session).update(getattr(type(item), "__tablename__", ANY_TABLE)
                             for item in (*session.new, *session.deleted))


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_delete:
        table = getattr(state.statement, "table", None)
        _written(state.session).add(getattr(table, "name", ANY_TABLE))
    elif not (state.is_select or state.is_update):
        _written(state.session).add(ANY_TABLE)


async def _unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """One session and one transaction per request.

    Services only flush; this commits after the endpoint returned and before the response is
    sent (``scope="function"``), so a failed commit can never answer 2xx.
    """
    database: Database = request.app.state.database
    async with database.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
        written = session.info.pop(_WRITTEN, None)
        if written:
            for listener in database.on_write_commit:
                listener(frozenset(written))


SessionDep = Annotated[AsyncSession, Depends(_unit_of_work, scope="function")]


async def _read_only(request: Request, primary: SessionDep) -> AsyncIterator[AsyncSession]:
    """For endpoints that only read, and read much: a session on the replica when ZWC_DATABASE_READ_URL
    names one, else the request's own session. The request's other work (authenticating, counting the
    token's use) stays on the primary, and an endpoint that writes never takes this dependency.

    A replica lags its primary by the time to replay; these endpoints' answers carry the data version
    they were computed at, so that the read cache never keeps an answer older than the version it knows
    (app/readcache/middleware.py)."""
    database: Database = request.app.state.database
    if database.read_sessionmaker is None:
        yield primary
        return
    async with database.read_sessionmaker() as session:
        try:
            yield session
        finally:
            await session.rollback()  # nothing to keep: it only read


ReadSessionDep = Annotated[AsyncSession, Depends(_read_only, scope="function")]
