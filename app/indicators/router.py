from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response, status

from app.auth.dependencies import IndicatorsAdminCaller
from app.core.db import SessionDep
from app.core.errors import NotFound
from app.core.openapi import problem_responses
from app.core.pagination import Page, PageDep, page_of
from app.core.routing import ApiRoute
from app.idempotency.dependencies import Idempotent
from app.indicators import repository, service
from app.indicators.repository import IndicatorFilter
from app.indicators.schemas import Category, IndicatorCreate, IndicatorOut, IndicatorPatch, Kind

router = APIRouter(prefix="/indicators", tags=["indicators"], route_class=ApiRoute)

IndicatorCode = Annotated[str, Path(description="Indicator code (指标编码), e.g. `1.4.02`.")]

ETAG_HEADER = {"ETag": {"description": "Strong ETag of this definition version; send it as `If-Match`.",
                        "schema": {"type": "string"}}}


@router.get("", response_model=Page[IndicatorOut], operation_id="listIndicators", responses=problem_responses())
async def list_indicators(
    session: SessionDep,
    page: PageDep,
    category: Annotated[Category | None, Query(description="Only this first-level category (一级指标).")] = None,
    kind: Annotated[Kind | None, Query(description="Only this kind (指标类型): `mandatory`, `optional` or "
                                       "`self_selected`.")] = None,
    department: Annotated[str | None, Query(max_length=16, description="Only indicators this department leads or "
                                            "cooperates on (牵头或配合部门), by code.")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="Search text (关键词): a "
                                   "case-insensitive part of the code, either name or the group.")] = None,
) -> Page[IndicatorOut]:
    """The catalogue (指标目录): each indicator's current definition, ordered by code."""
    position = page.position("indicators", str)
    rows = await repository.list_latest(
        session,
        IndicatorFilter(category=category, kind=kind, department=department, q=q),
        after_code=position[0] if position else None,
        limit=page.limit + 1,
    )
    rows_page, next_cursor = page_of(rows, page, "indicators", lambda row: [row[0]])
    return Page[IndicatorOut](items=await service.present(session, rows_page), next_cursor=next_cursor)


@router.get("/{code}", response_model=IndicatorOut, operation_id="getIndicator",
            responses={**problem_responses(404), 200: {"headers": ETAG_HEADER}})
async def get_indicator(code: IndicatorCode, session: SessionDep, response: Response) -> IndicatorOut:
    """One indicator's current definition, with its `ETag`."""
    out = await service.get(session, code)
    response.headers["ETag"] = service.etag(out)
    return out


@router.get("/{code}/versions", response_model=Page[IndicatorOut], operation_id="listIndicatorVersions",
            responses=problem_responses(404))
async def list_indicator_versions(code: IndicatorCode, session: SessionDep, page: PageDep) -> Page[IndicatorOut]:
    """Every version of one indicator's definition, the current one included, newest first."""
    indicator = await repository.get_indicator(session, code)
    if indicator is None or indicator.id is None:
        raise NotFound(entity="indicator", id=code)
    position = page.position("indicator_versions", int)
    rows = await repository.list_versions(
        session, indicator.id, before_version=position[0] if position else None, limit=page.limit + 1
    )
    versions, next_cursor = page_of(rows, page, "indicator_versions", lambda v: [v.version])
    return Page[IndicatorOut](items=await service.present(session, [(code, v) for v in versions]),
                              next_cursor=next_cursor)


@router.post("", response_model=IndicatorOut, status_code=status.HTTP_201_CREATED, operation_id="createIndicator",
             dependencies=[Idempotent],
             responses={**problem_responses(403, 409), 201: {"headers": ETAG_HEADER}})
async def create_indicator(
    body: IndicatorCreate, session: SessionDep, caller: IndicatorsAdminCaller, response: Response
) -> IndicatorOut:
    """Define a new indicator (`indicators:admin`); it starts at version 1."""
    out = await service.define(session, caller, body)
    response.headers["Location"] = f"/v1/indicators/{out.code}"
    response.headers["ETag"] = service.etag(out)
    return out


@router.patch("/{code}", response_model=IndicatorOut, operation_id="reviseIndicator",
              responses={**problem_responses(403, 404, 412, 428), 200: {"headers": ETAG_HEADER}})
async def revise_indicator(
    code: IndicatorCode,
    body: IndicatorPatch,
    session: SessionDep,
    caller: IndicatorsAdminCaller,
    response: Response,
    if_match: Annotated[str | None, Header(description="The indicator's `ETag` as last read (实体标签): required "
                                           "(428 without it); 412 when a newer version exists.")] = None,
) -> IndicatorOut:
    """Revise a definition (`indicators:admin`, `If-Match` required): every change is a new version,
    in force from `valid_from` (default now); earlier versions stay and keep scoring their periods."""
    changes = body.model_dump(exclude_unset=True, exclude={"valid_from"})
    out, _changed = await service.revise(
        session, caller, code, changes, valid_from=body.valid_from, if_match=if_match
    )
    response.headers["ETag"] = service.etag(out)
    return out
