from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.events.models import EVENTS
from app.webhooks.models import SECRET_MAX_LENGTH, SECRET_MIN_LENGTH, URL_MAX_LENGTH

EventName = Annotated[str, Field(max_length=64, json_schema_extra={"enum": list(EVENTS)})]
DeliveryStatus = Literal["pending", "delivered", "failed"]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=URL_MAX_LENGTH, description="Absolute `http` or `https` URL on a "
                     "public address (loopback, private, link-local and similar addresses are refused).",
                     examples=["https://zzwf.example.cn/hooks/xinmi"])
    events: list[EventName] = Field(min_length=1, max_length=len(EVENTS),
                                    description="The events to deliver; each at most once.")
    secret: str | None = Field(default=None, min_length=SECRET_MIN_LENGTH, max_length=SECRET_MAX_LENGTH,
                               description="Signing key (16–200 characters); generated when left out.")


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    events: list[EventName]
    department: str = Field(description="The subscribing department (the creating token's).")
    token_id: int | None = Field(description="The token that created the subscription.")
    after_event_id: int = Field(description="Events with a larger id (committed after the subscription) are "
                                            "delivered; earlier ones are not.")
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing key, shown in this answer only (`whsec_…` when generated). "
                                    "Verify `X-ZWC-Signature` with it.")


class AttemptOut(BaseModel):
    attempt: int = Field(description="1 for the first attempt.")
    started_at: datetime
    duration_ms: int
    status_code: int | None = Field(description="The receiver's HTTP status; null when no answer came.")
    error: str | None = Field(description="Why the attempt failed; null when it succeeded.")


class DeliveryOut(BaseModel):
    id: int
    event_id: int = Field(description="The outbox event's id: the body's `id` and `X-ZWC-Delivery`.")
    event: str
    status: DeliveryStatus
    attempt_count: int = Field(description="Attempts made so far.")
    next_attempt_at: datetime | None = Field(description="When the next attempt is due; null once delivered "
                                                          "or failed.")
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    attempts: list[AttemptOut] = Field(description="Every attempt, oldest first.")
