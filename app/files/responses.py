"""The download response: Starlette's FileResponse, with unusable `Range` headers ignored.

Starlette answers a malformed or unsatisfiable `Range` with a plain-text 400/416, outside the
problem+json contract. RFC 9110 §14.2 lets a server ignore `Range`; so we do, and send the whole file.
"""

from __future__ import annotations

from starlette.responses import FileResponse, MalformedRangeHeader, RangeNotSatisfiable


class EvidenceFileResponse(FileResponse):
    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        try:
            return super()._parse_range_header(http_range, file_size)
        except (MalformedRangeHeader, RangeNotSatisfiable):
            return []
