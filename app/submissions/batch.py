"""Many submissions at once, all or nothing (SPEC §4.1 "Batch")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.actor import Actor
from app.core.errors import Conflict
from app.core.issues import issue, prefixed
from app.indicators.bounds import refused
from app.submissions import repository
from app.submissions.models import Submission
from app.submissions.rules import ISSUES, Checked, Plausibility, Refusal, check
from app.submissions.schemas import SubmissionCreate
from app.submissions.service import store_new


async def check_all(session: AsyncSession, actor: Actor, items: list[SubmissionCreate], now: datetime,
                    plausible: Plausibility) -> list[Checked]:
    """Every item's rules; one 422 listing every failing item (``loc`` starts ``["items", index]``)."""
    issues: list[dict[str, Any]] = []
    checked: list[Checked] = []
    existing = await repository.find_existing(session, [(item.indicator, item.period) for item in items])
    first_index: dict[tuple[str, str], int] = {}
    for index, item in enumerate(items):
        key = (item.indicator, item.period)
        if key in first_index:
            issues.append(issue(["items", index, "period"], "duplicate_in_batch", ISSUES, first=first_index[key],
                                first_number=first_index[key] + 1))
            continue
        first_index[key] = index
        if key in existing:
            issues.append(issue(["items", index, "indicator"], "submission_exists", ISSUES,
                                existing_id=existing[key]))
            continue
        try:
            checked.append(await check(session, actor, dict(item), now=now, plausible=plausible))
        except Refusal as refusal:
            issues += prefixed(["items", index], refusal.issues)
    if issues:
        raise refused(issues)
    return checked


async def create_all(session: AsyncSession, actor: Actor, checked: list[Checked], now: datetime) -> list[Submission]:
    try:
        async with session.begin_nested():
            return [await store_new(session, actor, item, now) for item in checked]
    except IntegrityError:
        # A concurrent request stored one of these after the check; a retry will say which.
        raise Conflict("batch_conflict") from None
