"""The submission life cycle (SPEC §4.3): submit, approve, return, reopen.

Every transition is a revision, an audit event and an outbox event, in one transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.core.actor import Actor
from app.core.errors import Conflict, Forbidden, Unprocessable
from app.core.issues import issue
from app.events.service import emit
from app.submissions import repository, service
from app.submissions.models import Submission
from app.submissions.rules import ISSUES, is_outlier

# action → (statuses it starts from, status it leads to, event)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "submit": (("draft", "returned"), "submitted", "submission.submitted"),
    "approve": (("submitted",), "approved", "submission.approved"),
    "return": (("submitted",), "returned", "submission.returned"),
    "reopen": (("approved",), "returned", "submission.reopened"),
}
REVISION_ACTION = {"submit": "submitted", "approve": "approved", "return": "returned", "reopen": "reopened"}


async def _load(session: AsyncSession, actor: Actor, submission_id: int, action: str) -> Submission:
    submission = await service.visible(session, actor, submission_id, for_update=True)
    if action == "submit":
        service.require_own(actor, submission)
    elif submission.department == actor.department:
        raise Forbidden("self_review")
    sources, _target, _event = TRANSITIONS[action]
    if submission.status not in sources:
        raise Conflict("invalid_transition", action=action, status=submission.status)
    return submission


async def _check_submittable(session: AsyncSession, submission: Submission, note: str | None,
                             threshold: float) -> None:
    if submission.value is None:
        raise Unprocessable("value_required", errors=[issue(["value"], "value_required", ISSUES)])
    if note or submission.note:
        return
    types = await repository.value_types(session, [(submission.indicator, submission.indicator_version)])
    previous = (await repository.previous_approved_values(
        session, [(submission.indicator, submission.period_start)])).get((submission.indicator,
                                                                          submission.period_start))
    if is_outlier(submission.value, previous, types[(submission.indicator, submission.indicator_version)],
                  threshold):
        raise Unprocessable("note_required", errors=[issue(
            ["note"], "note_required", ISSUES, threshold=round(threshold * 100), previous=f"{previous:g}")])


async def transition(
    session: AsyncSession,
    actor: Actor,
    submission_id: int,
    action: str,
    *,
    now: datetime,
    note: str | None = None,
    reason: str | None = None,
    outlier_threshold: float,
) -> Submission:
    submission = await _load(session, actor, submission_id, action)
    before = service.snapshot(submission)
    if action == "submit":
        await _check_submittable(session, submission, note, outlier_threshold)
        if note:
            submission.note = note
        submission.submitted_at = now
    elif action == "approve":
        submission.approved_at = now
        submission.reviewer_note = note
    else:  # return, reopen
        submission.reviewer_note = reason
        submission.approved_at = None
    _sources, target, event = TRANSITIONS[action]
    submission.status = target
    submission.version += 1
    submission.updated_at = now
    session.add(submission)
    await session.flush()
    service.add_revision(session, submission, REVISION_ACTION[action], actor, now, reason=reason)
    after = service.snapshot(submission)
    record(session, actor, action=event, entity="submission", entity_id=str(submission.id), before=before,
           after=after)
    await emit(session, event, entity="submission", entity_id=str(submission.id),
         data={**after, "at": now.isoformat(), "approved_at": submission.approved_at.isoformat()
               if submission.approved_at else None})
    return submission
