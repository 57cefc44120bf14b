"""The outermost ASGI layer: request ids, security headers, body limits, last-resort 500s.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so that it streams, costs little per
request, and answers 413 from ``Content-Length`` without reading the body.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import metrics
from app.core.i18n import preferred_language
from app.core.problems import PROBLEM_MEDIA_TYPE, problem_body

logger = logging.getLogger("zwc.http")
access_logger = logging.getLogger("zwc.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"geolocation=(), camera=(), microphone=()"),
]
API_CSP = b"default-src 'none'; frame-ancestors 'none'"


def _request_fields(scope: Scope, request_id: str) -> dict[str, Any]:
    # The path alone: a query string may carry values that have no place in a log.
    return {"request_id": request_id, "method": scope.get("method", ""), "path": scope.get("path", "")}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class GuardMiddleware:
    def __init__(self, app: ASGIApp, *, max_json_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        path: str = scope.get("path", "")
        response_started = False
        status = 0
        exc_type: str | None = None
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal response_started, status
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                headers.append((b"x-request-id", request_id.encode()))
                for key, value in SECURITY_HEADERS:
                    if key not in present:
                        headers.append((key, value))
                if b"content-security-policy" not in present:  # the docs pages bring their own
                    headers.append((b"content-security-policy", API_CSP))
                if path.startswith("/v1") and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                # A deprecated operation (app/core/deprecation.py) says so on every answer.
                for key, value in scope["state"].get("deprecation_headers", {}).items():
                    headers.append((key.lower().encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        metrics.IN_PROGRESS.inc()
        try:
            await self._guarded(scope, receive, send_with_headers, request_id)
        except Exception as exc:
            exc_type = type(exc).__name__
            if not response_started:
                await self._problem(scope, send_with_headers, 500, "internal_error", {"request_id": request_id})
        finally:
            metrics.IN_PROGRESS.dec()
            metrics.observe(scope, status, time.perf_counter() - started)
            self._log_request(scope, request_id, status, started, exc_type)

    async def _guarded(self, scope: Scope, receive: Receive, send_with_headers: Send, request_id: str) -> None:
        limit = self._limit_for(scope)
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                too_large = False
            if too_large:
                await self._problem(scope, send_with_headers, 413, "payload_too_large", {"limit": limit})
                return

        received = 0
        rejected = False

        async def limited_receive() -> Message:
            # A body without Content-Length (chunked) is counted as it streams; past the limit the
            # 413 is sent at once and the application sees the client gone.
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request" and not rejected:
                received += len(message.get("body", b""))
                if received > limit:
                    rejected = True
                    await self._problem(scope, send_with_headers, 413, "payload_too_large", {"limit": limit})
                    return {"type": "http.disconnect"}
            return message

        async def app_send(message: Message) -> None:
            if not rejected:
                await send_with_headers(message)

        try:
            await self.app(scope, limited_receive, app_send)
        except Exception as exc:
            if rejected:
                return
            # The traceback goes to the log (at ERROR, masked by the redacting filter), never to the client.
            logger.exception("unhandled error (request %s)", request_id,
                             extra={**_request_fields(scope, request_id), "exc_type": type(exc).__name__})
            raise

    @staticmethod
    def _log_request(scope: Scope, request_id: str, status: int, started: float, exc_type: str | None) -> None:
        """One record per request, in place of uvicorn's access log: never the query string, a body or
        a header; the caller's department and token id (never the token) when authenticated."""
        fields: dict[str, Any] = {
            **_request_fields(scope, request_id),
            "status": status,  # 0: the client left before an answer was sent
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        }
        actor = scope.get("state", {}).get("actor")
        if actor is not None:
            fields["department"] = getattr(actor, "department", None)
            fields["token_id"] = getattr(actor, "token_id", None)
        if exc_type is not None:
            fields["exc_type"] = exc_type
        # 503 is the database (or the pool) being away, already logged once as a warning; not a fault here.
        level = (logging.ERROR if status >= 500 and status != 503
                 else logging.WARNING if status in (0, 503) else logging.INFO)
        access_logger.log(level, "%s %s %s", fields["method"], fields["path"], fields["status"], extra=fields)

    def _limit_for(self, scope: Scope) -> int:
        content_type = (_header(scope, b"content-type") or "").lower()
        if content_type.startswith("multipart/") or content_type.startswith("text/csv"):
            return self.max_upload_bytes
        if content_type.startswith("application/vnd.openxmlformats"):
            return self.max_upload_bytes
        return self.max_json_bytes

    @staticmethod
    async def _problem(scope: Scope, send: Send, status: int, code: str, params: dict[str, Any]) -> None:
        lang = preferred_language(_header(scope, b"accept-language"))
        request_id = scope.get("state", {}).get("request_id")
        body = problem_body(status=status, code=code, lang=lang, params=params,
                            instance=scope.get("path"), request_id=request_id)
        payload = json.dumps(body, ensure_ascii=False).encode()
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        })
        await send({"type": "http.response.body", "body": payload})


# What Starlette's refusal ("Disallowed CORS origin, method, headers") names, as the Chinese text says it.
_CORS_PARTS_ZH = {"origin": "来源（Origin）", "method": "方法", "headers": "请求头"}


def _cors_reason_zh(reason: str) -> str:
    parts = reason.removeprefix("Disallowed CORS ").split(", ")
    return "、".join(_CORS_PARTS_ZH.get(part, part) for part in parts)


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS handling, with a refused preflight answered as problem+json."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        reason = bytes(response.body).decode()
        lang = preferred_language(request_headers.get("accept-language"))
        body = problem_body(status=400, code="cors_refused", lang=lang,
                            params={"reason": reason, "reason_zh": _cors_reason_zh(reason)})
        headers = {key: value for key, value in response.headers.items()
                   if key.lower().startswith("access-control-")}
        return JSONResponse(body, status_code=400, headers=headers, media_type=PROBLEM_MEDIA_TYPE)
