"""The change feed's answer: outbox events as subscribers may see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.events.models import EVENTS


class ChangeOut(BaseModel):
    cursor: str = Field(description="Feed cursor (变更游标): this event's position in the feed, a decimal "
                                    "integer; pass it as `after` to continue after it.", examples=["1042"])
    event: str = Field(description="Event type (事件类型): what happened, named like the webhook events, e.g. "
                                   "`submission.approved`.",
                       json_schema_extra={"enum": list(EVENTS)})
    entity: str = Field(description="Entity type (对象类型): the kind of thing that changed, `submission` (填报), "
                                    "`indicator` (指标) or `cell` (无废细胞).",
                        examples=["submission"])
    id: str = Field(description="Entity id (对象标识): the changed submission's or cell's id, or the indicator's "
                                "code, as a string.",
                    examples=["17"])
    at: datetime = Field(description="When the event was recorded (发生时间), in the same transaction as the "
                                     "change; UTC ISO 8601 with offset.")
    data: dict[str, Any] = Field(description="Event data (事件数据): what subscribers may see of the entity after "
                                             "the change. "
                                             "Submission events carry `value`, `numerator`, `denominator` and "
                                             "`evidence` only on `submission.approved`; cell events never "
                                             "carry the contact.")


class ChangePage(BaseModel):
    items: list[ChangeOut] = Field(description="The events (变更事件) after `after`, oldest first, in commit "
                                               "order; empty past the end.")
    next_cursor: str | None = Field(description="Cursor of the next page (下一页游标): the last item's `cursor` "
                                                "when more may follow; pass it as "
                                                "`after` for the next page. Null on the last page; then keep "
                                                "the last `cursor` you received and poll with it later.")
