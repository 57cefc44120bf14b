"""Scores (SPEC §6) and department scorecards."""

from __future__ import annotations

from fastapi import APIRouter

from app.core.routing import ApiRoute

router = APIRouter(tags=["scores"], route_class=ApiRoute)
