"""`Idempotency-Key` for creating POSTs, as one reusable dependency (SPEC §5 "Idempotency").

The key is claimed in a short transaction of its own, committed at once, so that every process
sees a request in progress (409). The answer is stored in the request's own transaction, together
with what the request created: both commit, or neither does. A request that fails releases its
key, so a retry runs again (nothing was written). Keys live 24 hours per token.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import Caller
from app.core.db import Database, SessionDep
from app.core.errors import BadRequest, Conflict, Unprocessable
from app.core.timeutil import utcnow
from app.idempotency import repository

KEY_SHAPE = re.compile(r"[\x21-\x7e]{1,255}")
RETENTION = timedelta(hours=24)
LEASE = timedelta(seconds=60)
REPLAYED_HEADERS = ("content-type", "location", "etag")


class IdempotentReplay(Exception):
    """Raised to answer with the stored response of an earlier request with the same key."""

    def __init__(self, status: int, headers: dict[str, str], body: str) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        super().__init__("replay")


async def request_fingerprint(request: Request) -> str:
    """SHA-256 of what the request asks for: method, path, query and body.

    A multipart body is fingerprinted by its fields and file contents, not its bytes: a retry of the
    same upload carries a new random boundary.
    """
    digest = hashlib.sha256()
    for part in (request.method, request.url.path, request.url.query):
        digest.update(part.encode())
        digest.update(b"\0")
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        form = await request.form()
        for name, field in sorted(form.multi_items(), key=lambda item: item[0]):
            digest.update(name.encode() + b"\0")
            if isinstance(field, str):
                digest.update(field.encode())
            else:
                content = await field.read()
                await field.seek(0)
                digest.update(f"{field.filename}\0".encode() + hashlib.sha256(content).digest())
            digest.update(b"\0")
    else:
        digest.update(await request.body())
    return digest.hexdigest()


async def _claim(session: AsyncSession, token_id: int, key: str, fingerprint: str) -> None:
    now = utcnow()
    await repository.purge_expired(session, token_id, now)
    inserted = await repository.insert_if_absent(session, {
        "token_id": token_id, "key": key, "request_hash": fingerprint, "state": "running",
        "lease_until": now + LEASE, "created_at": now, "expires_at": now + RETENTION,
    })
    if inserted:
        return
    existing = await repository.get(session, token_id, key)
    if existing is None:  # expired and purged by a concurrent request between the two statements
        raise Conflict("idempotency_key_in_progress")
    if existing.request_hash != fingerprint:
        raise Unprocessable("idempotency_key_reused")
    if existing.state == "done":
        assert existing.response_status is not None
        raise IdempotentReplay(existing.response_status, dict(existing.response_headers or {}),
                               existing.response_body or "")
    if not await repository.take_over_expired_lease(session, token_id, key, now, now + LEASE):
        raise Conflict("idempotency_key_in_progress")


async def _release(database: Database, token_id: int, key: str) -> None:
    async with database.sessionmaker() as session, session.begin():
        await repository.release(session, token_id, key)


async def idempotent_request(
    request: Request,
    caller: Caller,
    session: SessionDep,
    idempotency_key: Annotated[
        str | None,
        Header(description="Makes a retried POST safe: the same key and body replay the first answer "
                           "(kept 24 hours per token)."),
    ] = None,
) -> AsyncIterator[None]:
    if idempotency_key is None:
        yield
        return
    if not KEY_SHAPE.fullmatch(idempotency_key):
        raise BadRequest("invalid_idempotency_key")
    assert caller.token_id is not None
    database: Database = request.app.state.database
    fingerprint = await request_fingerprint(request)
    # SQLite has one writer at a time and the request's transaction already holds it: claim inside
    # that transaction (a concurrent duplicate then waits and replays). Elsewhere claim in a
    # transaction of its own, committed at once, so a concurrent duplicate sees it running (409).
    separate = session.get_bind().dialect.name != "sqlite"
    if separate:
        async with database.sessionmaker() as claim_session, claim_session.begin():
            await _claim(claim_session, caller.token_id, idempotency_key, fingerprint)
    else:
        await _claim(session, caller.token_id, idempotency_key, fingerprint)
    try:
        yield
    except BaseException:
        if separate:
            await _release(database, caller.token_id, idempotency_key)
        raise
    response: Response | None = getattr(request.state, "response", None)
    if response is None or response.status_code >= 500:
        if separate:
            await _release(database, caller.token_id, idempotency_key)
        return
    headers = {name: response.headers[name] for name in REPLAYED_HEADERS if name in response.headers}
    await repository.complete(session, caller.token_id, idempotency_key, status=response.status_code,
                              headers=headers, body=bytes(response.body).decode("utf-8"))


Idempotent = Depends(idempotent_request, scope="function")


async def _replay(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)
    headers = {**exc.headers, "Idempotent-Replayed": "true"}
    media_type = headers.pop("content-type", "application/json")
    return Response(exc.body, status_code=exc.status, headers=headers, media_type=media_type)


def install_replay_handler(app: FastAPI) -> None:
    app.add_exception_handler(IdempotentReplay, _replay)
