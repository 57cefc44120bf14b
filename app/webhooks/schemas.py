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

    url: str = Field(min_length=1, max_length=URL_MAX_LENGTH, description="Callback URL (回调地址): an absolute "
                     "`http` or `https` URL, at most 2000 characters, on a public address (loopback, private, "
                     "link-local and similar addresses are refused).",
                     examples=["https://zzwf.example.cn/hooks/xinmi"])
    events: list[EventName] = Field(min_length=1, max_length=len(EVENTS),
                                    description="Subscribed events (订阅事件): at least one, each at most once.")
    secret: str | None = Field(default=None, min_length=SECRET_MIN_LENGTH, max_length=SECRET_MAX_LENGTH,
                               description="Signing key (签名密钥) for `X-ZWC-Signature`, 16–200 characters; a "
                                           "`whsec_…` key is generated when left out.")


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="Webhook id (订阅 ID), assigned by the service.", examples=[3])
    url: str = Field(description="Callback URL (回调地址) the events are POSTed to.",
                     examples=["https://zzwf.example.cn/hooks/xinmi"])
    events: list[EventName] = Field(description="Subscribed events (订阅事件).")
    department: str = Field(description="The subscribing department (订阅部门): the creating token's.",
                            examples=["zzwf"])
    token_id: int | None = Field(description="Id of the token that created the subscription (创建令牌 ID); null "
                                             "when it was not created with a token.")
    after_event_id: int = Field(description="Starting point (起始事件 ID): the last outbox event id when it was "
                                            "created; only events with a larger id (committed after the "
                                            "subscription) are delivered.")
    created_at: datetime = Field(description="Creation time (创建时间), UTC ISO 8601 with offset.")


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing key (签名密钥), shown in this answer only (`whsec_…` when "
                                    "generated). Verify `X-ZWC-Signature` with it.")


class AttemptOut(BaseModel):
    attempt: int = Field(description="Attempt number (尝试序号): 1 for the first attempt.", examples=[1])
    started_at: datetime = Field(description="When the attempt started (开始时间), UTC ISO 8601 with offset.")
    duration_ms: int = Field(description="How long it took (耗时), in milliseconds.")
    status_code: int | None = Field(description="The receiver's HTTP status (响应状态码); null when no answer came.")
    error: str | None = Field(description="Why the attempt failed (失败原因), e.g. `HTTP 500`; null when it "
                                          "succeeded (a 2xx answer).")


class DeliveryOut(BaseModel):
    id: int = Field(description="Delivery id (投递 ID).")
    event_id: int = Field(description="Event id (事件 ID): the outbox event's id, sent as the body's `id` and "
                                      "as `X-ZWC-Delivery`; it is also the event's `cursor` in the change feed.")
    event: str = Field(description="Event type (事件类型), e.g. `submission.approved`.",
                       examples=["submission.approved"])
    status: DeliveryStatus = Field(description="Delivery status (投递状态): `pending` (待投递, an attempt is due), "
                                               "`delivered` (已送达, a 2xx answer) or `failed` (投递失败: attempts "
                                               "used up, or the webhook deleted).")
    attempt_count: int = Field(description="Attempts made so far (已尝试次数).")
    next_attempt_at: datetime | None = Field(description="When the next attempt is due (下次尝试时间), UTC ISO "
                                                          "8601 with offset; null once delivered or failed.")
    last_status_code: int | None = Field(description="HTTP status of the last attempt (最近响应状态码); null before "
                                                      "any answer, or when the last attempt got none.")
    last_error: str | None = Field(description="Why the last attempt failed (最近失败原因), e.g. `HTTP 500`, or "
                                               "`webhook deleted; not sent`; null when the last attempt succeeded "
                                               "or none was made.")
    delivered_at: datetime | None = Field(description="When it was delivered (送达时间), UTC ISO 8601 with offset; "
                                                      "null unless `delivered`.")
    created_at: datetime = Field(description="When the delivery was queued (创建时间), UTC ISO 8601 with offset.")
    attempts: list[AttemptOut] = Field(description="Every attempt (投递尝试记录), oldest first.")
