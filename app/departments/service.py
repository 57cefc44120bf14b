from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.core.actor import Actor
from app.core.errors import Conflict, NotFound
from app.core.timeutil import utcnow
from app.departments import repository
from app.departments.models import Department
from app.departments.schemas import DepartmentCreate, DepartmentOut


def snapshot(department: Department) -> dict[str, object]:
    return DepartmentOut.model_validate(department).model_dump(mode="json")


async def get(session: AsyncSession, code: str) -> Department:
    department = await repository.get(session, code)
    if department is None:
        raise NotFound(entity="department", id=code)
    return department


async def create(session: AsyncSession, actor: Actor, body: DepartmentCreate) -> Department:
    if await repository.get(session, body.code) is not None:
        raise Conflict("department_exists", code=body.code)
    now = utcnow()
    department = Department(**body.model_dump(), created_at=now, updated_at=now)
    session.add(department)
    await session.flush()
    record(session, actor, action="department.created", entity="department", entity_id=department.code,
           after=snapshot(department))
    return department
