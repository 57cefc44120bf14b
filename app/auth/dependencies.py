"""Authentication (on by default for ``/v1``) and scope checks as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from app.auth import service
from app.core.actor import Actor
from app.core.db import SessionDep
from app.core.errors import Forbidden
from app.ratelimit.limiter import RateLimiter

# Declares the bearer scheme in OpenAPI; the checking itself is ours (401 problems, not 403).
bearer_scheme = HTTPBearer(auto_error=False, description="A `zwc_…` token.")


async def authenticate_request(
    request: Request, session: SessionDep, _credentials: Annotated[object, Depends(bearer_scheme)]
) -> Actor:
    settings = request.app.state.settings
    actor = await service.authenticate(
        session,
        request.headers.get("authorization"),
        request_id=getattr(request.state, "request_id", None),
        touch_interval_seconds=settings.token_touch_interval_seconds,
        cache_seconds=settings.token_cache_seconds,
    )
    request.state.actor = actor  # for the request's log record (department and token id, never the token)
    limiter: RateLimiter | None = request.app.state.rate_limiter
    if limiter is not None and actor.token_id is not None:
        await limiter.hit(actor.token_id)
    return actor


Caller = Annotated[Actor, Depends(authenticate_request)]


class RequireScope:
    """A dependency that lets through callers holding any one of ``scopes``."""

    def __init__(self, *scopes: str) -> None:
        self.scopes = scopes

    async def __call__(self, caller: Caller) -> Actor:
        if not any(caller.has_scope(scope) for scope in self.scopes):
            raise Forbidden("scope_required", scopes=", ".join(self.scopes))
        return caller


AdminCaller = Annotated[Actor, Depends(RequireScope("admin"))]
IndicatorsAdminCaller = Annotated[Actor, Depends(RequireScope("indicators:admin"))]
