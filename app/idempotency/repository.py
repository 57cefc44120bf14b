"""SQL for idempotency keys."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import delete, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.idempotency.models import IdempotencyKey


def _lock_key(token_id: int, key: str) -> int:
    """A signed 64-bit advisory lock key for one token's key."""
    digest = hashlib.sha256(f"zwc idempotency {token_id} {key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def hold(session: AsyncSession, token_id: int, key: str) -> bool:
    """Take the key for this transaction; false while another transaction has it.

    PostgreSQL: a transaction-scoped advisory lock, released at commit or rollback (also when the
    connection dies), and safe behind PgBouncer's transaction pooling. SQLite: every request's
    transaction already holds the one write lock, so a duplicate waits for it and then replays.
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    result = await session.execute(text("SELECT pg_try_advisory_xact_lock(:lock)"),
                                   {"lock": _lock_key(token_id, key)})
    return bool(result.scalar_one())


async def purge_expired(session: AsyncSession, token_id: int, now: datetime) -> None:
    await session.execute(
        delete(IdempotencyKey).where(
            col(IdempotencyKey.token_id) == token_id, col(IdempotencyKey.expires_at) <= now
        )
    )


async def insert_if_absent(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert the key unless it exists; answers whether this call inserted it."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(IdempotencyKey)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["token_id", "key"])
        .returning(col(IdempotencyKey.key))
    )
    # RETURNING, not rowcount: drivers disagree on rowcount for a skipped ON CONFLICT.
    return (await session.execute(statement)).first() is not None


async def get(session: AsyncSession, token_id: int, key: str) -> IdempotencyKey | None:
    result = await session.execute(
        select(IdempotencyKey)
        .where(col(IdempotencyKey.token_id) == token_id, col(IdempotencyKey.key) == key)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def complete(
    session: AsyncSession, token_id: int, key: str, *, status: int, headers: dict[str, str], body: str
) -> None:
    await session.execute(
        update(IdempotencyKey)
        .where(col(IdempotencyKey.token_id) == token_id, col(IdempotencyKey.key) == key)
        .values(state="done", response_status=status, response_headers=headers, response_body=body)
    )


async def release(session: AsyncSession, token_id: int, key: str) -> None:
    await session.execute(
        delete(IdempotencyKey).where(
            col(IdempotencyKey.token_id) == token_id,
            col(IdempotencyKey.key) == key,
            col(IdempotencyKey.state) == "running",
        )
    )
