"""The incremental change feed, read from the outbox."""

from __future__ import annotations

from fastapi import APIRouter

from app.core.routing import ApiRoute

router = APIRouter(tags=["changes"], route_class=ApiRoute)
