from __future__ import annotations

import hashlib
import re
import uuid

import anyio.to_thread
from fastapi import UploadFile
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.core.actor import Actor
from app.core.config import Settings
from app.core.errors import NotFound, PayloadTooLarge, UnsupportedMediaType
from app.core.timeutil import utcnow
from app.files import repository, storage
from app.files.models import StoredFile
from app.files.schemas import FileOut
from app.files.sniff import sniff

CHUNK_SIZE = 64 * 1024
FILENAME_MAX = 255
DEFAULT_FILENAME = "upload"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def snapshot(stored: StoredFile) -> dict[str, object]:
    return FileOut.model_validate(stored).model_dump(mode="json")


def clean_filename(raw: str | None) -> str:
    """The client's name without any directory part (either separator) or control characters."""
    name = _CONTROL.sub("", re.split(r"[\\/]", raw or "")[-1]).strip()
    if name in ("", ".", ".."):
        return DEFAULT_FILENAME
    return name[:FILENAME_MAX]


async def _digest(upload: UploadFile, limit: int) -> tuple[str, int]:
    """SHA-256 and size of the upload, read in chunks; 413 past ``limit`` whatever Content-Length said."""
    digest = hashlib.sha256()
    size = 0
    await upload.seek(0)
    while chunk := await upload.read(CHUNK_SIZE):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit=limit)
        digest.update(chunk)
    return digest.hexdigest(), size


async def upload(session: AsyncSession, actor: Actor, settings: Settings, upload: UploadFile) -> StoredFile:
    """Store an evidence file by its content and record who uploaded it.

    The bytes are written before the row: a failed transaction can leave an unreferenced blob
    (harmless, content-addressed), never a row without its bytes.
    """
    assert actor.department is not None
    sha256, size = await _digest(upload, settings.max_upload_bytes)
    media_type = await anyio.to_thread.run_sync(sniff, upload.file)
    if media_type is None:
        raise UnsupportedMediaType("unsupported_file_type")
    await storage.save(settings.files_dir, sha256, upload.file)
    stored = await repository.insert(session, StoredFile(
        id=uuid.uuid4().hex,
        sha256=sha256,
        size=size,
        media_type=media_type,
        filename=clean_filename(upload.filename),
        department=actor.department,
        token_id=actor.token_id,
        created_at=utcnow(),
    ))
    record(session, actor, action="file.uploaded", entity="file", entity_id=stored.id, after=snapshot(stored))
    return stored


async def get_readable(session: AsyncSession, actor: Actor, file_id: str) -> StoredFile:
    """The file, when the caller's department uploaded it, or it is named by a submission the caller may
    read, or by a cell's evidence or inspection photos the caller may read.

    Anything else is 404, never 403: an id is not confirmed to whoever may not read it.
    """
    stored = await repository.get(session, file_id)
    if stored is not None and (
        (actor.department is not None and stored.department == actor.department)
        or await repository.readable_through_submission(session, file_id, actor)
        or await repository.readable_through_cell(session, file_id, actor)
    ):
        return stored
    raise NotFound(entity="file", id=file_id)
