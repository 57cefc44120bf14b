"""What subscribers (the change feed, webhooks) see of an event.

The outbox keeps the whole snapshot; the feed and webhooks go to `aggregates:read` tokens, which may
only see approved figures (SPEC §5, visibility). A submission event therefore carries its value,
numerator, denominator and evidence only when it announces an approval, and an inspection is announced
without its findings, photos, inspector or position.
"""

from __future__ import annotations

from typing import Any

from app.events.models import OutboxEvent

_SUBMISSION_FIELDS = ("id", "indicator", "period", "department", "status", "version", "approved_at", "at")
# An inspection's findings, photos, inspector and position stay with the departments that may read them.
_INSPECTION_FIELDS = ("id", "cell_id", "inspected_at", "score", "at")
_APPROVED_FIELDS = ("value", "numerator", "denominator", "evidence")


def public_data(event: OutboxEvent) -> dict[str, Any]:
    if event.event == "cell.inspected":
        return {key: event.data[key] for key in _INSPECTION_FIELDS if key in event.data}
    if event.entity != "submission":
        return dict(event.data)
    fields = _SUBMISSION_FIELDS + (_APPROVED_FIELDS if event.event == "submission.approved" else ())
    data = {key: event.data[key] for key in fields if key in event.data}
    if event.event in ("submission.returned", "submission.reopened"):
        data["reason"] = event.data.get("reviewer_note")
    return data
