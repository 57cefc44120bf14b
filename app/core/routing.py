"""Route class shared by every router: refuses bodies in media types the route does not take."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response, params
from fastapi.routing import APIRoute

from app.core.errors import UnsupportedMediaType

_BODY_METHODS = {"POST", "PUT", "PATCH"}


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in request.headers


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class ApiRoute(APIRoute):
    """415 for a body whose ``Content-Type`` the route cannot read (FastAPI would try anyway)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_form = self.body_field is not None and isinstance(self.body_field.field_info, params.Form)
        expected = "multipart/form-data" if takes_form else "application/json"

        async def checked_handler(request: Request) -> Response:
            if request.method in _BODY_METHODS and _has_body(request):
                content_type = request.headers.get("content-type", "")
                ok = (
                    content_type.lower().startswith("multipart/form-data")
                    if takes_form
                    else _is_json(content_type)
                )
                if not ok:
                    raise UnsupportedMediaType(expected=expected, actual=content_type or "(none)")
            response = await handler(request)
            # Dependencies that finish after the endpoint (idempotency) read the answer here.
            request.state.response = response
            return response

        return checked_handler
