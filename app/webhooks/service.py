"""Webhook subscriptions: the rules behind the endpoints (delivery itself is in delivery.py)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.core.actor import Actor
from app.core.errors import NotFound, Unprocessable
from app.core.issues import issue
from app.events.models import EVENTS
from app.webhooks import addresses, repository
from app.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from app.webhooks.schemas import AttemptOut, DeliveryOut, WebhookCreate, WebhookOut

SECRET_PREFIX = "whsec_"  # noqa: S105 - the public marker of generated secrets, not a secret
DELETED_ERROR = "webhook deleted; not sent"

ISSUES = {
    "url_scheme": ("Must be an absolute http or https URL.", "必须是以 http 或 https 开头的完整网址。"),
    "url_invalid": ("Not a valid absolute URL with a host.", "不是包含主机名的合法完整网址。"),
    "url_not_public": ("Webhooks go to public addresses only: {reason}.",
                       "订阅地址必须是公网地址：{reason_zh}。"),
    "unknown_event": ("Unknown event '{event}'; see the list of events.", "未知事件“{event}”，请参阅事件列表。"),
    "duplicate_event": ("'{event}' is listed more than once.", "事件“{event}”重复出现。"),
}


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def snapshot(webhook: Webhook) -> dict[str, Any]:
    """What the audit log keeps of a webhook: everything but its secret."""
    return WebhookOut.model_validate(webhook).model_dump(mode="json")


def _department_filter(actor: Actor) -> str | None:
    """``None`` (every department) for `admin`, else the caller's own department."""
    if actor.has_scope("admin"):
        return None
    assert actor.department is not None
    return actor.department


async def _check(body: WebhookCreate, *, allow_private: bool) -> tuple[str, list[dict[str, Any]]]:
    """The URL to store (scheme in lower case) and every issue with the body."""
    issues: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, event in enumerate(body.events):
        if event not in EVENTS:
            issues.append(issue(["events", index], "unknown_event", ISSUES, event=event))
        elif event in seen:
            issues.append(issue(["events", index], "duplicate_event", ISSUES, event=event))
        seen.add(event)
    url = body.url
    try:
        target = addresses.parse(body.url)
    except addresses.InvalidUrl as exc:
        issues.append(issue(["url"], exc.kind, ISSUES))
    else:
        url = target.url
        # Resolve names only for an otherwise valid body: a refused body costs no DNS lookup.
        refused = None if allow_private else await addresses.refusal(target, resolve_names=not issues)
        if refused is not None:
            issues.append(issue(["url"], "url_not_public", ISSUES, reason=refused.en, reason_zh=refused.zh))
    return url, issues


async def create(session: AsyncSession, actor: Actor, body: WebhookCreate, now: datetime, *,
                 allow_private: bool) -> tuple[Webhook, str]:
    """A new subscription for the caller's department, and its secret."""
    url, issues = await _check(body, allow_private=allow_private)
    if issues:
        raise Unprocessable(errors=issues)
    assert actor.department is not None
    secret = body.secret if body.secret is not None else new_secret()
    # No event may commit between reading the last id and committing the webhook: each later event
    # then has a larger id and finds the webhook (docs/decisions/0013-webhook-delivery.md).
    await repository.hold_outbox(session)
    webhook = await repository.add(session, Webhook(
        url=url, events=list(body.events), secret=secret, department=actor.department, token_id=actor.token_id,
        after_event_id=await repository.last_event_id(session), created_at=now,
    ))
    record(session, actor, action="webhook.created", entity="webhook", entity_id=str(webhook.id),
           after=snapshot(webhook))
    return webhook, secret


async def visible(session: AsyncSession, actor: Actor, webhook_id: int, *, for_update: bool = False) -> Webhook:
    """A live webhook the caller may see (`admin`: any; others: their department's), else 404."""
    webhook = await repository.get_live(session, webhook_id, department=_department_filter(actor),
                                        for_update=for_update)
    if webhook is None:
        raise NotFound(entity="webhook", id=webhook_id)
    return webhook


async def list_visible(session: AsyncSession, actor: Actor, *, after_id: int | None,
                       limit: int) -> Sequence[Webhook]:
    return await repository.list_live(session, department=_department_filter(actor), after_id=after_id,
                                      limit=limit)


async def delete(session: AsyncSession, actor: Actor, webhook_id: int, now: datetime) -> None:
    """Soft-delete: nothing more is delivered; deliveries still waiting fail; the log stays."""
    webhook = await visible(session, actor, webhook_id, for_update=True)
    before = snapshot(webhook)
    webhook.deleted_at = now
    session.add(webhook)
    await session.flush()
    abandoned = await repository.fail_waiting(session, webhook_id, now, DELETED_ERROR)
    record(session, actor, action="webhook.deleted", entity="webhook", entity_id=str(webhook_id), before=before,
           after={**before, "deleted_at": now.isoformat(), "abandoned_deliveries": abandoned})


def _attempt_out(attempt: WebhookAttempt) -> AttemptOut:
    return AttemptOut(attempt=attempt.attempt, started_at=attempt.started_at, duration_ms=attempt.duration_ms,
                      status_code=attempt.status_code, error=attempt.error)


async def deliveries_of(session: AsyncSession, actor: Actor, webhook_id: int, *, before_event_id: int | None,
                        limit: int) -> Sequence[tuple[WebhookDelivery, str]]:
    """A visible webhook's deliveries, newest event first (404 for a webhook the caller may not see)."""
    await visible(session, actor, webhook_id)
    return await repository.deliveries(session, webhook_id, before_event_id=before_event_id, limit=limit)


async def present_deliveries(session: AsyncSession,
                             rows: Sequence[tuple[WebhookDelivery, str]]) -> list[DeliveryOut]:
    ids = [delivery.id for delivery, _event in rows if delivery.id is not None]
    attempts = await repository.attempts_of(session, ids)
    result = []
    for delivery, event in rows:
        assert delivery.id is not None
        result.append(DeliveryOut(
            id=delivery.id, event_id=delivery.event_id, event=event, status=delivery.status,
            attempt_count=delivery.attempts, next_attempt_at=delivery.next_attempt_at,
            last_status_code=delivery.last_status_code, last_error=delivery.last_error,
            delivered_at=delivery.delivered_at, created_at=delivery.created_at,
            attempts=[_attempt_out(a) for a in attempts[delivery.id]],
        ))
    return result
