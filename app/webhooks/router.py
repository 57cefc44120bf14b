"""Webhook subscriptions and their delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, status

from app.auth.dependencies import RequireScope
from app.core.actor import Actor
from app.core.db import SessionDep
from app.core.openapi import problem_responses
from app.core.pagination import Page, PageDep, page_of
from app.core.routing import ApiRoute
from app.core.timeutil import utcnow
from app.events.models import EVENTS
from app.idempotency.dependencies import Idempotent
from app.webhooks import service
from app.webhooks.schemas import DeliveryOut, WebhookCreate, WebhookCreated, WebhookOut

router = APIRouter(tags=["webhooks"], route_class=ApiRoute)

Subscriber = Annotated[Actor, Depends(RequireScope("admin", "aggregates:read"))]
WebhookId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Webhook id (订阅 ID), the `id` of "
                                                               "`POST /v1/webhooks` or of the list.")]
LOCATION = {"Location": {"description": "The new webhook's URL.", "schema": {"type": "string"}}}

DELIVERY_CONTRACT = f"""
**Delivery.** Each event is POSTed to `url` as compact JSON `{{"id", "event", "at", "data"}}` — `id` is
the event's id (also `X-ZWC-Delivery`, for de-duplication: delivery is at least once), `at` the moment
of the change, `data` what the change feed shows of it (submission events carry figures only when
approved). Headers: `Content-Type: application/json`, `X-ZWC-Event` (the event name),
`X-ZWC-Delivery` and `X-ZWC-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the
secret>`. Compare the signature in constant time and refuse old `t` values to stop replays.

A 2xx answer delivers it. Anything else (another status, a redirect, no answer within the timeout) is
retried with exponential back-off — 10 s after the first failure, then 20 s, 40 s, … at most an hour
apart — and the delivery fails after 10 attempts (the service's defaults). The first attempt is made
within seconds of the commit. Only events committed after the subscription are delivered.

Events: {", ".join(f"`{event}`" for event in EVENTS)}.
"""


@router.post("/webhooks", response_model=WebhookCreated, status_code=status.HTTP_201_CREATED,
             operation_id="createWebhook", summary="Subscribe to events", dependencies=[Idempotent],
             responses={**problem_responses(403), 201: {"headers": LOCATION}},
             description="""Subscribe the caller's department (`admin` or `aggregates:read`) to events.

`url` must be an absolute `http` or `https` URL (at most 2000 characters) whose host is a public
address: loopback, private, link-local, unspecified, multicast and reserved addresses, `localhost`, and
names resolving to such addresses are refused (422). `events` lists at least one event, each once.
`secret` (16–200 characters) signs the deliveries; when left out a `whsec_…` secret is generated. The
secret appears in this answer only.
""" + DELIVERY_CONTRACT)
async def create_webhook(body: WebhookCreate, caller: Subscriber, session: SessionDep, request: Request,
                         response: Response) -> WebhookCreated:
    webhook, secret = await service.create(session, caller, body, utcnow(),
                                           allow_private=request.app.state.settings.webhook_allow_private)
    response.headers["Location"] = f"/v1/webhooks/{webhook.id}"
    return WebhookCreated(**WebhookOut.model_validate(webhook).model_dump(), secret=secret)


@router.get("/webhooks", response_model=Page[WebhookOut], operation_id="listWebhooks", summary="List webhooks",
            responses=problem_responses(403))
async def list_webhooks(caller: Subscriber, session: SessionDep, page: PageDep) -> Page[WebhookOut]:
    """Webhooks that are not deleted, oldest first: every department's for `admin`, else the caller's
    department's. Secrets are never shown."""
    position = page.position("webhooks", int)
    rows = await service.list_visible(session, caller, after_id=position[0] if position else None,
                                      limit=page.limit + 1)
    items, next_cursor = page_of(rows, page, "webhooks", lambda w: [w.id])
    return Page[WebhookOut](items=[WebhookOut.model_validate(w) for w in items], next_cursor=next_cursor)


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut, operation_id="getWebhook", summary="Get a webhook",
            responses=problem_responses(403, 404))
async def get_webhook(webhook_id: WebhookId, caller: Subscriber, session: SessionDep) -> WebhookOut:
    """One webhook (never its secret): any for `admin`, else the caller's department's; 404 for another
    department's or a deleted one."""
    return WebhookOut.model_validate(await service.visible(session, caller, webhook_id))


@router.delete("/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="deleteWebhook",
               summary="Delete a webhook", responses=problem_responses(403, 404))
async def delete_webhook(webhook_id: WebhookId, caller: Subscriber, session: SessionDep) -> Response:
    """Stop a subscription (`admin` any, others their department's; 404 otherwise). Nothing more is
    delivered: deliveries still waiting are marked `failed`. The delivery log is kept."""
    await service.delete(session, caller, webhook_id, utcnow())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=Page[DeliveryOut], operation_id="listWebhookDeliveries",
            summary="List a webhook's deliveries", responses=problem_responses(403, 404))
async def list_webhook_deliveries(webhook_id: WebhookId, caller: Subscriber, session: SessionDep,
                                  page: PageDep) -> Page[DeliveryOut]:
    """The delivery log, newest event first: one delivery per event, its `status` (`pending`,
    `delivered`, `failed`), how many attempts were made, when the next is due, the last answer, and
    every attempt (start, duration, HTTP status or error). Same visibility as `getWebhook`."""
    position = page.position("webhook_deliveries", int)
    rows = await service.deliveries_of(session, caller, webhook_id, before_event_id=position[0] if position else None,
                                       limit=page.limit + 1)
    items, next_cursor = page_of(rows, page, "webhook_deliveries", lambda row: [row[0].event_id])
    return Page[DeliveryOut](items=await service.present_deliveries(session, items), next_cursor=next_cursor)
