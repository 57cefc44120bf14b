"""Deprecating an operation of `/v1` (docs/VERSIONING.md): it keeps answering until its sunset, and every
answer says so in the headers clients and gateways read.

- `Deprecation: @<unix time>` (RFC 9745): since when;
- `Sunset: <HTTP-date>` (RFC 8594): when it stops answering;
- `Link: <…>; rel="successor-version"` to what replaces it, and `<…>; rel="deprecation"` to the policy.

Use as ``@router.get(..., deprecated=True, dependencies=[deprecated(since=..., sunset=..., successor=...)])``:
`deprecated=True` marks the operation in the OpenAPI document, the dependency marks its answers, problem
answers included once the token was accepted (a refused token learns nothing of the operation).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from fastapi import Depends, Request

POLICY = "/guides/VERSIONING.md"  # docs/VERSIONING.md, served by app/core/docs.py


def deprecation_headers(since: datetime, sunset: datetime, successor: str | None) -> dict[str, str]:
    if since.tzinfo is None or sunset.tzinfo is None:
        raise ValueError("deprecation and sunset moments need a timezone")
    if sunset <= since:
        raise ValueError("the sunset comes after the deprecation")
    links = [f'<{POLICY}>; rel="deprecation"'] + ([f'<{successor}>; rel="successor-version"'] if successor else [])
    return {
        "Deprecation": f"@{int(since.timestamp())}",
        "Sunset": format_datetime(sunset.astimezone(UTC), usegmt=True),
        "Link": ", ".join(links),
    }


def deprecated(*, since: datetime, sunset: datetime, successor: str | None = None) -> Any:
    """A route dependency that adds the deprecation headers to every answer of the operation."""
    headers = deprecation_headers(since, sunset, successor)

    async def mark(request: Request) -> None:
        # Read by the outermost middleware, so that 4xx problems carry them too.
        request.state.deprecation_headers = headers

    return Depends(mark)
