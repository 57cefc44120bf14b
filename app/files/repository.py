from __future__ import annotations

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.cells.models import Cell, CellFile, CellType
from app.core.actor import Actor
from app.files.models import StoredFile
from app.submissions.models import Submission, SubmissionEvidenceFile
from app.submissions.visibility import visible_to


async def insert(session: AsyncSession, stored: StoredFile) -> StoredFile:
    session.add(stored)
    await session.flush()
    return stored


async def get(session: AsyncSession, file_id: str) -> StoredFile | None:
    return await session.get(StoredFile, file_id)


async def readable_through_submission(session: AsyncSession, file_id: str, actor: Actor) -> bool:
    """Whether some submission the actor may read names this file as evidence."""
    condition = exists().where(
        col(SubmissionEvidenceFile.file_id) == file_id,
        col(SubmissionEvidenceFile.submission_id) == col(Submission.id),
        visible_to(actor),
    )
    return bool(await session.scalar(select(condition)))


async def readable_through_cell(session: AsyncSession, file_id: str, actor: Actor) -> bool:
    """Whether a cell names this file in a way the actor may read: a cell's evidence (every token reads
    cells), or an inspection's photo (whoever may read the inspections: a `cells:write` token of the
    type's responsible department or of the lead office, SPEC §4)."""
    named = [col(CellFile.file_id) == file_id]
    clauses = [exists().where(*named, col(CellFile.role) == "evidence")]
    if actor.has_scope("cells:write") and actor.is_lead_office:
        clauses.append(exists().where(*named))
    elif actor.has_scope("cells:write") and actor.department is not None:
        clauses.append(exists().where(
            *named,
            col(CellFile.cell_id) == col(Cell.id),
            col(Cell.type) == col(CellType.code),
            col(CellType.responsible_department) == actor.department,
        ))
    return bool(await session.scalar(select(or_(*clauses))))
