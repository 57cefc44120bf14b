"""Who may read which submissions (SPEC §5), as one SQL condition used by every read."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, or_
from sqlmodel import col

from app.core.actor import Actor
from app.submissions.models import Submission


def visible_to(actor: Actor) -> ColumnElement[bool]:
    """A department sees its own in every status; a reviewer everything but others' drafts;
    everyone else approved values only."""
    clauses = [col(Submission.status) == "approved"]
    if actor.department is not None:
        clauses.append(col(Submission.department) == actor.department)
    if actor.has_scope("submissions:review"):
        clauses.append(col(Submission.status) != "draft")
    return or_(*clauses) if clauses else false()


def is_visible(actor: Actor, submission: Submission) -> bool:
    """The same rule for one loaded submission."""
    return (
        submission.status == "approved"
        or (actor.department is not None and submission.department == actor.department)
        or (actor.has_scope("submissions:review") and submission.status != "draft")
    )


__all__ = ["is_visible", "visible_to"]
