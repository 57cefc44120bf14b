"""The interactive docs pages, each with a strict Content-Security-Policy of its own.

FastAPI's pages load Swagger UI and ReDoc from jsDelivr and start Swagger UI with an inline script.
Instead of allowing every inline script ('unsafe-inline'), each page's policy names the SHA-256 of the
inline scripts it actually carries; the pages are built once, so the hashes are computed once.
No third-party fonts or icons: Google's font servers are not reachable from much of mainland China.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from app.core.errors import NotFound
from app.core.migrations import PROJECT_ROOT

ASSETS = "https://cdn.jsdelivr.net"
NO_ICON = "data:,"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def script_hashes(html: str) -> list[str]:
    """The CSP source expression of each inline script of ``html``."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html)
    ]


def content_security_policy(html: str, *, workers: bool = False) -> str:
    directives = [
        "default-src 'none'",
        " ".join(["script-src", ASSETS, *script_hashes(html)]),
        # Both UIs set style attributes at run time; styles cannot run code.
        f"style-src {ASSETS} 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
    if workers:
        directives.append("worker-src blob:")  # ReDoc parses the document in a worker it builds from a blob
    return "; ".join(directives)


def _page(response: HTMLResponse, *, workers: bool = False) -> HTMLResponse:
    html = bytes(response.body).decode()
    return HTMLResponse(html, headers={"Content-Security-Policy": content_security_policy(html, workers=workers)})


def docs_router(*, openapi_url: str, title: str) -> APIRouter:
    swagger = _page(get_swagger_ui_html(openapi_url=openapi_url, title=f"{title} — Swagger UI",
                                        swagger_favicon_url=NO_ICON, oauth2_redirect_url=None))
    redoc = _page(get_redoc_html(openapi_url=openapi_url, title=f"{title} — ReDoc", redoc_favicon_url=NO_ICON,
                                 with_google_fonts=False), workers=True)
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    async def swagger_ui() -> HTMLResponse:
        return swagger

    @router.get("/redoc")
    async def redoc_page() -> HTMLResponse:
        return redoc

    @router.get("/guides/{name}")
    async def guide(name: str) -> Response:
        """A guide of docs/ as Markdown (the versioning policy, operations…), linked from the description."""
        text = GUIDES.get(name)
        if text is None:
            raise NotFound(entity="guide", id=name)
        return Response(text, media_type="text/markdown; charset=utf-8")

    return router


def _guides() -> dict[str, str]:
    """The Markdown files directly in docs/, read once: names come from this listing, never from a path."""
    folder = PROJECT_ROOT / "docs"
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.md"))} \
        if folder.is_dir() else {}


GUIDES = _guides()
