from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Header, Path, Request, Response, UploadFile, status

from app.auth.dependencies import Caller, RequireScope
from app.core.actor import Actor
from app.core.concurrency import none_match
from app.core.db import SessionDep
from app.core.openapi import problem_responses
from app.core.routing import ApiRoute
from app.files import service, storage
from app.files.models import MEDIA_TYPES
from app.files.responses import EvidenceFileResponse
from app.files.schemas import FileOut
from app.idempotency.dependencies import Idempotent

router = APIRouter(prefix="/files", tags=["files"], route_class=ApiRoute)

FileWriter = Annotated[Actor, Depends(RequireScope("submissions:write", "cells:write"))]
FileId = Annotated[str, Path(description="File id (文件编号), as answered by `uploadFile` (`POST /v1/files`).")]

_STRING = {"schema": {"type": "string"}}
# A file's bytes never change (its ETag is their SHA-256), but who may read it can: caches revalidate.
CACHE_CONTROL = "private, max-age=0"
_VALIDATORS = {
    "ETag": {"description": "Strong: the quoted SHA-256 of the content, the same for as long as the file "
                            "exists.", **_STRING},
    "Cache-Control": {"description": "`private, max-age=0`: keep it, but revalidate with `If-None-Match`.",
                      **_STRING},
}
UPLOADED: dict[int | str, dict[str, Any]] = {
    201: {"headers": {"Location": {"description": "`/v1/files/{id}`.", **_STRING}}},
}
DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file's bytes, in the media type recognised at upload.",
        "content": {media: {"schema": {"type": "string", "contentMediaType": media}} for media in MEDIA_TYPES},
        "headers": {
            **_VALIDATORS,
            "Content-Disposition": {"description": "`attachment` with the uploaded name (RFC 6266 `filename*`).",
                                    **_STRING},
        },
    },
    304: {"description": "Not modified: `If-None-Match` names the file's ETag (or is `*`); no body.",
          "headers": _VALIDATORS},
}


@router.post("", response_model=FileOut, status_code=status.HTTP_201_CREATED, operation_id="uploadFile",
             dependencies=[Idempotent], responses={**problem_responses(403), **UPLOADED})
async def upload_file(
    file: Annotated[UploadFile, File(description="The evidence file (佐证材料): JPEG, PNG, PDF or XLSX, "
                                                 "recognised by its content; at most 20 MiB unless "
                                                 "`ZWC_MAX_UPLOAD_BYTES` says otherwise.")],
    session: SessionDep,
    caller: FileWriter,
    request: Request,
    response: Response,
) -> FileOut:
    """Upload an evidence file (`submissions:write` or `cells:write`) as `multipart/form-data`.

    The type is recognised from the content alone (JPEG, PNG, PDF, XLSX; anything else 415
    `unsupported_file_type`), never from the name or the part's `Content-Type`. Name the answered
    `id` in a submission's `evidence` or an inspection's `photos`; whoever may read those may then
    download the file.
    """
    stored = await service.upload(session, caller, request.app.state.settings, file)
    response.headers["Location"] = f"/v1/files/{stored.id}"
    return FileOut.model_validate(stored)


@router.get("/{file_id}", response_class=EvidenceFileResponse, operation_id="downloadFile",
            responses={**problem_responses(404), **DOWNLOAD})
async def download_file(
    file_id: FileId, session: SessionDep, caller: Caller, request: Request,
    if_none_match: Annotated[str | None, Header(
        description="ETags of copies the caller holds (实体标签), e.g. the `ETag` of an earlier download: 304 "
                    "without a body when one of them (compared weakly, RFC 9110), or `*`, names this file.")] = None,
) -> Response:
    """Download a file: for its uploading department, and for whoever may read a submission that
    names it as evidence, or a cell's evidence or inspection photos; 404 for everyone else, whatever
    `If-None-Match` says. The bytes never change: with `If-None-Match` a copy already held costs a 304."""
    stored = await service.get_readable(session, caller, file_id)
    validators = {"ETag": f'"{stored.sha256}"', "Cache-Control": CACHE_CONTROL}
    if none_match(if_none_match, validators["ETag"]):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=validators)
    path, stat_result = await storage.locate(request.app.state.settings.files_dir, stored.sha256)
    return EvidenceFileResponse(
        path,
        media_type=stored.media_type,
        stat_result=stat_result,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(stored.filename, safe='')}",
            **validators,
        },
    )
