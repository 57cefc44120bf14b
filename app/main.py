"""The application factory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from app import __version__
from app.aggregates.router import router as aggregates_router
from app.audit.router import router as audit_router
from app.auth.dependencies import authenticate_request
from app.auth.router import router as auth_router
from app.cells.public_router import router as public_cells_router
from app.cells.router import router as cells_router
from app.changes.router import router as changes_router
from app.core.config import Settings, get_settings
from app.core.db import Database
from app.core.docs import docs_router
from app.core.logging import configure_logging
from app.core.middleware import GuardMiddleware, ProblemCORSMiddleware
from app.core.openapi import add_problem_schemas, mark_binary_uploads
from app.core.openapi_examples import add_examples
from app.core.problems import install_exception_handlers
from app.core.runtime import tune_garbage_collector
from app.departments.router import router as departments_router
from app.files.router import router as files_router
from app.health.router import router as health_router
from app.idempotency.dependencies import install_replay_handler
from app.indicators.router import router as indicators_router
from app.ratelimit.limiter import RateLimiter
from app.readcache.middleware import ReadCache, ReadCacheMiddleware
from app.scores.router import router as scores_router
from app.submissions.excel_router import router as submissions_excel_router
from app.submissions.router import router as submissions_router
from app.webhooks.delivery import run_forever
from app.webhooks.router import router as webhooks_router

DESCRIPTION = """
The system of record for Xinmi's (新密市) zero-waste city programme (无废城市): the 48 construction
indicators, what departments report against them, scores, and zero-waste cell certificates.

Every `/v1` call needs `Authorization: Bearer <token>`. Errors are RFC 9457 `application/problem+json`
with a stable `code`; send `Accept-Language: zh-CN` for Chinese texts.

Guides (指南), English · 中文: [quick start](/guides/QUICKSTART.md) · [快速上手](/guides/QUICKSTART.zh-CN.md) ·
[authentication and scopes](/guides/AUTHENTICATION.md) · [认证与权限](/guides/AUTHENTICATION.zh-CN.md) ·
[submission workflow and Excel](/guides/SUBMISSIONS.md) · [填报流程](/guides/SUBMISSIONS.zh-CN.md) ·
[Zhengzhou's platform](/guides/ZHENGZHOU.md) · [郑州市平台对接](/guides/ZHENGZHOU.zh-CN.md) ·
[mobile apps](/guides/MOBILE.md) · [移动端对接](/guides/MOBILE.zh-CN.md) ·
[scoring method](/guides/SCORING.md) · [评分方法](/guides/SCORING.zh-CN.md) ·
[problem codes / 错误码](/guides/ERRORS.md) · [versioning policy](/guides/VERSIONING.md) ·
[operations](/guides/OPERATIONS.md) · [performance](/guides/PERFORMANCE.md) · [reliability](/guides/RELIABILITY.md).
"""


TAGS: list[dict[str, str]] = [
    {"name": "auth", "description": "Tokens and the calling token (令牌): who you are, minting and revoking."},
    {"name": "departments", "description": "City departments (部门) that lead, report and review."},
    {"name": "indicators", "description": "The 48 construction indicators (建设指标) and their versioned "
                                          "definitions."},
    {"name": "submissions", "description": "What departments report (填报) per indicator and period: drafts, "
                                           "submission, review (审核), revisions, Excel round trip."},
    {"name": "scores", "description": "How far Xinmi is from its targets (评分): per indicator, category, "
                                      "overall, and per department."},
    {"name": "aggregates", "description": "Zhengzhou's pull (市级汇总): every approved figure of a period, "
                                          "with an ETag for conditional pulls."},
    {"name": "changes", "description": "The change feed (变更流): every event in commit order, by cursor."},
    {"name": "webhooks", "description": "Signed pushes of events to subscribers (推送), with retries."},
    {"name": "cells", "description": "Zero-waste cells (无废细胞): applications, evaluations, certificates, "
                                     "inspections, quotas."},
    {"name": "files", "description": "Evidence files (佐证材料) and inspection photos."},
    {"name": "audit", "description": "The audit trail (审计日志) of every change."},
    {"name": "public", "description": "What anyone may read without a token: the certificate check behind a "
                                      "plaque's QR code (证书查验)."},
    {"name": "health", "description": "Liveness, readiness and Prometheus metrics, for operators (运维)."},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    database = Database.from_settings(settings)
    rate_limiter = RateLimiter.from_settings(settings)
    read_cache = ReadCache.for_database(settings, database)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.gc_tuning:
            tune_garbage_collector()
        stop = asyncio.Event()
        worker = (asyncio.create_task(run_forever(database, settings, stop), name="zwc-webhooks")
                  if settings.webhook_worker else None)
        cache: ReadCache | None = _app.state.read_cache
        watch = asyncio.create_task(cache.watch.run(), name="zwc-data-version") if cache is not None else None
        try:
            yield
        finally:
            if watch is not None:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch
            if worker is not None:
                stop.set()
                # A pass in flight finishes (its sends are bounded by the timeout). If it does not,
                # wait_for cancels it: its leases expire and another pass retries.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(worker, settings.webhook_timeout_seconds + 5)
            if _app.state.rate_limiter is not None:
                await _app.state.rate_limiter.close()
            await database.dispose()

    app = FastAPI(
        title="Zero-Waste City API (无废城市 API)",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by docs_router, with their own Content-Security-Policy
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,  # bearer tokens only; no OAuth flow to return from
        servers=[{"url": "/", "description": "This server"}],
        openapi_tags=TAGS,
        license_info={"name": "Proprietary", "identifier": "LicenseRef-Proprietary"},
        contact={"name": "Xinmi Zero-Waste City Leading Group Office"},
    )
    original_openapi = app.openapi

    def openapi_with_problems() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_examples(mark_binary_uploads(add_problem_schemas(original_openapi())))
        return app.openapi_schema

    app.openapi = openapi_with_problems  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.database = database
    app.state.rate_limiter = rate_limiter
    app.state.read_cache = read_cache
    install_exception_handlers(app)
    install_replay_handler(app)

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(authenticate_request)])
    v1.include_router(auth_router)
    v1.include_router(departments_router)
    v1.include_router(indicators_router)
    v1.include_router(submissions_excel_router)  # before /submissions/{id}
    v1.include_router(submissions_router)
    v1.include_router(scores_router)
    v1.include_router(aggregates_router)
    v1.include_router(changes_router)
    v1.include_router(webhooks_router)
    v1.include_router(cells_router)
    v1.include_router(files_router)
    v1.include_router(audit_router)
    app.include_router(v1)
    app.include_router(health_router)
    app.include_router(public_cells_router)
    app.include_router(docs_router(openapi_url=app.openapi_url or "/openapi.json", title=app.title))

    app.add_middleware(ReadCacheMiddleware)  # innermost: its replies pass through CORS and the guard
    if settings.cors_origins:
        app.add_middleware(
            ProblemCORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key",
                           "Accept-Language", "X-Request-ID"],
            expose_headers=["ETag", "Location", "X-Request-ID", "Retry-After", "Idempotent-Replayed"],
        )
    app.add_middleware(
        GuardMiddleware, max_json_bytes=settings.max_json_bytes, max_upload_bytes=settings.max_upload_bytes
    )
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, independent of any configured database."""
    app = create_app(Settings(database_url="sqlite://", _env_file=None))
    return app.openapi()
