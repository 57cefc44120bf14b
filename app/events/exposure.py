"""What subscribers (the change feed, webhooks) see of an event.

The outbox keeps the whole snapshot; the feed and webhooks go to `aggregates:read` tokens, which may
only see approved figures (SPEC §5, visibility). A submission event therefore carries its value,
numerator, denominator and evidence only when it announces an approval, and an inspection is announced
without its findings, photos, inspector or position.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.core.timeutil import utc_text
from app.events.models import OutboxEvent

_SUBMISSION_FIELDS = ("id", "indicator", "period", "department", "status", "version", "approved_at", "at")
# An inspection's findings, photos, inspector and position stay with the departments that may read them.
_INSPECTION_FIELDS = ("id", "cell_id", "inspected_at", "score", "at")
_APPROVED_FIELDS = ("value", "numerator", "denominator", "evidence")
# The instants an event's data may hold. The outbox keeps them as they were written (Python's isoformat,
# "+00:00", or a revision's `valid_from` in the offset its author gave); subscribers get them as every
# other answer writes them, in UTC ending in "Z", old events included.
_INSTANTS = ("at", "approved_at", "certified_at", "valid_from", "inspected_at")


def _as_utc(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return value if moment.tzinfo is None else utc_text(moment)


def public_data(event: OutboxEvent) -> dict[str, Any]:
    return {key: _as_utc(value) if key in _INSTANTS else value for key, value in _shown(event).items()}


def _shown(event: OutboxEvent) -> dict[str, Any]:
    if event.event == "cell.inspected":
        return {key: event.data[key] for key in _INSPECTION_FIELDS if key in event.data}
    if event.entity != "submission":
        return dict(event.data)
    fields = _SUBMISSION_FIELDS + (_APPROVED_FIELDS if event.event == "submission.approved" else ())
    data = {key: event.data[key] for key in fields if key in event.data}
    if event.event in ("submission.returned", "submission.reopened"):
        data["reason"] = event.data.get("reviewer_note")
    return data
