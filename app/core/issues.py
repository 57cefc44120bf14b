"""Validation issues that the domain finds (beyond the request schema), in both languages.

An issue is ``{"loc", "msg", "msg_zh", "type"}``; the problem renderer keeps the message in the
caller's language.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Messages = Mapping[str, tuple[str, str]]


def issue(loc: Sequence[str | int], kind: str, messages: Messages, **params: Any) -> dict[str, Any]:
    english, chinese = messages[kind]
    return {"loc": list(loc), "msg": english.format(**params), "msg_zh": chinese.format(**params), "type": kind}


def prefixed(prefix: Sequence[str | int], issues: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same issues located inside a larger body (e.g. ``["items", 3]``)."""
    return [{**found, "loc": [*prefix, *found["loc"]]} for found in issues]
