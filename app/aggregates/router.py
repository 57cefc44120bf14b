"""The municipal pull for Zhengzhou (SPEC §4.1, Aggregates)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request, Response

from app.aggregates import export, service
from app.aggregates.schemas import AggregatesOut
from app.auth.dependencies import RequireScope
from app.core.actor import Actor
from app.core.concurrency import none_match
from app.core.db import ReadSessionDep
from app.core.openapi import problem_responses
from app.core.routing import ApiRoute
from app.core.timeutil import utcnow
from app.files.sniff import XLSX
from app.scores import service as scores
from app.scores.router import AsOfQuery, PeriodQuery

router = APIRouter(prefix="/aggregates", tags=["aggregates"], route_class=ApiRoute)

CSV = "text/csv; charset=utf-8"
CACHE_CONTROL = "private, no-cache"  # may be kept, but revalidated (If-None-Match) before each use
AggregatesReader = Annotated[Actor, Depends(RequireScope("aggregates:read"))]

_REPRESENTATIONS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The figures as JSON, as CSV (UTF-8 with BOM; `Accept: text/csv` or `format=csv`) or as "
                       "XLSX (`format=xlsx`).",
        "content": {"text/csv": {"schema": {"type": "string"}},
                    XLSX: {"schema": {"type": "string", "contentMediaType": XLSX}}},
        "headers": {"ETag": {"description": "Strong; covers the figures, not `generated_at`.",
                             "schema": {"type": "string"}},
                    "Cache-Control": {"schema": {"type": "string"}}},
    },
    304: {"description": "Not modified: `If-None-Match` names the current ETag."},
}


def _representation(format_: str | None, accept: str | None) -> Literal["json", "csv", "xlsx"]:
    if format_ in ("json", "csv", "xlsx"):
        return format_  # type: ignore[return-value]
    if accept and "text/csv" in accept.lower() and "application/json" not in accept.lower():
        return "csv"
    return "json"


@router.get("", response_model=AggregatesOut, operation_id="getAggregates",
            responses={**problem_responses(422), **_REPRESENTATIONS})
async def get_aggregates(
    request: Request, _caller: AggregatesReader, session: ReadSessionDep, period: PeriodQuery,
    as_of: AsOfQuery = None,
    format_: Annotated[Literal["json", "csv", "xlsx"] | None, Query(
        alias="format", description="Output format (输出格式): `json`, `csv` (UTF-8 with BOM, one row per "
                                    "indicator) or `xlsx`; overrides `Accept`. Without it, an `Accept` naming "
                                    "`text/csv` but not `application/json` gives CSV, else JSON.")] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
    if_none_match: Annotated[str | None, Header(description="The `ETag` of an earlier pull (实体标签) of the "
                                                            "same period and format: 304 while the figures are "
                                                            "unchanged.")] = None,
) -> Any:
    """Xinmi's figures for a period (`aggregates:read`), for Zhengzhou's platform: region 410183, every
    indicator of the catalogue (nulls where there is no approved value) with numerator and denominator
    for rates, its target, score and status, and the certified cells and quota per type. Only approved
    values count. The ETag covers the figures (not `generated_at`): pull with `If-None-Match` and get 304
    until an approved value, a definition or the registry changes."""
    now = utcnow()
    resolved, as_of = scores.resolve(period, as_of, now)
    version = request.state.data_version = await scores.data_version(session)  # for the read cache
    pull = await service.aggregates(session, resolved, as_of, now, version)
    document = pull.document
    representation = _representation(format_, accept)
    etag = pull.etag(representation)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Vary": "Accept, Authorization"}
    if none_match(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    if representation == "csv":
        return Response(export.to_csv(document), media_type=CSV, headers={
            **headers, "Content-Disposition": f'attachment; filename="xinmi-aggregates-{resolved.label}.csv"'})
    if representation == "xlsx":
        content = await anyio.to_thread.run_sync(export.to_xlsx, document)
        return Response(content, media_type=XLSX, headers={
            **headers, "Content-Disposition": f'attachment; filename="xinmi-aggregates-{resolved.label}.xlsx"'})
    return Response(document.model_dump_json().encode(), media_type="application/json", headers=headers)
