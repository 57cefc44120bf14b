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


def none_match(if_none_match: str | None, current_etag: str) -> bool:
    """Whether ``If-None-Match`` names the current ETag (weak comparison, RFC 9110 §13.1.2), or is ``*``."""
    if not if_none_match:
        return False
    candidates = [candidate.strip().removeprefix("W/") for candidate in if_none_match.split(",")]
    return "*" in candidates or current_etag.removeprefix("W/") in candidates
