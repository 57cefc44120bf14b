"""The Excel round trip: the fill-in template of the caller's indicators, and its upload (batch rules).

Registered before the submissions router, so that `/submissions/template.xlsx` is not read as
`/submissions/{id}`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile, status

from app.auth.dependencies import RequireScope
from app.core.actor import Actor
from app.core.db import SessionDep
from app.core.errors import UnsupportedMediaType
from app.core.openapi import problem_responses
from app.core.problems import LanguageDep
from app.core.routing import ApiRoute
from app.core.timeutil import utcnow
from app.departments import repository as departments
from app.files.sniff import XLSX
from app.idempotency.dependencies import Idempotent
from app.indicators import service as indicators
from app.submissions import batch, excel, excel_check, excel_read, service
from app.submissions.rules import Plausibility
from app.submissions.schemas import BatchCreated, BatchPreview

router = APIRouter(prefix="/submissions", tags=["submissions"], route_class=ApiRoute)

SubmissionsWrite = Annotated[Actor, Depends(RequireScope("submissions:write"))]
CATALOGUE_LIMIT = 10_000


class XlsxResponse(Response):
    media_type = XLSX


_STRING = {"schema": {"type": "string"}}
TEMPLATE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The workbook: sheet 填报 (one row per indicator) and sheet 说明 (how to fill it in).",
        "content": {XLSX: {"schema": {"type": "string", "contentMediaType": XLSX}}},
        "headers": {
            "Content-Disposition": {"description": "`attachment`, named after the department (RFC 6266 "
                                                   "`filename*`).", **_STRING},
        },
    },
}


@router.get("/template.xlsx", response_class=XlsxResponse, operation_id="getSubmissionTemplate",
            responses={**problem_responses(403), **TEMPLATE})
async def get_submission_template(caller: SubmissionsWrite, session: SessionDep) -> Response:
    """The Excel template (`submissions:write`) for the indicators the caller's department leads or
    cooperates on (those counted from the cell registry left out).

    Sheet 填报 has a frozen bilingual header row and one row per indicator: code, name, unit,
    frequency, then period, value, numerator, denominator and note to fill in, and the targets and the
    bounds of a value for reference; yes/no indicators offer 是/否 in a list, and Excel itself refuses a
    number outside the bounds. Send it back to `importSubmissions`.
    """
    department = caller.department or ""
    rows = await indicators.current_of_department(session, department, limit=CATALOGUE_LIMIT)
    found = await departments.get(session, department)
    content = await anyio.to_thread.run_sync(
        excel.build_template, rows, department, found.name_zh if found is not None else None
    )
    filename = f"无废城市填报模板-{department}.xlsx"
    return XlsxResponse(content, headers={
        "Content-Disposition": f"attachment; filename=\"zwc-template-{department}.xlsx\"; "
                               f"filename*=UTF-8''{quote(filename, safe='')}",
        "Cache-Control": "private, max-age=0",
    })


@router.post("/import", response_model=BatchCreated | BatchPreview, operation_id="importSubmissions",
             dependencies=[Idempotent], status_code=status.HTTP_201_CREATED,
             responses={**problem_responses(403), 200: {"model": BatchPreview, "description": "Dry run"}})
async def import_submissions(
    file: Annotated[UploadFile, File(description="The filled template (填报模板): the XLSX of "
                                                 "`GET /v1/submissions/template.xlsx`, or CSV (UTF-8 or GB18030) "
                                                 "whose first line names the columns.")],
    caller: SubmissionsWrite, session: SessionDep, lang: LanguageDep, request: Request, response: Response,
    dry_run: Annotated[bool, Query(description="Trial run (预校验): check every filled row and answer 200 with the "
                                               "previews; write nothing. Default false.")] = False,
) -> BatchCreated | BatchPreview:
    """Upload the filled template (`submissions:write`) as `multipart/form-data`, field `file`: the
    batch rules apply to its filled rows (rows without period, value, numerator and denominator are
    ignored).

    XLSX is recognised by content; CSV is UTF-8 (a BOM allowed) or GB18030/GBK (what Excel on Chinese
    Windows saves as "CSV (逗号分隔)") whose first line names the columns in Chinese or English (`code`,
    `period`, `value`, `numerator`, `denominator`, `note`); anything else is 415
    `unsupported_import_type`. On a `percent` indicator a value typed as a percentage — a cell with a
    percent number format (0.625 shown as 62.5%) or the text `62.5%` — is read as 62.5; anywhere else
    (another value type, numerator, denominator) it is refused. At most 500 filled rows, all or
    nothing: the 422's `errors[].loc` starts with `["items", index]` (the index among the filled rows)
    and each such error carries `row`, the row number on the sheet. `dry_run=true` answers 200 with the
    previews.
    """
    data = await file.read()
    media_type = await anyio.to_thread.run_sync(excel_read.detect, data)
    if media_type is None:
        raise UnsupportedMediaType("unsupported_import_type")
    rows = await anyio.to_thread.run_sync(excel_read.parse_upload, data, media_type)
    now = utcnow()
    checked = await excel_check.check_rows(session, caller, rows, now,
                                           Plausibility.from_settings(request.app.state.settings))
    threshold = float(request.app.state.settings.outlier_threshold)
    if dry_run:
        response.status_code = status.HTTP_200_OK
        return BatchPreview(items=[await service.preview(session, item, threshold=threshold, lang=lang)
                                   for item in checked])
    created = await batch.create_all(session, caller, checked, now)
    return BatchCreated(items=await service.present(session, created, threshold=threshold, lang=lang))
