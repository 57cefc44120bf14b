"""`Idempotency-Key` for creating POSTs, as one reusable dependency (SPEC §5 "Idempotency").

Everything happens in the request's own transaction: the key is claimed there, and its answer is
stored there together with what the request created, so both commit or neither does. A request that
fails, or whose database goes away mid-request, leaves no trace of its key, and a retry runs again at
once. While a request holds its key, a transaction-scoped advisory lock on (token, key) marks it in
progress for every process (PostgreSQL): a concurrent duplicate answers 409 instead of waiting.
Keys live 24 hours per token (docs/decisions/0009-idempotency.md).
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
from app.core.db import SessionDep
from app.core.errors import BadRequest, Conflict, Unprocessable
from app.core.timeutil import utcnow
from app.idempotency import repository

KEY_SHAPE = re.compile(r"[\x21-\x7e]{1,255}")
RETENTION = timedelta(hours=24)
LEASE = timedelta(seconds=60)  # kept in the row for operators; the advisory lock decides
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
    if existing is None:  # it expired and another request of this token purged it in between: retry
        raise Conflict("idempotency_key_in_progress", headers={"Retry-After": "1"})
    if existing.request_hash != fingerprint:
        raise Unprocessable("idempotency_key_reused")
    if existing.state == "done":
        assert existing.response_status is not None
        raise IdempotentReplay(existing.response_status, dict(existing.response_headers or {}),
                               existing.response_body or "")
    # A committed 'running' row was left by a request that could not finish (only versions before the
    # advisory lock committed claims early). This transaction holds the key now: it runs the request.


async def idempotent_request(
    request: Request,
    caller: Caller,
    session: SessionDep,
    idempotency_key: Annotated[
        str | None,
        Header(description="Idempotency key (幂等键), 1–255 visible ASCII characters without spaces, e.g. a "
                           "UUID: a retry with the same key and body replays the first answer (with "
                           "`Idempotent-Replayed: true`); keys are kept 24 hours per token."),
    ] = None,
) -> AsyncIterator[None]:
    if idempotency_key is None:
        yield
        return
    if not KEY_SHAPE.fullmatch(idempotency_key):
        raise BadRequest("invalid_idempotency_key")
    assert caller.token_id is not None
    fingerprint = await request_fingerprint(request)
    if not await repository.hold(session, caller.token_id, idempotency_key):
        raise Conflict("idempotency_key_in_progress", headers={"Retry-After": "1"})
    await _claim(session, caller.token_id, idempotency_key, fingerprint)
    yield  # an exception rolls the claim back with the rest of the unit of work
    response: Response | None = getattr(request.state, "response", None)
    if response is None or response.status_code >= 500:
        await repository.release(session, caller.token_id, idempotency_key)
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
