"""Route class shared by every router: refuses bodies in media types the route does not take."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response, params
from fastapi.routing import APIRoute

from app.core.errors import Unprocessable, UnsupportedMediaType
from app.core.issues import issue

NUL_ISSUES = {"nul_character": ("text must not contain NUL (U+0000) characters", "文本不得包含 NUL（U+0000）字符")}

_BODY_METHODS = {"POST", "PUT", "PATCH"}


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in request.headers


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


async def _refuse_nul(request: Request, json_body: bool) -> None:
    """NUL characters answer 422 on every database (PostgreSQL cannot store them; SQLite would cut text
    at them), wherever they come: path, query, or a JSON body."""
    where: list[str] = []
    if "\x00" in request.url.path:
        where.append("path")
    if "%00" in request.url.query.lower() or "\x00" in request.url.query:
        where.append("query")
    if json_body:
        raw = await request.body()
        if b"\\u0000" in raw:
            try:
                if _holds_nul(json.loads(raw)):
                    where.append("body")
            except ValueError:
                pass  # malformed JSON answers 400 as usual
    if where:
        raise Unprocessable(errors=[issue([place], "nul_character", NUL_ISSUES) for place in where])


class ApiRoute(APIRoute):
    """415 for a body whose ``Content-Type`` the route cannot read (FastAPI would try anyway)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_form = self.body_field is not None and isinstance(self.body_field.field_info, params.Form)
        expected = "multipart/form-data" if takes_form else "application/json"

        operation_id = self.operation_id or self.unique_id

        async def checked_handler(request: Request) -> Response:
            request.state.operation_id = operation_id  # the metrics' label (app/core/metrics.py)
            if request.method in _BODY_METHODS and _has_body(request):
                content_type = request.headers.get("content-type", "")
                ok = (
                    content_type.lower().startswith("multipart/form-data")
                    if takes_form
                    else _is_json(content_type)
                )
                if not ok:
                    raise UnsupportedMediaType(expected=expected, actual=content_type or "(none)")
                await _refuse_nul(request, json_body=not takes_form)
            else:
                await _refuse_nul(request, json_body=False)
            response = await handler(request)
            # Dependencies that finish after the endpoint (idempotency) read the answer here.
            request.state.response = response
            return response

        return checked_handler
