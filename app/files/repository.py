from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

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
