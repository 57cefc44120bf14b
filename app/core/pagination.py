"""Cursor pagination shared by every list: ``{"items": [...], "next_cursor": ...}``.

Cursors are opaque to clients: the keyset position of the last item, tagged with the list it
belongs to so a cursor from one list is refused by another.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from app.core.errors import BadRequest

T = TypeVar("T")
Item = TypeVar("Item")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[Item]):
    items: list[Item] = Field(description="This page's items (本页数据), in the list's order.")
    next_cursor: str | None = Field(description="Cursor of the next page (下一页游标): pass it as `cursor`; "
                                                "null on the last page.")


@dataclass(frozen=True)
class PageRequest:
    limit: int
    cursor: str | None

    def position(self, kind: str, *types: type) -> list[Any] | None:
        """The keyset values (of ``types``) the cursor points after, or None for the first page."""
        if self.cursor is None:
            return None
        try:
            padded = self.cursor + "=" * (-len(self.cursor) % 4)
            decoded = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        except (ValueError, binascii.Error, UnicodeError):
            raise BadRequest("invalid_cursor") from None
        if not isinstance(decoded, dict) or decoded.get("k") != kind or not isinstance(decoded.get("v"), list):
            raise BadRequest("invalid_cursor")
        values: list[Any] = decoded["v"]
        if len(values) != len(types) or not all(
            isinstance(value, kind_) and not (kind_ is int and isinstance(value, bool))
            for value, kind_ in zip(values, types, strict=True)
        ):
            raise BadRequest("invalid_cursor")
        return values


def encode_cursor(kind: str, values: Sequence[Any]) -> str:
    raw = json.dumps({"k": kind, "v": list(values)}, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode("ascii").rstrip("=")


def page_of(
    rows: Sequence[T], page: PageRequest, kind: str, key: Callable[[T], Sequence[Any]]
) -> tuple[list[T], str | None]:
    """Cut the ``limit + 1`` rows a repository fetched into one page and the next cursor."""
    items = list(rows[: page.limit])
    if len(rows) > page.limit and items:
        return items, encode_cursor(kind, key(items[-1]))
    return items, None


def _page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT,
                                description="Page size (每页条数): at most this many items, 1–500.")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="Page cursor (分页游标): the `next_cursor` of the previous "
                                                    "page, as given; omit it for the first page.")] = None,
) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor)


PageDep = Annotated[PageRequest, Depends(_page_request)]
