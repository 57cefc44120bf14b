"""SQL for idempotency keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.idempotency.models import IdempotencyKey


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


async def take_over_expired_lease(
    session: AsyncSession, token_id: int, key: str, now: datetime, lease_until: datetime
) -> bool:
    """Claim a key whose previous holder died (its lease ran out) without finishing."""
    result = await session.execute(
        update(IdempotencyKey)
        .where(
            col(IdempotencyKey.token_id) == token_id,
            col(IdempotencyKey.key) == key,
            col(IdempotencyKey.state) == "running",
            col(IdempotencyKey.lease_until) < now,
        )
        .values(lease_until=lease_until)
        .returning(col(IdempotencyKey.key))
    )
    return result.first() is not None


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
