"""Delivering webhooks from the outbox (docs/decisions/0013-webhook-delivery.md).

One pass (:func:`run_once`):

1. **Fan-out**: in one transaction, lock the cursor row, read the outbox events after it (in id order,
   which is commit order), create a pending delivery for each live webhook that subscribed to the event
   after it was written, and advance the cursor.
2. **Claim**: in one short transaction, lease the due deliveries (``locked_until``); on PostgreSQL the
   rows are picked ``FOR UPDATE SKIP LOCKED`` so concurrent workers take disjoint ones.
3. **Send** each claimed delivery (outside any transaction), signed with its webhook's secret.
4. **Record** the attempt and the outcome in a new transaction, releasing the lease: 2xx delivers;
   anything else is retried with exponential back-off until the last attempt fails.

Delivery is at least once: a worker that dies between sending and recording leaves a lease that
expires, and the delivery is sent again. Receivers de-duplicate with ``X-ZWC-Delivery``.
Secrets and signatures are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from app.cells.service import observe_expiry
from app.core.config import Settings
from app.core.db import Database
from app.core.timeutil import utc_text, utcnow
from app.events.exposure import public_data
from app.events.models import OutboxEvent
from app.webhooks import addresses, repository
from app.webhooks.models import ERROR_MAX_LENGTH, WebhookAttempt
from app.webhooks.service import DELETED_ERROR

logger = logging.getLogger("zwc.webhooks")

FANOUT_BATCH = 500  # outbox events per fan-out transaction
FANOUT_BATCHES_PER_PASS = 20
USER_AGENT = "zwc-webhooks/1"
MAX_IDLE_BACKOFF_SECONDS = 30.0
EXPIRY_INTERVAL_SECONDS = 60.0


@dataclass(frozen=True)
class Claimed:
    """A leased delivery with what it takes to send it."""

    delivery_id: int
    webhook_id: int
    attempt: int  # the number this attempt will have
    lease: datetime
    event_id: int
    event: str
    url: str
    secret: str = field(repr=False)  # never in a log line, not even by accident
    deleted: bool
    body: bytes


@dataclass(frozen=True)
class Outcome:
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def body_of(event: OutboxEvent) -> bytes:
    """The compact JSON a receiver gets: ``{"id", "event", "at", "data"}``."""
    document = {"id": event.id, "event": event.event, "at": utc_text(event.at), "data": public_data(event)}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``."""
    digest = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def retry_delay(settings: Settings, attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: base × 2^(attempts − 1), capped."""
    exponent = min(attempts - 1, 60)
    return timedelta(seconds=min(settings.webhook_retry_base_seconds * 2**exponent,
                                 settings.webhook_retry_max_seconds))


def _short(text: str) -> str:
    return text if len(text) <= ERROR_MAX_LENGTH else text[: ERROR_MAX_LENGTH - 1] + "…"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timed out"
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return _short(f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__)


# ------------------------------------------------------------------------------------------ fan-out


async def fan_out(database: Database, batch: int = FANOUT_BATCH) -> int:
    """Create the deliveries of the next outbox events; answers how many events were read."""
    async with database.sessionmaker() as session, session.begin():
        cursor = await repository.lock_cursor(session)
        events = await repository.events_after(session, cursor, batch)
        if not events:
            return 0
        # Read after the events: a webhook committed before any of them is seen (decision 0013).
        hooks = await repository.subscribers(session)
        now = utcnow()
        rows = [
            {"webhook_id": hook_id, "event_id": event_id, "status": "pending", "attempts": 0,
             "next_attempt_at": now, "created_at": now}
            for event_id, event in events
            for hook_id, subscribed, after_event_id in hooks
            if event in subscribed and after_event_id < event_id
        ]
        await repository.insert_deliveries(session, rows)
        await repository.advance_cursor(session, int(events[-1][0]))
    return len(events)


# -------------------------------------------------------------------------------------------- claim


async def claim(database: Database, settings: Settings) -> list[Claimed]:
    """Lease up to ``webhook_batch_size`` due deliveries, committed at once."""
    now = utcnow()
    lease = now + timedelta(seconds=settings.webhook_lease_seconds)
    async with database.sessionmaker() as session, session.begin():
        ids = await repository.claim_due(session, now, lease, settings.webhook_batch_size)
        rows = await repository.claimed(session, ids)
        found = []
        for delivery, webhook, event in rows:
            assert delivery.id is not None
            assert webhook.id is not None
            assert event.id is not None
            found.append(Claimed(
                delivery_id=delivery.id, webhook_id=webhook.id, attempt=delivery.attempts + 1, lease=lease,
                event_id=event.id, event=event.event, url=webhook.url, secret=webhook.secret,
                deleted=webhook.deleted_at is not None, body=body_of(event),
            ))
    return found


# --------------------------------------------------------------------------------------------- send


async def send(client: httpx.AsyncClient, settings: Settings, claimed: Claimed) -> Outcome:
    """One HTTP attempt; never raises for what the receiver or the network does."""
    started_at = utcnow()
    clock = time.monotonic()

    def outcome(status_code: int | None, error: str | None) -> Outcome:
        return Outcome(started_at=started_at, duration_ms=max(0, round((time.monotonic() - clock) * 1000)),
                       status_code=status_code, error=error)

    try:
        target = addresses.parse(claimed.url)
        if not settings.webhook_allow_private:
            refused = await addresses.refusal(target)
            if refused is not None:
                return outcome(None, _short(f"not sent: {refused.en}"))
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-ZWC-Event": claimed.event,
            "X-ZWC-Delivery": str(claimed.event_id),
            "X-ZWC-Signature": signature(claimed.secret, timestamp, claimed.body),
        }
        async with asyncio.timeout(settings.webhook_timeout_seconds):
            # Streamed and never read: the answer's status is all that counts, whatever the body's size.
            async with client.stream("POST", target.url, content=claimed.body, headers=headers) as response:
                status_code = response.status_code
    except addresses.InvalidUrl:
        return outcome(None, "not sent: the URL is not valid")
    except Exception as exc:  # the network and the receiver can fail in any way; it is one failed attempt
        return outcome(None, _describe(exc))
    if 200 <= status_code < 300:
        return outcome(status_code, None)
    return outcome(status_code, f"HTTP {status_code}")


# ------------------------------------------------------------------------------------------- record


async def record(database: Database, settings: Settings, claimed: Claimed, result: Outcome) -> None:
    """Log the attempt and its outcome, releasing the lease (nothing if the lease was lost meanwhile)."""
    now = utcnow()
    values: dict[str, Any] = {"attempts": claimed.attempt, "last_status_code": result.status_code,
                              "last_error": result.error}
    if result.delivered:
        values.update(status="delivered", delivered_at=now, next_attempt_at=None)
    elif claimed.attempt >= settings.webhook_max_attempts:
        values.update(status="failed", next_attempt_at=None)
    else:
        values.update(next_attempt_at=now + retry_delay(settings, claimed.attempt))
    async with database.sessionmaker() as session, session.begin():
        if not await repository.finish(session, claimed.delivery_id, claimed.lease, values):
            logger.warning("webhook delivery %s: lease lost before the outcome was recorded", claimed.delivery_id)
            return
        repository.add_attempt(session, WebhookAttempt(
            delivery_id=claimed.delivery_id, attempt=claimed.attempt, started_at=result.started_at,
            duration_ms=result.duration_ms, status_code=result.status_code, error=result.error,
        ))
    if result.delivered:
        logger.info("webhook %s: event %s delivered (attempt %s)", claimed.webhook_id, claimed.event_id,
                    claimed.attempt)
    else:
        logger.info("webhook %s: event %s attempt %s failed: %s", claimed.webhook_id, claimed.event_id,
                    claimed.attempt, result.error)


async def abandon(database: Database, claimed: Claimed) -> None:
    """A delivery of a deleted webhook: failed without being sent."""
    async with database.sessionmaker() as session, session.begin():
        await repository.finish(session, claimed.delivery_id, claimed.lease,
                                {"status": "failed", "next_attempt_at": None, "last_error": DELETED_ERROR})


async def _deliver(database: Database, settings: Settings, client: httpx.AsyncClient, claimed: Claimed) -> int:
    if claimed.deleted:
        await abandon(database, claimed)
        return 0
    await record(database, settings, claimed, await send(client, settings, claimed))
    return 1


def new_client(settings: Settings) -> httpx.AsyncClient:
    # No proxies from the environment and no redirects: deliveries go to the address that was checked.
    return httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False, trust_env=False)


async def run_once(database: Database, settings: Settings, *, client: httpx.AsyncClient | None = None) -> int:
    """One fan-out, claim and send pass; answers how many deliveries were attempted."""
    for _ in range(FANOUT_BATCHES_PER_PASS):
        if await fan_out(database) < FANOUT_BATCH:
            break
    claimed = await claim(database, settings)
    if not claimed:
        return 0
    if client is None:
        async with new_client(settings) as own:
            return await _deliver_all(database, settings, own, claimed)
    return await _deliver_all(database, settings, client, claimed)


async def _deliver_all(database: Database, settings: Settings, client: httpx.AsyncClient,
                       claimed: list[Claimed]) -> int:
    results = await asyncio.gather(*(_deliver(database, settings, client, c) for c in claimed),
                                   return_exceptions=True)
    attempted = 0
    failure: BaseException | None = None
    for result in results:
        if isinstance(result, BaseException):
            failure = failure or result
        else:
            attempted += result
    if failure is not None:  # e.g. the database went away while recording; the leases expire, then retry
        raise failure
    return attempted


async def _observe_expiry(database: Database) -> None:
    """Certificates that ran out become `expired` (and `cell.expired` is sent) within a minute, even when no
    cell request observes it first (docs/decisions/0011-cell-expiry.md)."""
    async with database.sessionmaker() as session, session.begin():
        await observe_expiry(session)


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


async def run_forever(database: Database, settings: Settings, stop: asyncio.Event) -> None:
    """Poll until ``stop`` is set. Database and other errors are logged and retried, never raised."""
    failures = 0
    expiry_checked = float("-inf")
    async with new_client(settings) as client:
        while not stop.is_set():
            try:
                if time.monotonic() - expiry_checked >= EXPIRY_INTERVAL_SECONDS:
                    await _observe_expiry(database)
                    expiry_checked = time.monotonic()
                attempted = await run_once(database, settings, client=client)
                failures = 0
            except Exception as exc:
                failures += 1
                attempted = 0
                logger.warning("webhook delivery pass failed (%s); retrying", _reason(exc))
            if attempted >= settings.webhook_batch_size:
                continue  # more may be due at once
            delay = settings.webhook_poll_seconds
            if failures:
                delay = min(delay * 2 ** min(failures, 6), max(delay, MAX_IDLE_BACKOFF_SECONDS))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
