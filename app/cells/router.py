from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any, Literal
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Path, Query, Response, status

from app.auth.dependencies import Caller, RequireScope
from app.cells import export, inspections, progress, repository, service, workflow
from app.cells.models import Cell
from app.cells.repository import CellFilter
from app.cells.schemas import (
    CellCreate,
    CellOut,
    CellPatch,
    CellStatus,
    CellTypeOut,
    CriterionOut,
    EvaluationCreate,
    EvaluationOut,
    InspectionCreate,
    InspectionOut,
    QuotaBody,
    QuotaOut,
    RevokeBody,
    SummaryItem,
    TownOut,
    TownSummaryItem,
)
from app.core.actor import Actor
from app.core.db import SessionDep
from app.core.errors import Unprocessable
from app.core.openapi import problem_responses
from app.core.pagination import Page, PageDep, page_of
from app.core.periods import today_in_shanghai
from app.core.routing import ApiRoute
from app.core.timeutil import SHANGHAI, utcnow
from app.files.sniff import XLSX
from app.idempotency.dependencies import Idempotent

router = APIRouter(tags=["cells"], route_class=ApiRoute, dependencies=[Depends(service.observe_expiry)])

CellsWrite = Annotated[Actor, Depends(RequireScope("cells:write"))]
CellsReview = Annotated[Actor, Depends(RequireScope("cells:review"))]
CellId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Cell id (无废细胞编号): the `id` answered by "
                                                               "`POST /v1/cells` or `GET /v1/cells`.")]
Year = Annotated[int, Path(ge=2016, le=2100, description="Calendar year (年度) of the quota, 2016–2100.")]
EvaluationId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Evaluation id (评估记录编号) of this cell, as in "
                                                                   "the `Location` of `evaluateCell`.")]
InspectionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Inspection id (检查记录编号) of this cell, as in "
                                                                   "the `Location` of `inspectCell`.")]
TYPE_FILTER = "Cell-type code (无废细胞类型), e.g. `school`: only cells of this type (an unknown code matches none)."
ETAG = {"ETag": {"description": "Strong ETag; send it as `If-Match` to edit.", "schema": {"type": "string"}}}


async def _answer(session: SessionDep, caller: Actor, cell: Cell, response: Response) -> CellOut:
    response.headers["ETag"] = service.etag(cell)
    (out,) = await service.present(session, caller, [cell])
    return out


@router.get("/cell-types", response_model=Page[CellTypeOut], operation_id="listCellTypes",
            responses=problem_responses())
async def list_cell_types(caller: Caller, session: SessionDep, page: PageDep) -> Page[CellTypeOut]:
    """Cell types with their checklist criteria (bonus items last), pass score and validity in years."""
    position = page.position("cell_types", str)
    rows = await repository.cell_types(session, after=position[0] if position else None, limit=page.limit + 1)
    items, next_cursor = page_of(rows, page, "cell_types", lambda t: [t.code])
    criteria = await repository.criteria_of(session, [t.code for t in items])
    return Page[CellTypeOut](items=[
        CellTypeOut(code=t.code, name_zh=t.name_zh, name_en=t.name_en, responsible_department=t.responsible_department,
                    pass_score=t.pass_score, validity_years=t.validity_years,
                    criteria=[CriterionOut(code=c.code, name_zh=c.name_zh, name_en=c.name_en,
                                           max_points=c.max_points, bonus=c.bonus) for c in criteria[t.code]])
        for t in items
    ], next_cursor=next_cursor)


@router.get("/towns", response_model=Page[TownOut], operation_id="listTowns", responses=problem_responses())
async def list_towns(caller: Caller, session: SessionDep, page: PageDep) -> Page[TownOut]:
    """Every town (乡镇(街道)) a cell's `town` may name, by code, with its Chinese and English names and
    kind: Xinmi's subdistricts, towns, its township and the Fuxishan development zone. Any token."""
    position = page.position("towns", str)
    rows = await service.towns(session, after=position[0] if position else None, limit=page.limit + 1)
    items, next_cursor = page_of(rows, page, "towns", lambda t: [t.code])
    return Page[TownOut](items=items, next_cursor=next_cursor)


@router.post("/cells", response_model=CellOut, status_code=status.HTTP_201_CREATED, operation_id="createCell",
             dependencies=[Idempotent], responses={**problem_responses(403), 201: {"headers": ETAG}})
