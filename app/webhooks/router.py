"""Webhook subscriptions and their delivery log."""

from __future__ import annotations

from fastapi import APIRouter

from app.core.routing import ApiRoute

router = APIRouter(tags=["webhooks"], route_class=ApiRoute)
