"""Small helpers that set up state for tests and read the database afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import text

from app.auth import service as tokens
from app.core.actor import Actor
from app.core.config import Settings


async def make_token(
    app: Any,
    department: str,
    scopes: list[str],
    *,
    name: str | None = None,
    expires_at: datetime | None = None,
    revoked_at: datetime | None = None,
) -> str:
    """Mint a token straight in the database (as `zwc token create` does) and answer its secret."""
    async with app.state.database.sessionmaker() as session, session.begin():
        minted = await tokens.mint(session, Actor.system(), department=department, scopes=scopes, name=name,
                                   expires_in_days=None, default_expiry_days=365)
        if expires_at is not None:
            minted.token.expires_at = expires_at
        if revoked_at is not None:
            minted.token.revoked_at = revoked_at
        session.add(minted.token)
    return minted.secret


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


async def sql(app: Any, query: str, **params: Any) -> list[Any]:
    """Rows of a raw SQL query against the test's database."""
    async with app.state.database.engine.connect() as connection:
        result = await connection.execute(text(query), params)
        return list(result.all()) if result.returns_rows else []


async def sql_write(app: Any, query: str, **params: Any) -> None:
    async with app.state.database.engine.begin() as connection:
        await connection.execute(text(query), params)


PROBLEM = "application/problem+json"
PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The answer is an RFC 9457 problem with the given status and code; answers its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert set(body) >= PROBLEM_FIELDS
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:zwc:problem:{code}"
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


@asynccontextmanager
async def serving(settings: Settings, *, raise_app_exceptions: bool = True,
                  **changes: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """An application of its own, built from ``settings`` with ``changes`` (its own pools and limiter, as a
    second server process would have), and a client talking to it."""
    from app.main import create_app

    application = create_app(settings.model_copy(update=changes))
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=raise_app_exceptions)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield application, http
    finally:
        if application.state.rate_limiter is not None:
            await application.state.rate_limiter.close()
        await application.state.database.dispose()