async def create_cell(body: CellCreate, caller: CellsWrite, session: SessionDep, response: Response) -> CellOut:
    """Apply for a cell (`cells:write`; the type's responsible department, or the lead office for every
    type; 403 `not_responsible_for_type` otherwise). Answers 201 with `status: "applied"`; the caller's
    department is recorded as the applicant."""
    cell = await service.create(session, caller, body, utcnow())
    response.headers["Location"] = f"/v1/cells/{cell.id}"
    return await _answer(session, caller, cell, response)


XLSX_LIST: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A page of cells (JSON), or with `format=xlsx` every matching cell as a workbook.",
        "content": {XLSX: {"schema": {"type": "string", "contentMediaType": XLSX}}},
        "headers": {"Content-Disposition": {"description": "With `format=xlsx`: `attachment` (RFC 6266 "
                                                           "`filename*`).", "schema": {"type": "string"}}},
    },
}


@router.get("/cells", response_model=Page[CellOut], operation_id="listCells",
            responses={**problem_responses(), **XLSX_LIST})
async def list_cells(
    caller: Caller, session: SessionDep, page: PageDep,
    type_: Annotated[str | None, Query(alias="type", max_length=16, description=TYPE_FILTER)] = None,
    status_: Annotated[CellStatus | None, Query(
        alias="status", description="Status (状态): only cells now in this one (`planned`, `applied`, `evaluated`, "
                                    "`certified`, `expired` or `revoked`).")] = None,
    town: Annotated[str | None, Query(max_length=32, description="Town code (乡镇(街道)), e.g. `chengguan`: only "
                                                                 "cells in this town (an unknown code matches "
                                                                 "none).")] = None,
    year: Annotated[int | None, Query(ge=2016, le=2100, description="Calendar year (年度), 2016–2100: only cells "
                                                                    "created in it, or whose current certificate "
                                                                    "was issued in it (Asia/Shanghai).")] = None,
    format_: Annotated[Literal["json", "xlsx"], Query(
        alias="format", description="Answer format (导出格式): `json` (default, one page) or `xlsx`: every matching "
                                    "cell (not one page) as an Excel workbook.")] = "json",
) -> Page[CellOut] | Response:
    """Every cell, oldest first. `year` keeps cells created in that year or whose current certificate
    was issued in it (Asia/Shanghai). `contact` is null unless the caller may see it.

    `format=xlsx` answers every cell matching the filters (`limit` and `cursor` are ignored; more than
    10,000 answers 422 `export_too_large`) as a workbook: one sheet 无废细胞 with a frozen header row —
    编号, 类型, 名称, 乡镇 (the town's Chinese name), 地址, 状态, 证书编号, 认证日期 (Asia/Shanghai),
    有效期至, 联系方式 (empty where the caller may not see the contact)."""
    bounds = (None, None) if year is None else tuple(
        datetime.combine(date(y, 1, 1), time.min, tzinfo=SHANGHAI) for y in (year, year + 1))
    filters = CellFilter(type=type_, status=status_, town=town, year_start=bounds[0], year_end=bounds[1])
    if format_ == "xlsx":
        everything = await repository.list_cells(session, filters, after_id=None, limit=export.EXPORT_LIMIT + 1)
        if len(everything) > export.EXPORT_LIMIT:
            raise Unprocessable("export_too_large", limit=export.EXPORT_LIMIT)
        shown = await service.present(session, caller, everything)
        content = await anyio.to_thread.run_sync(export.build, shown, await repository.town_names(session))
        return Response(content, media_type=XLSX, headers={
            "Content-Disposition": "attachment; filename=\"zwc-cells.xlsx\"; "
                                   f"filename*=UTF-8''{quote('无废细胞.xlsx', safe='')}",
            "Cache-Control": "private, max-age=0",
        })
    position = page.position("cells", int)
    rows = await repository.list_cells(session, filters, after_id=position[0] if position else None,
                                       limit=page.limit + 1)
    items, next_cursor = page_of(rows, page, "cells", lambda c: [c.id])
    return Page[CellOut](items=await service.present(session, caller, items), next_cursor=next_cursor)


@router.get("/cells/summary", response_model=Page[SummaryItem] | Page[TownSummaryItem],
            operation_id="summariseCells",
            responses={**problem_responses(), 200: {"description": "Per type (`by=type`, the default), or per "
                                                                   "town and type (`by=town`)."}})
