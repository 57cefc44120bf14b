"""The municipal pull for Zhengzhou (SPEC §4.1, Aggregates)."""

from __future__ import annotations

from fastapi import APIRouter

from app.core.routing import ApiRoute

router = APIRouter(tags=["aggregates"], route_class=ApiRoute)
