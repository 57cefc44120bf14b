"""Liveness and readiness, outside ``/v1`` and without a token."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from app.core import metrics
from app.core.db import Database
from app.core.errors import ServiceUnavailable
from app.core.migrations import head_revisions
from app.core.openapi import problem_responses
from app.core.routing import ApiRoute

router = APIRouter(tags=["health"], route_class=ApiRoute)


class Health(BaseModel):
    status: Literal["ok"] = Field(description="Always `ok` (正常): the check passed; when `/readyz` fails it answers "
                                              "503 problem+json instead.")


@router.get("/healthz", response_model=Health, operation_id="getHealth",
            responses=problem_responses(405, public=True), openapi_extra={"security": []})
async def healthz() -> Health:
    """The process is alive (it does not touch the database)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, operation_id="getReadiness",
            responses=problem_responses(405, 503, public=True), openapi_extra={"security": []})
async def readyz(request: Request) -> Health:
    """Ready to serve: the database answers and its schema is at the code's head revision."""
    database: Database = request.app.state.database
    retry_after = str(request.app.state.settings.retry_after_seconds)
    try:
        async with database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            migrated = await connection.run_sync(lambda sync: inspect(sync).has_table("alembic_version"))
            rows = (
                (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
                if migrated
                else []
            )
    except (OSError, SQLAlchemyError):
        raise ServiceUnavailable(retry_after=retry_after, headers={"Retry-After": retry_after}) from None
    if frozenset(rows) != head_revisions():
        raise ServiceUnavailable(
            "not_ready",
            reason="the database schema is not at the head revision; run `zwc db upgrade`",
            reason_zh="数据库结构不是最新版本，请运行 `zwc db upgrade`",
            headers={"Retry-After": retry_after},
        )
    return Health(status="ok")


@router.get("/metrics", operation_id="getMetrics", response_class=Response, openapi_extra={"security": []},
            responses={200: {"description": "Prometheus' text exposition format.",
                             "content": {"text/plain": {"schema": {"type": "string"}}}},
                       **problem_responses(405, public=True)})
async def metrics_endpoint() -> Response:
    """Prometheus metrics (no token; bind it to an internal network in production): requests by method,
    operation and status, 5xx answers, latency histograms, requests in progress, database
    connections in use, read-cache hits and rate-limit refusals. Under several workers, the sum over all."""
    content, media_type = metrics.exposition()
    return Response(content, media_type=media_type, headers={"Cache-Control": "no-store"})
