"""Optimistic concurrency: strong ETags and the ``If-Match`` precondition."""

from __future__ import annotations

from app.core.errors import PreconditionFailed, PreconditionRequired


def etag_for(kind: str, key: str, version: int) -> str:
    return f'"{kind}-{key}-v{version}"'


def require_if_match(if_match: str | None, current_etag: str) -> None:
    """428 without ``If-Match``; 412 unless it names the current ETag (or is ``*``)."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired()
    candidates = [candidate.strip() for candidate in if_match.split(",")]
    if "*" in candidates or current_etag in candidates:
        return
    raise PreconditionFailed(etag=current_etag, extra={"current_etag": current_etag})
