"""The change feed's answer: outbox events as subscribers may see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.events.models import EVENTS


class ChangeOut(BaseModel):
    cursor: str = Field(description="This event's position in the feed (a decimal integer): pass it as "
                                    "`after` to continue after it.", examples=["1042"])
    event: str = Field(description="What happened; named like the webhook events.",
                       json_schema_extra={"enum": list(EVENTS)})
    entity: str = Field(description="The kind of thing that changed: `submission`, `indicator` or `cell`.",
                        examples=["submission"])
    id: str = Field(description="The changed entity's id (a submission or cell id, an indicator code).",
                    examples=["17"])
    at: datetime = Field(description="When the event was written (UTC).")
    data: dict[str, Any] = Field(description="What subscribers may see of the entity after the change. "
                                             "Submission events carry `value`, `numerator`, `denominator` and "
                                             "`evidence` only on `submission.approved`; cell events never "
                                             "carry the contact.")


class ChangePage(BaseModel):
    items: list[ChangeOut]
    next_cursor: str | None = Field(description="The last item's `cursor` when more may follow: pass it as "
                                                "`after` for the next page. Null on the last page; then keep "
                                                "the last `cursor` you received and poll with it later.")
