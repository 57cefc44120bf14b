from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from app.auth import repository, service
from app.auth.dependencies import AdminCaller, Caller
from app.auth.schemas import Me, TokenCreate, TokenCreated, TokenOut
from app.core.db import SessionDep
from app.core.openapi import problem_responses
from app.core.pagination import Page, PageDep, page_of
from app.core.routing import ApiRoute
from app.departments import service as departments
from app.departments.router import DepartmentCode
from app.departments.schemas import DepartmentOut
from app.idempotency.dependencies import Idempotent

router = APIRouter(tags=["auth"], route_class=ApiRoute)

TokenId = Annotated[int, Path(ge=1, le=2**31 - 1,
                              description="The token's id (令牌编号), as answered by `createToken` or listed by "
                                          "`listTokens`.")]


@router.get("/me", response_model=Me, operation_id="getMe", responses=problem_responses())
async def get_me(caller: Caller, session: SessionDep) -> Me:
    """The calling token: its department, scopes and expiry."""
    assert caller.department is not None
    assert caller.token_id is not None
    department = await departments.get(session, caller.department)
    return Me(
        token_id=caller.token_id,
        token_name=caller.token_name or "",
        department=DepartmentOut.model_validate(department),
        scopes=sorted(caller.scopes),
        expires_at=caller.expires_at,
    )


@router.post("/departments/{code}/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED,
             operation_id="createToken", dependencies=[Idempotent], tags=["departments"],
             responses=problem_responses(403, 404))
async def create_token(
    code: DepartmentCode,
    body: TokenCreate,
    session: SessionDep,
    caller: AdminCaller,
    request: Request,
    response: Response,
) -> TokenCreated:
    """Mint a token for a department (`admin`). The secret appears in this answer only."""
    minted = await service.mint(
        session,
        caller,
        department=code,
        scopes=list(body.scopes),
        name=body.name,
        expires_in_days=body.expires_in_days,
        default_expiry_days=request.app.state.settings.token_default_expiry_days,
    )
    token = minted.token
    assert token.id is not None
    response.headers["Location"] = f"/v1/tokens/{token.id}"
    return TokenCreated(id=token.id, token=minted.secret, department=token.department,
                        scopes=token.scopes, expires_at=token.expires_at)


@router.get("/tokens", response_model=Page[TokenOut], operation_id="listTokens", responses=problem_responses())
async def list_tokens(caller: Caller, session: SessionDep, page: PageDep) -> Page[TokenOut]:
    """Tokens (never their secrets): every token for `admin`, else the caller's department's."""
    position = page.position("tokens", int)
    rows = await repository.list_after(
        session,
        department=None if caller.has_scope("admin") else caller.department,
        after_id=int(position[0]) if position else None,
        limit=page.limit + 1,
    )
    items, next_cursor = page_of(rows, page, "tokens", lambda t: [t.id])
    return Page[TokenOut](items=[TokenOut.model_validate(t) for t in items], next_cursor=next_cursor)


@router.get("/tokens/{token_id}", response_model=TokenOut, operation_id="getToken",
            responses=problem_responses(404))
async def get_token(token_id: TokenId, caller: Caller, session: SessionDep) -> TokenOut:
    """One token (never its secret), if it is the caller's department's or the caller is `admin`."""
    return TokenOut.model_validate(await service.visible_token(session, caller, token_id))


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="revokeToken",
               responses=problem_responses(404))
async def revoke_token(token_id: TokenId, caller: Caller, session: SessionDep) -> Response:
    """Revoke a token: `admin` any, others their own department's. Revoking twice changes nothing."""
    token = await service.visible_token(session, caller, token_id)
    await service.revoke(session, caller, token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
