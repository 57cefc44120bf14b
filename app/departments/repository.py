from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.departments.models import Department


async def get(session: AsyncSession, code: str) -> Department | None:
    return await session.get(Department, code)


async def existing_codes(session: AsyncSession, codes: Sequence[str]) -> set[str]:
    if not codes:
        return set()
    result = await session.execute(select(col(Department.code)).where(col(Department.code).in_(codes)))
    return set(result.scalars())


async def list_after(session: AsyncSession, after_code: str | None, limit: int) -> Sequence[Department]:
    query = select(Department).order_by(col(Department.code))
    if after_code is not None:
        query = query.where(col(Department.code) > after_code)
    result = await session.execute(query.limit(limit))
    return result.scalars().all()
