from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.models import ApiToken
from app.departments.models import Department


class Credential(NamedTuple):
    """What authenticating a request needs of a token: plain columns, no ORM object (this runs per request)."""

    id: int
    name: str
    department: str
    department_kind: str
    scopes: list[str]
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


async def by_hash(session: AsyncSession, token_hash: str) -> Credential | None:
    """The token with that hash and its department's kind, in one query."""
    result = await session.execute(
        select(col(ApiToken.id), col(ApiToken.name), col(ApiToken.department), col(Department.kind),
               col(ApiToken.scopes), col(ApiToken.expires_at), col(ApiToken.revoked_at), col(ApiToken.last_used_at))
        .join(Department, col(Department.code) == col(ApiToken.department))
        .where(col(ApiToken.token_hash) == token_hash)
    )
    row = result.first()
    if row is None:
        return None
    token_id, name, department, kind, scopes, expires_at, revoked_at, last_used_at = row
    assert token_id is not None  # a primary key
    return Credential(token_id, name, department, kind, scopes, expires_at, revoked_at, last_used_at)


async def get(session: AsyncSession, token_id: int) -> ApiToken | None:
    return await session.get(ApiToken, token_id)


async def touch(session: AsyncSession, token_id: int, at: datetime) -> None:
    await session.execute(
        update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used_at=at)
    )


async def count(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(ApiToken))).scalar_one())


async def list_after(
    session: AsyncSession, *, department: str | None, after_id: int | None, limit: int
) -> Sequence[ApiToken]:
    query = select(ApiToken).order_by(col(ApiToken.id))
    if department is not None:
        query = query.where(col(ApiToken.department) == department)
    if after_id is not None:
        query = query.where(col(ApiToken.id) > after_id)
    return (await session.execute(query.limit(limit))).scalars().all()
