"""Webhook subscriptions, their deliveries (one per webhook and outbox event), every attempt, and the
fan-out cursor (docs/decisions/0013-webhook-delivery.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field

from app.core.models import SQLModel
from app.core.types import BigIntKey, JSONDocument, UTCDateTime

DELIVERY_STATUSES = ("pending", "delivered", "failed")
URL_MAX_LENGTH = 2000
SECRET_MIN_LENGTH = 16
SECRET_MAX_LENGTH = 200
ERROR_MAX_LENGTH = 500


class Webhook(SQLModel, table=True):
    """A subscription: POST these events to this URL, signed with this secret.

    The secret is stored in the clear because every delivery is signed with it (HMAC needs the key).
    ``after_event_id`` is the highest outbox id at subscription time: only later events are delivered.
    Deleting sets ``deleted_at`` so that the delivery log stays.
    """

    __tablename__ = "webhooks"
    __table_args__ = (
        CheckConstraint(f"length(url) BETWEEN 8 AND {URL_MAX_LENGTH}", name="url_length"),
        CheckConstraint("url LIKE 'http://%' OR url LIKE 'https://%'", name="url_scheme"),
        CheckConstraint(f"length(secret) BETWEEN {SECRET_MIN_LENGTH} AND {SECRET_MAX_LENGTH}",
                        name="secret_length"),
        CheckConstraint("after_event_id >= 0", name="after_event_id_non_negative"),
        CheckConstraint("deleted_at IS NULL OR deleted_at >= created_at", name="deleted_after_created"),
        # A non-empty JSON array of event names (the names themselves are checked against EVENTS on entry).
        CheckConstraint("jsonb_typeof(events) = 'array' AND jsonb_array_length(events) > 0",
                        name="events_non_empty").ddl_if(dialect="postgresql"),
        CheckConstraint("json_type(events) = 'array' AND json_array_length(events) > 0",
                        name="events_non_empty").ddl_if(dialect="sqlite"),
    )

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=URL_MAX_LENGTH)
    events: list[str] = Field(sa_type=JSONDocument)
    secret: str = Field(max_length=SECRET_MAX_LENGTH)
    department: str = Field(
        sa_column=Column(String(16), ForeignKey("departments.code"), nullable=False, index=True)
    )
    token_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("api_tokens.id"), nullable=True))
    after_event_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookDelivery(SQLModel, table=True):
    """One outbox event for one webhook: pending until delivered, or failed after the last attempt.

    ``locked_until`` is a lease: a worker that claimed the delivery owns it until then (a worker that
    died mid-send loses it when it expires, and another worker retries: at-least-once delivery).
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id"),
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        CheckConstraint("(status = 'pending') = (next_attempt_at IS NOT NULL)", name="pending_has_next_attempt"),
        CheckConstraint("(status = 'delivered') = (delivered_at IS NOT NULL)", name="delivered_has_delivered_at"),
        CheckConstraint("status <> 'delivered' OR attempts >= 1", name="delivered_after_an_attempt"),
        CheckConstraint("last_status_code IS NULL OR last_status_code BETWEEN 100 AND 599",
                        name="last_status_code_range"),
        # Delivered means a 2xx answer to the last attempt, with no error.
        CheckConstraint("status <> 'delivered' OR (last_status_code BETWEEN 200 AND 299 AND last_error IS NULL)",
                        name="delivered_with_success"),
        # Only a pending delivery is leased; recording an outcome releases the lease.
        CheckConstraint("status = 'pending' OR locked_until IS NULL", name="lease_only_while_pending"),
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntKey, primary_key=True, autoincrement=True))
    webhook_id: int = Field(sa_column=Column(Integer, ForeignKey("webhooks.id"), nullable=False))
    event_id: int = Field(sa_column=Column(BigInteger, ForeignKey("outbox_events.id"), nullable=False))
    status: str = Field(max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=ERROR_MAX_LENGTH)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)


class WebhookAttempt(SQLModel, table=True):
    """One HTTP attempt of a delivery, successful or not."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        UniqueConstraint("delivery_id", "attempt"),
        CheckConstraint("attempt >= 1", name="attempt_positive"),
        CheckConstraint("duration_ms >= 0", name="duration_non_negative"),
        CheckConstraint("status_code IS NULL OR status_code BETWEEN 100 AND 599", name="status_code_range"),
        CheckConstraint("status_code IS NOT NULL OR error IS NOT NULL", name="status_code_or_error"),
        # A 2xx answer is a success, without error; any other answer is an error (`HTTP <code>`).
        CheckConstraint("status_code IS NULL OR (status_code BETWEEN 200 AND 299) = (error IS NULL)",
                        name="error_unless_success"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntKey, primary_key=True, autoincrement=True))
    delivery_id: int = Field(sa_column=Column(BigInteger, ForeignKey("webhook_deliveries.id"), nullable=False))
    attempt: int
    started_at: datetime = Field(sa_type=UTCDateTime)
    duration_ms: int
    status_code: int | None = None
    error: str | None = Field(default=None, sa_type=Text)


class WebhookDispatchCursor(SQLModel, table=True):
    """The one row saying up to which outbox id deliveries have been created (the fan-out cursor)."""

    __tablename__ = "webhook_dispatch_cursor"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("last_event_id >= 0", name="last_event_id_non_negative"),
    )

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_event_id: int = Field(sa_column=Column(BigInteger, nullable=False))