async def summarise_cells(
    _caller: Caller, session: SessionDep,
    year: Annotated[int | None, Query(ge=2016, le=2100, description="Calendar year (统计年度), 2016–2100; default: "
                                                                    "this year (Asia/Shanghai).")] = None,
    by: Annotated[Literal["type", "town"], Query(description="Grouping (统计维度): `type` (default, per cell type, "
                                                             "with quota and progress) or `town` (per town and "
                                                             "type).")]
    = "type",
) -> Page[SummaryItem] | Page[TownSummaryItem]:
    """Per type: `planned` and `applied` (applied or evaluated) count cells in those statuses now;
    `certified` counts cells certified and valid at the end of the year (not revoked by then);
    `revoked` counts cells whose certificate was revoked during the year; `quota` is the year's quota;
    `progress` = certified / quota (null without a quota). One page holds every type.

    `by=town`: the same four figures per town and type (`{town, type, planned, applied, certified,
    revoked}`), a cell counting in its current town; one item per (town, type) pair that has at least
    one cell, ordered by town code then type. Quotas are set per type only, so these items have no
    `quota` and no `progress` fields (left out, not null). One page holds every pair."""
    chosen = year if year is not None else today_in_shanghai(utcnow()).year
    if by == "town":
        return Page[TownSummaryItem](items=await progress.summary_by_town(session, chosen), next_cursor=None)
    return Page[SummaryItem](items=await progress.summary(session, chosen), next_cursor=None)


@router.get("/cells/{cell_id}", response_model=CellOut, operation_id="getCell",
            responses={**problem_responses(404), 200: {"headers": ETAG}})
async def get_cell(cell_id: CellId, caller: Caller, session: SessionDep, response: Response) -> CellOut:
    """One cell with its `ETag`. A certified cell past its `valid_until` (Asia/Shanghai) reads as `expired`."""
    return await _answer(session, caller, await service.get(session, cell_id), response)


@router.patch("/cells/{cell_id}", response_model=CellOut, operation_id="editCell",
              responses={**problem_responses(403, 404, 409, 412, 428), 200: {"headers": ETAG}})
async def edit_cell(
    cell_id: CellId, body: CellPatch, caller: CellsWrite, session: SessionDep, response: Response,
    if_match: Annotated[str | None, Header(description="The cell's `ETag` as last read (实体标签), from `GET "
                                                       "/v1/cells/{cell_id}` or the last write: required (428 "
                                                       "without it, 412 when the cell has changed since).")] = None,
) -> CellOut:
    """Edit a `planned`, `applied` or `evaluated` cell (same rights as applying; `If-Match` required);
    certified, expired or revoked cells answer 409. `status: "applied"` applies for a planned cell."""
    # mode="json": a link's url is stored as text, not as the pydantic Url the model holds.
    cell = await service.edit(session, caller, cell_id, body.model_dump(mode="json", exclude_unset=True),
                              if_match=if_match, now=utcnow())
    return await _answer(session, caller, cell, response)


@router.post("/cells/{cell_id}/evaluations", response_model=EvaluationOut, status_code=status.HTTP_201_CREATED,
             operation_id="evaluateCell", dependencies=[Idempotent], responses=problem_responses(403, 404, 409))
async def evaluate_cell(cell_id: CellId, body: EvaluationCreate, caller: CellsReview, session: SessionDep,
                        response: Response) -> EvaluationOut:
    """Score the checklist (`cells:review`, not the applicant's department). Points are whole numbers from
    0 to each criterion's `max_points`, each criterion of the type at most once; `total` (bonus included)
    and `passed` (total ≥ pass score) are computed. The cell becomes `evaluated`."""
    evaluation = await workflow.evaluate(session, caller, cell_id, body, utcnow())
    assert evaluation.id is not None
    response.headers["Location"] = f"/v1/cells/{cell_id}/evaluations/{evaluation.id}"
    return workflow.present_evaluation(evaluation)


@router.get("/cells/{cell_id}/evaluations", response_model=Page[EvaluationOut], operation_id="listCellEvaluations",
            responses=problem_responses(404))
async def list_cell_evaluations(cell_id: CellId, _caller: Caller, session: SessionDep,
                                page: PageDep) -> Page[EvaluationOut]:
    """A cell's evaluations, oldest first; every token may read them, like the cell."""
    await service.get(session, cell_id)
    position = page.position("cell_evaluations", int)
    rows = await repository.evaluations(session, cell_id, after_id=position[0] if position else None,
                                        limit=page.limit + 1)
    items, next_cursor = page_of(rows, page, "cell_evaluations", lambda e: [e.id])
    return Page[EvaluationOut](items=[workflow.present_evaluation(e) for e in items], next_cursor=next_cursor)


@router.get("/cells/{cell_id}/evaluations/{evaluation_id}", response_model=EvaluationOut,
            operation_id="getCellEvaluation", responses=problem_responses(404))
