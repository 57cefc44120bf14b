"""Rendering of problem+json answers and the exception handlers that produce them."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.core.errors import (
    AppError,
    BadRequest,
    Conflict,
    MethodNotAllowed,
    NotFound,
    ServiceUnavailable,
    Unprocessable,
    render_text,
)
from app.core.i18n import Language, missing_field_messages, preferred_language, validation_message
from app.core.issues import issue
from app.core.routing import NUL_ISSUES

logger = logging.getLogger("zwc.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:zwc:problem:"


def problem_body(
    *,
    status: int,
    code: str,
    lang: Language,
    params: Mapping[str, Any],
    instance: str | None = None,
    request_id: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    title, detail = render_text(code, lang, params)
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance is not None:
        body["instance"] = instance
    if request_id is not None:
        body["request_id"] = request_id
    if errors is not None:
        body["errors"] = list(errors)
    if extra:
        body.update(extra)
    return body


def request_language(request: Request) -> Language:
    return preferred_language(request.headers.get("accept-language"))


def language(request: Request) -> Language:
    """The caller's language, as a dependency."""
    return request_language(request)


LanguageDep = Annotated[Language, Depends(language)]


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _localized(errors: Sequence[Mapping[str, Any]] | None, lang: Language) -> list[dict[str, Any]] | None:
    """Pick each issue's message in the caller's language (issues may carry ``msg_zh``)."""
    if errors is None:
        return None
    result = []
    for error in errors:
        issue = {key: value for key, value in error.items() if key != "msg_zh"}
        if lang == "zh" and error.get("msg_zh"):
            issue["msg"] = error["msg_zh"]
        result.append(issue)
    return result


def problem_response(request: Request, error: AppError) -> JSONResponse:
    lang = request_language(request)
    body = problem_body(
        status=error.status,
        code=error.code,
        lang=lang,
        params={**error.params, "request_id": request_id_of(request)},
        instance=request.url.path,
        request_id=request_id_of(request),
        errors=_localized(error.errors, lang),
        extra=error.extra,
    )
    headers = dict(error.headers)
    if error.status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="zwc"')
    return JSONResponse(body, status_code=error.status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def validation_errors(raw: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic errors as ``{loc, msg, msg_zh, type}``; a body's ``loc`` starts at the body's root."""
    result = []
    for error in raw:
        loc = list(error.get("loc", ()))
        if loc and loc[0] == "body":
            loc = loc[1:]
        ctx = error.get("ctx")
        if isinstance(ctx, dict):
            ctx = {key: str(value) for key, value in ctx.items()}
        english = error.get("msg", "")
        chinese = validation_message(error.get("type", ""), english, ctx, "zh")
        if error.get("type") == "missing" and loc and isinstance(loc[-1], str):
            english, chinese = missing_field_messages(loc[-1])
        result.append({"loc": loc, "msg": english, "msg_zh": chinese, "type": error.get("type", "value_error")})
    return result


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem_response(request, exc)


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = exc.errors()
    if any(error.get("type") == "json_invalid" for error in raw):
        return problem_response(request, BadRequest("malformed_json"))
    return problem_response(request, Unprocessable(errors=validation_errors(raw)))


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route takes on this path (Starlette names only the first route's)."""
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        allowed = ", ".join(_allowed_methods(request))
        return problem_response(
            request, MethodNotAllowed(method=request.method, path=request.url.path, headers={"Allow": allowed})
        )
    if exc.status_code == 404:
        return problem_response(request, NotFound("route_not_found", path=request.url.path))
    # Any other framework-raised HTTP error keeps its status, in the one problem shape.
    body = problem_body(
        status=exc.status_code,
        code="internal_error",
        lang=request_language(request),
        params={"request_id": request_id_of(request)},
        instance=request.url.path,
        request_id=request_id_of(request),
    )
    body["detail"] = str(exc.detail)
    return JSONResponse(body, status_code=exc.status_code, media_type=PROBLEM_MEDIA_TYPE)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    retry_after = request.app.state.settings.retry_after_seconds
    logger.warning("database unavailable: %s", type(exc).__name__)
    return problem_response(
        request,
        ServiceUnavailable(retry_after=retry_after, headers={"Retry-After": str(retry_after)}),
    )


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    logger.info("integrity error mapped to 409: %s", type(getattr(exc, "orig", exc)).__name__)
    return problem_response(request, Conflict())


def _is_nul_character(exc: sa_exc.DBAPIError) -> bool:
    """PostgreSQL stores no NUL in text (psycopg refuses it) nor in JSONB (SQLSTATE 22P05)."""
    if not isinstance(exc, sa_exc.DataError):
        return False
    return "NUL (0x00)" in str(exc.orig) or getattr(exc.orig, "sqlstate", None) == "22P05"


async def _dbapi_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, sa_exc.DBAPIError)
    if exc.connection_invalidated:
        return await _database_unavailable(request, exc)
    if _is_nul_character(exc):
        # Any input (path, query or body) reaches the database as text; the unit of work has rolled back.
        return problem_response(request, Unprocessable(errors=[issue([], "nul_character", NUL_ISSUES)]))
    raise exc


def install_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    # Connection-level database failures: 503 with Retry-After, never 500.
    app.add_exception_handler(sa_exc.OperationalError, _database_unavailable)
    app.add_exception_handler(sa_exc.InterfaceError, _database_unavailable)
    app.add_exception_handler(sa_exc.TimeoutError, _database_unavailable)
    app.add_exception_handler(sa_exc.DisconnectionError, _database_unavailable)
    app.add_exception_handler(ConnectionError, _database_unavailable)
    app.add_exception_handler(sa_exc.IntegrityError, _integrity_error)
    app.add_exception_handler(sa_exc.DBAPIError, _dbapi_error)
