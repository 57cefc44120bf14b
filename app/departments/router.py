from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from app.auth.dependencies import AdminCaller
from app.core.db import SessionDep
from app.core.openapi import problem_responses
from app.core.pagination import Page, PageDep, page_of
from app.core.routing import ApiRoute
from app.departments import repository, service
from app.departments.schemas import DepartmentCreate, DepartmentOut
from app.idempotency.dependencies import Idempotent

router = APIRouter(prefix="/departments", tags=["departments"], route_class=ApiRoute)

DepartmentCode = Annotated[str, Path(description="Department code (部门编码), e.g. `sthj`.")]


@router.get("", response_model=Page[DepartmentOut], operation_id="listDepartments",
            responses=problem_responses())
async def list_departments(session: SessionDep, page: PageDep) -> Page[DepartmentOut]:
    """List the departments (部门), ordered by code."""
    position = page.position("departments", str)
    rows = await repository.list_after(session, position[0] if position else None, page.limit + 1)
    items, next_cursor = page_of(rows, page, "departments", lambda d: [d.code])
    return Page[DepartmentOut](items=[DepartmentOut.model_validate(d) for d in items], next_cursor=next_cursor)


@router.get("/{code}", response_model=DepartmentOut, operation_id="getDepartment",
            responses=problem_responses(404))
async def get_department(code: DepartmentCode, session: SessionDep) -> DepartmentOut:
    """One department by its code."""
    return DepartmentOut.model_validate(await service.get(session, code))


@router.post("", response_model=DepartmentOut, status_code=status.HTTP_201_CREATED,
             operation_id="createDepartment", dependencies=[Idempotent], responses=problem_responses(403, 409))
async def create_department(
    body: DepartmentCreate, session: SessionDep, caller: AdminCaller, response: Response
) -> DepartmentOut:
    """Create a department (`admin`)."""
    department = await service.create(session, caller, body)
    response.headers["Location"] = f"/v1/departments/{department.code}"
    return DepartmentOut.model_validate(department)
