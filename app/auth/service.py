"""Tokens: minting, authenticating, revoking. Only SHA-256 hashes of secrets are stored."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from weakref import WeakKeyDictionary

from cachetools import TTLCache
from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.auth import repository
from app.auth.models import ApiToken
from app.auth.schemas import TokenOut
from app.core.actor import Actor
from app.core.errors import NotFound, Unauthorized
from app.core.timeutil import utcnow
from app.departments import service as departments

TOKEN_PREFIX = "zwc_"  # noqa: S105 - the public marker every token starts with, not a secret
_TOKEN_SHAPE = re.compile(r"^zwc_[A-Za-z0-9_-]{32,128}$")
DISPLAY_PREFIX_LENGTH = 12


# Tokens verified recently, per database (engine), so that most requests authenticate without a query.
# A revocation made through this process takes effect at once; through another, within the cache's lifetime.
_verified: WeakKeyDictionary[Engine | Connection, TTLCache[str, repository.Credential]] = WeakKeyDictionary()
VERIFIED_CACHE_SIZE = 10_000


def _verified_cache(bind: Engine | Connection, seconds: float) -> TTLCache[str, repository.Credential] | None:
    if seconds <= 0:
        return None
    cache = _verified.get(bind)
    if cache is None or cache.ttl != seconds:
        cache = _verified[bind] = TTLCache(maxsize=VERIFIED_CACHE_SIZE, ttl=seconds)
    return cache


def _forget(session: AsyncSession, token_id: int) -> None:
    cache = _verified.get(session.get_bind())
    if cache is not None:
        for token_hash in [h for h, credential in cache.items() if credential.id == token_id]:
            cache.pop(token_hash, None)


def hash_secret(secret: str) -> str:
    # The secrets carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class MintedToken:
    token: ApiToken
    secret: str


def snapshot(token: ApiToken) -> dict[str, object]:
    return TokenOut.model_validate(token).model_dump(mode="json")


async def mint(
    session: AsyncSession,
    actor: Actor,
    *,
    department: str,
    scopes: list[str],
    name: str | None,
    expires_in_days: int | None,
    default_expiry_days: int,
) -> MintedToken:
    await departments.get(session, department)
    secret = new_secret()
    now = utcnow()
    days = expires_in_days if expires_in_days is not None else default_expiry_days
    token = ApiToken(
        name=name or f"{department} token",
        prefix=secret[:DISPLAY_PREFIX_LENGTH],
        token_hash=hash_secret(secret),
        department=department,
        scopes=list(dict.fromkeys(scopes)),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(token)
    await session.flush()
    record(session, actor, action="token.created", entity="token", entity_id=str(token.id), after=snapshot(token))
    return MintedToken(token=token, secret=secret)


def _secret_hash(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("token_missing")
    scheme, _, secret = authorization.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not _TOKEN_SHAPE.match(secret):
        raise Unauthorized("token_malformed")
    return hash_secret(secret)


def _check_usable(token: repository.Credential, now: datetime) -> None:
    if token.revoked_at is not None:
        raise Unauthorized("token_revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise Unauthorized("token_expired")


def _touch_due(token: repository.Credential, now: datetime, touch_interval_seconds: int) -> bool:
    return token.last_used_at is None or now - token.last_used_at >= timedelta(seconds=touch_interval_seconds)


def _actor(token: repository.Credential, request_id: str | None) -> Actor:
    return Actor(
        department=token.department,
        department_kind=token.department_kind,
        token_id=token.id,
        token_name=token.name,
        scopes=frozenset(token.scopes),
        expires_at=token.expires_at,
        request_id=request_id,
    )


async def authenticate(
    session: AsyncSession, authorization: str | None, *, request_id: str | None, touch_interval_seconds: int,
    cache_seconds: float = 0,
) -> Actor:
    """The caller behind an ``Authorization: Bearer`` header, or 401 saying what is wrong."""
    token_hash = _secret_hash(authorization)
    cache = _verified_cache(session.get_bind(), cache_seconds)
    token = cache.get(token_hash) if cache is not None else None
    if token is None:
        token = await repository.by_hash(session, token_hash)
        if token is None:
            raise Unauthorized("token_unknown")
        if cache is not None:
            cache[token_hash] = token
    now = utcnow()
    _check_usable(token, now)
    if _touch_due(token, now, touch_interval_seconds):
        await repository.touch(session, token.id, now)
        if cache is not None:
            cache[token_hash] = token._replace(last_used_at=now)
    return _actor(token, request_id)


def remembered_caller(bind: Engine, authorization: str | None, *, request_id: str | None,
                      touch_interval_seconds: int) -> Actor | None:
    """The caller, when this process verified the token recently and nothing needs the database; else None
    (the request then takes the full path, which answers every 401 and records the use)."""
    cache = _verified.get(bind)
    if cache is None:
        return None
    try:
        token = cache.get(_secret_hash(authorization))
        if token is None:
            return None
        now = utcnow()
        _check_usable(token, now)
    except Unauthorized:
        return None
    return None if _touch_due(token, now, touch_interval_seconds) else _actor(token, request_id)


async def visible_token(session: AsyncSession, actor: Actor, token_id: int) -> ApiToken:
    """Admins see every token; others only their own department's (404 for the rest)."""
    token = await repository.get(session, token_id)
    if token is None or not (actor.has_scope("admin") or token.department == actor.department):
        raise NotFound(entity="token", id=str(token_id))
    return token


async def revoke(session: AsyncSession, actor: Actor, token: ApiToken, *, at: datetime | None = None) -> ApiToken:
    if token.revoked_at is not None:
        return token
    before = snapshot(token)
    token.revoked_at = at or utcnow()
    session.add(token)
    await session.flush()
    assert token.id is not None
    _forget(session, token.id)
    record(session, actor, action="token.revoked", entity="token", entity_id=str(token.id),
           before=before, after=snapshot(token))
    return token
