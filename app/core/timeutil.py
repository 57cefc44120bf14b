"""Clock and time zones: timestamps are UTC; "today" and period boundaries are Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter

SHANGHAI = ZoneInfo("Asia/Shanghai")
_INSTANT = TypeAdapter(datetime)


def utcnow() -> datetime:
    return datetime.now(UTC)


def utc_text(moment: datetime) -> str:
    """An instant as every answer writes it: UTC, ISO 8601, ending in ``Z`` (pydantic's own form)."""
    return str(_INSTANT.dump_python(moment.astimezone(UTC), mode="json"))
