"""Submissions: creating, reading, editing, and how they are presented."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.core.actor import Actor
from app.core.concurrency import etag_for, require_if_match
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.i18n import Language
from app.core.issues import issue
from app.indicators.bounds import refused
from app.indicators.service import present_value
from app.submissions import repository
from app.submissions.models import Submission, SubmissionRevision
from app.submissions.rules import ISSUES, Checked, Plausibility, Refusal, check, is_outlier
from app.submissions.schemas import (
    RevisionOut,
    SubmissionCreate,
    SubmissionOut,
    SubmissionPreview,
    SubmissionWarning,
)
from app.submissions.visibility import is_visible

EDITABLE = ("draft", "returned")


def etag(submission: Submission) -> str:
    assert submission.id is not None
    return etag_for("submission", str(submission.id), submission.version)


def raise_refusal(refusal: Refusal) -> None:
    """A single request's refusal as the matching problem."""
    if refusal.kind == "forbidden":
        raise Forbidden("not_responsible")
    if refusal.kind == "conflict":
        raise Conflict("submission_exists", id=refusal.existing_id, extra={"existing_id": refusal.existing_id})
    raise refused(refusal.issues)


def snapshot(submission: Submission) -> dict[str, Any]:
    return {
        "id": submission.id, "indicator": submission.indicator, "period": submission.period,
        "department": submission.department, "value": submission.value, "numerator": submission.numerator,
        "denominator": submission.denominator, "note": submission.note, "evidence": submission.evidence,
        "status": submission.status, "version": submission.version, "reviewer_note": submission.reviewer_note,
    }


def add_revision(session: AsyncSession, submission: Submission, action: str, actor: Actor, at: datetime,
                 reason: str | None = None) -> None:
    assert submission.id is not None
    session.add(SubmissionRevision(
        submission_id=submission.id, revision=submission.version, action=action, at=at,
        indicator=submission.indicator, period=submission.period, status=submission.status,
        value=submission.value, numerator=submission.numerator, denominator=submission.denominator,
        note=submission.note, evidence=list(submission.evidence), reason=reason,
        department=actor.department, token_id=actor.token_id,
    ))


async def checked_new(session: AsyncSession, actor: Actor, body: SubmissionCreate, now: datetime,
                      plausible: Plausibility) -> Checked:
    """The rules of a new submission, the (indicator, period) uniqueness included."""
    checked = await check(session, actor, dict(body), now=now, plausible=plausible)
    existing = await repository.find_existing(session, [(checked.indicator, checked.period.label)])
    if existing:
        existing_id = next(iter(existing.values()))
        raise Refusal("conflict", [issue(["indicator"], "submission_exists", ISSUES, existing_id=existing_id)],
                      existing_id=existing_id)
    return checked


async def store_new(session: AsyncSession, actor: Actor, checked: Checked, now: datetime) -> Submission:
    submission = Submission(
        indicator=checked.indicator, indicator_version=checked.version.version, period=checked.period.label,
        period_start=checked.period.start, period_end=checked.period.end, department=checked.department,
        value=checked.value, numerator=checked.numerator, denominator=checked.denominator, note=checked.note,
        evidence=checked.evidence, status="draft", version=1, created_at=now, updated_at=now,
        created_by_token_id=actor.token_id,
    )
    session.add(submission)
    await session.flush()
    assert submission.id is not None
    await repository.set_evidence_files(session, submission.id, checked.file_ids)
    add_revision(session, submission, "created", actor, now)
    record(session, actor, action="submission.created", entity="submission", entity_id=str(submission.id),
           after=snapshot(submission))
    return submission


async def create(session: AsyncSession, actor: Actor, body: SubmissionCreate, now: datetime,
                 plausible: Plausibility) -> Submission:
    try:
        checked = await checked_new(session, actor, body, now, plausible)
    except Refusal as refusal:
        raise_refusal(refusal)
        raise
    try:
        async with session.begin_nested():
            return await store_new(session, actor, checked, now)
    except IntegrityError:
        # A concurrent request stored the same indicator and period after our check.
        existing = await repository.find_existing(session, [(checked.indicator, checked.period.label)])
        if not existing:
            raise
        existing_id = next(iter(existing.values()))
        raise Conflict("submission_exists", id=existing_id, extra={"existing_id": existing_id}) from None


async def visible(session: AsyncSession, actor: Actor, submission_id: int, *, for_update: bool = False) -> Submission:
    """The submission if the caller may read it; 404 otherwise (its existence is not confirmed)."""
    submission = await repository.get(session, submission_id, for_update=for_update)
    if submission is None or not is_visible(actor, submission):
        raise NotFound(entity="submission", id=str(submission_id))
    return submission