async def get_cell_evaluation(cell_id: CellId, evaluation_id: EvaluationId, _caller: Caller,
                              session: SessionDep) -> EvaluationOut:
    """One evaluation (the `Location` of `evaluateCell`); every token may read it. 404 for an unknown
    cell or evaluation, or an evaluation of another cell."""
    return workflow.present_evaluation(await workflow.get_evaluation(session, cell_id, evaluation_id))


@router.post("/cells/{cell_id}/certify", response_model=CellOut, operation_id="certifyCell",
             responses=problem_responses(403, 404, 409))
async def certify_cell(cell_id: CellId, caller: CellsReview, session: SessionDep, response: Response) -> CellOut:
    """Certify (`cells:review`) when the latest evaluation since the last certificate passed (409
    `no_evaluation` / `evaluation_not_passed` otherwise). Issues a new, never reused `certificate_no`;
    `valid_until` = certification date (Asia/Shanghai) + the type's validity years."""
    return await _answer(session, caller, await workflow.certify(session, caller, cell_id, utcnow()), response)


@router.post("/cells/{cell_id}/revoke", response_model=CellOut, operation_id="revokeCell",
             responses=problem_responses(403, 404, 409))
async def revoke_cell(cell_id: CellId, body: RevokeBody, caller: CellsReview, session: SessionDep,
                      response: Response) -> CellOut:
    """`certified` → `revoked` with a `reason`; the certificate reads as revoked from then on."""
    cell = await workflow.revoke(session, caller, cell_id, body.reason, utcnow())
    return await _answer(session, caller, cell, response)


@router.post("/cells/{cell_id}/inspections", response_model=InspectionOut, status_code=status.HTTP_201_CREATED,
             operation_id="inspectCell", dependencies=[Idempotent], responses=problem_responses(403, 404))
async def inspect_cell(cell_id: CellId, body: InspectionCreate, caller: CellsWrite, session: SessionDep,
                       response: Response) -> InspectionOut:
    """A field inspection (`cells:write`, the type's responsible department or the lead office). `photos`
    are file ids uploaded by the caller's department. Send `Idempotency-Key` to retry safely."""
    inspection = await inspections.inspect(session, caller, cell_id, body, utcnow())
    response.headers["Location"] = f"/v1/cells/{cell_id}/inspections/{inspection.id}"
    return inspections.present(inspection)


@router.get("/cells/{cell_id}/inspections", response_model=Page[InspectionOut], operation_id="listCellInspections",
            responses=problem_responses(403, 404))
async def list_cell_inspections(cell_id: CellId, caller: CellsWrite, session: SessionDep,
                                page: PageDep) -> Page[InspectionOut]:
    """A cell's inspections, oldest first (the same rights as posting one)."""
    cell = await service.get(session, cell_id)
    service.require_writer(caller, await service.type_of(session, cell.type))
    position = page.position("cell_inspections", int)
    rows = await repository.inspections(session, cell_id, after_id=position[0] if position else None,
                                        limit=page.limit + 1)
    items, next_cursor = page_of(rows, page, "cell_inspections", lambda i: [i.id])
    return Page[InspectionOut](items=[inspections.present(i) for i in items], next_cursor=next_cursor)


@router.get("/cells/{cell_id}/inspections/{inspection_id}", response_model=InspectionOut,
            operation_id="getCellInspection", responses=problem_responses(403, 404))
async def get_cell_inspection(cell_id: CellId, inspection_id: InspectionId, caller: CellsWrite,
                              session: SessionDep) -> InspectionOut:
    """One inspection (the `Location` of `inspectCell`), with the same rights as listing them. 404 for
    an unknown cell or inspection, or an inspection of another cell."""
    return inspections.present(await inspections.get(session, caller, cell_id, inspection_id))


@router.put("/cell-quotas/{year}/{type}", response_model=QuotaOut, operation_id="setCellQuota",
            responses=problem_responses(403))
async def set_cell_quota(
    year: Year,
    cell_type: Annotated[str, Path(alias="type", max_length=16, description="Cell-type code (无废细胞类型), e.g. "
                                                                           "`scenic`; an unknown code answers 422 "
                                                                           "`unknown_type`.")],
    body: QuotaBody, caller: CellsReview, session: SessionDep,
) -> QuotaOut:
    """The number of certified cells of a type that Zhengzhou assigns for a year (`cells:review`)."""
    quota = await progress.set_quota(session, caller, year, cell_type, body.quota, utcnow())
    return QuotaOut(year=quota.year, type=quota.type, quota=quota.quota, updated_at=quota.updated_at)
