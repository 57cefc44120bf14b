from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.audit import repository
from app.audit.repository import AuditFilter
from app.audit.schemas import AuditEventOut
from app.auth.dependencies import AdminCaller
from app.core.db import SessionDep
from app.core.openapi import problem_responses
from app.core.pagination import Page, PageDep, page_of
from app.core.routing import ApiRoute

router = APIRouter(prefix="/audit-events", tags=["audit"], route_class=ApiRoute)


@router.get("", response_model=Page[AuditEventOut], operation_id="listAuditEvents",
            responses=problem_responses(403))
async def list_audit_events(
    _caller: AdminCaller,
    session: SessionDep,
    page: PageDep,
    entity: Annotated[str | None, Query(max_length=32, description="Only this kind of object (对象类型), "
                                        "e.g. `indicator`, `token`.")] = None,
    entity_id: Annotated[str | None, Query(max_length=64, description="Only this object key (对象编号), e.g. "
                                           "`1.4.02`; combine with `entity`.")] = None,
    department: Annotated[str | None, Query(max_length=16, description="Only writes by this department "
                                            "(操作部门), by code.")] = None,
    action: Annotated[str | None, Query(max_length=64, description="Only this action (操作类型), e.g. "
                                        "`indicator.revised`.")] = None,
) -> Page[AuditEventOut]:
    """Every write, oldest first (`admin`): who (department, token), what, when, before and after."""
    position = page.position("audit_events", int)
    rows = await repository.list_after(
        session,
        AuditFilter(entity=entity, entity_id=entity_id, department=department, action=action),
        after_id=position[0] if position else None,
        limit=page.limit + 1,
    )
    items, next_cursor = page_of(rows, page, "audit_events", lambda e: [e.id])
    return Page[AuditEventOut](items=[AuditEventOut.model_validate(e) for e in items], next_cursor=next_cursor)