def require_own(actor: Actor, submission: Submission) -> None:
    if submission.department != actor.department:
        raise Forbidden("not_own_submission")


async def edit(
    session: AsyncSession, actor: Actor, submission_id: int, changes: dict[str, Any], *, if_match: str | None,
    now: datetime, plausible: Plausibility,
) -> Submission:
    submission = await visible(session, actor, submission_id, for_update=True)
    require_own(actor, submission)
    require_if_match(if_match, etag(submission))
    if submission.status not in EDITABLE:
        raise Conflict("submission_locked", status=submission.status)
    fields = {
        "indicator": submission.indicator, "period": submission.period, "value": submission.value,
        "numerator": submission.numerator, "denominator": submission.denominator, "note": submission.note,
        "evidence": submission.evidence, **changes,
    }
    if "value" not in changes and ("numerator" in changes or "denominator" in changes):
        fields["value"] = None  # derived from the new numerator and denominator
    try:
        checked = await check(session, actor, fields, now=now, plausible=plausible)
    except Refusal as refusal:
        raise_refusal(refusal)
        raise
    before = snapshot(submission)
    submission.indicator_version = checked.version.version
    submission.value, submission.numerator, submission.denominator = (
        checked.value, checked.numerator, checked.denominator)
    submission.note, submission.evidence = checked.note, checked.evidence
    submission.version += 1
    submission.updated_at = now
    session.add(submission)
    await session.flush()
    assert submission.id is not None
    await repository.set_evidence_files(session, submission.id, checked.file_ids)
    add_revision(session, submission, "edited", actor, now)
    record(session, actor, action="submission.edited", entity="submission", entity_id=str(submission.id),
           before=before, after=snapshot(submission))
    return submission



def warnings_for(value: float | None, previous: float | None, value_type: str, threshold: float,
                 lang: Language) -> list[SubmissionWarning]:
    if not is_outlier(value, previous, value_type, threshold):
        return []
    percent = round(threshold * 100)
    if lang == "zh":
        msg = f"数值与上一期已审核数值（{previous:g}）相差超过 {percent}%"
    else:
        msg = f"more than {percent}% away from the previous approved value ({previous:g})"
    return [SubmissionWarning(code="outlier", msg=msg)]


async def present(
    session: AsyncSession, submissions: Sequence[Submission], *, threshold: float, lang: Language
) -> list[SubmissionOut]:
    """Submissions as the API shows them: typed values and live outlier warnings (two queries in all)."""
    types = await repository.value_types(session, [(s.indicator, s.indicator_version) for s in submissions])
    previous = await repository.previous_values_by_id(session, [s.id for s in submissions if s.id is not None])
    result = []
    for s in submissions:
        assert s.id is not None
        value_type = types[(s.indicator, s.indicator_version)]
        result.append(SubmissionOut(
            id=s.id, indicator=s.indicator, period=s.period, department=s.department,
            value=present_value(s.value, value_type), numerator=s.numerator, denominator=s.denominator,
            note=s.note, evidence=s.evidence, status=s.status,
            warnings=warnings_for(s.value, previous.get(s.id), value_type, threshold, lang),
            version=s.version, created_at=s.created_at, updated_at=s.updated_at, submitted_at=s.submitted_at,
            approved_at=s.approved_at, reviewer_note=s.reviewer_note,
        ))
    return result


async def preview(session: AsyncSession, checked: Checked, *, threshold: float, lang: Language) -> SubmissionPreview:
    previous = await repository.previous_approved_values(session, [(checked.indicator, checked.period.start)])
    return SubmissionPreview(
        indicator=checked.indicator, period=checked.period.label, department=checked.department,
        value=present_value(checked.value, checked.value_type), numerator=checked.numerator,
        denominator=checked.denominator, note=checked.note, evidence=checked.evidence, status="draft",
        warnings=warnings_for(checked.value, previous.get((checked.indicator, checked.period.start)),
                              checked.value_type, threshold, lang),
    )


def revision_out(revision: SubmissionRevision, value_type: str) -> RevisionOut:
    return RevisionOut(
        revision=revision.revision, action=revision.action, at=revision.at,
        status=revision.status,
        value=present_value(revision.value, value_type), numerator=revision.numerator,
        denominator=revision.denominator, note=revision.note, evidence=revision.evidence, reason=revision.reason,
        department=revision.department, token_id=revision.token_id,
    )
