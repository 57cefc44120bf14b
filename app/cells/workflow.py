"""The cell life cycle (SPEC §4.3): evaluate, certify, revoke.

Each step is an audit event and an outbox event in the same transaction as the change.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.cells import repository, service
from app.cells.models import Cell, CellEvaluation, Certificate
from app.cells.schemas import EvaluationCreate, EvaluationItem, EvaluationOut
from app.cells.service import ISSUES
from app.core.actor import Actor
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.issues import issue
from app.core.periods import today_in_shanghai
from app.events.service import emit

EVALUABLE = ("applied", "evaluated", "expired", "revoked")
CERTIFIABLE = ("applied", "evaluated", "expired", "revoked")


def certificate_number(year: int, cell_type: str, seq: int) -> str:
    """`XM-WF-<year>-<TYPE>-<seq>`: TYPE is the type code's first three letters, upper case."""
    return f"XM-WF-{year}-{cell_type[:3].upper()}-{seq:04d}"


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February → 28 February
        return day.replace(year=day.year + years, day=28)


async def _for_review(session: AsyncSession, actor: Actor, cell_id: int) -> Cell:
    cell = await service.get(session, cell_id, for_update=True)
    if cell.department == actor.department:
        raise Forbidden("self_review")
    return cell


async def evaluate(session: AsyncSession, actor: Actor, cell_id: int, body: EvaluationCreate,
                   now: datetime) -> CellEvaluation:
    cell = await _for_review(session, actor, cell_id)
    if cell.status not in EVALUABLE:
        raise Conflict("invalid_transition", action="evaluate", status=cell.status)
    cell_type = await service.type_of(session, cell.type)
    criteria = {c.code: c for c in (await repository.criteria_of(session, [cell.type]))[cell.type]}
    issues: list[dict[str, Any]] = []
    first: dict[str, int] = {}
    for index, item in enumerate(body.items):
        criterion = criteria.get(item.criterion)
        if criterion is None:
            issues.append(issue(["items", index, "criterion"], "unknown_criterion", ISSUES))
        elif item.criterion in first:
            issues.append(issue(["items", index, "criterion"], "duplicate_criterion", ISSUES,
                                first=first[item.criterion], first_number=first[item.criterion] + 1))
        else:
            first[item.criterion] = index
            if not 0 <= item.points <= criterion.max_points:
                issues.append(issue(["items", index, "points"], "points_out_of_range", ISSUES,
                                    max_points=criterion.max_points))
    if issues:
        raise Unprocessable(errors=issues)
    total = sum(item.points for item in body.items)
    assert cell.id is not None
    evaluation = CellEvaluation(
        cell_id=cell.id, date=body.date, evaluator=body.evaluator,
        items=[item.model_dump() for item in body.items], total=total, passed=total >= cell_type.pass_score,
        note=body.note, department=actor.department, token_id=actor.token_id, created_at=now,
    )
    session.add(evaluation)
    before = service.snapshot(cell)
    cell.status = "evaluated"
    cell.version += 1
    cell.updated_at = now
    session.add(cell)
    await session.flush()
    data = {"cell_id": cell.id, "evaluation_id": evaluation.id, "date": body.date.isoformat(),
            "evaluator": body.evaluator, "items": evaluation.items, "total": total, "passed": evaluation.passed}
    record(session, actor, action="cell.evaluated", entity="cell", entity_id=str(cell.id), before=before,
           after={**service.snapshot(cell), "evaluation": data})
    await emit(session, "cell.evaluated", entity="cell", entity_id=str(cell.id),
         data={**service.event_data(cell), "evaluation": data, "at": now.isoformat()})
    return evaluation


def present_evaluation(evaluation: CellEvaluation) -> EvaluationOut:
    assert evaluation.id is not None
    return EvaluationOut(
        id=evaluation.id, cell_id=evaluation.cell_id, date=evaluation.date, evaluator=evaluation.evaluator,
        items=[EvaluationItem(**item) for item in evaluation.items], total=evaluation.total,
        passed=evaluation.passed, note=evaluation.note, department=evaluation.department,
        created_at=evaluation.created_at,
    )


async def get_evaluation(session: AsyncSession, cell_id: int, evaluation_id: int) -> CellEvaluation:
    """One evaluation of a cell; readable by every token, like the cell (404 for an unknown cell, an
    unknown evaluation, or another cell's)."""
    await service.get(session, cell_id)
    evaluation = await repository.get_evaluation(session, cell_id, evaluation_id)
    if evaluation is None:
        raise NotFound(entity="cell evaluation", id=str(evaluation_id))
    return evaluation


async def certify(session: AsyncSession, actor: Actor, cell_id: int, now: datetime) -> Cell:
    cell = await _for_review(session, actor, cell_id)
    if cell.status not in CERTIFIABLE:
        raise Conflict("invalid_transition", action="certify", status=cell.status)
    assert cell.id is not None
    latest = await repository.latest_evaluation(session, cell.id)
    if latest is None or (cell.certified_at is not None and latest.created_at <= cell.certified_at):
        raise Conflict("no_evaluation")
    cell_type = await service.type_of(session, cell.type)
    if not latest.passed:
        raise Conflict("evaluation_not_passed", total=latest.total, pass_score=cell_type.pass_score,
                       extra={"total": latest.total, "pass_score": cell_type.pass_score})
    today = today_in_shanghai(now)
    seq = await repository.next_certificate_seq(session, today.year, cell.type)
    number = certificate_number(today.year, cell.type, seq)
    valid_until = add_years(today, cell_type.validity_years)
    session.add(Certificate(certificate_no=number, cell_id=cell.id, certified_at=now, valid_until=valid_until))
    before = service.snapshot(cell)
    cell.status, cell.certificate_no, cell.certified_at, cell.valid_until = "certified", number, now, valid_until
    cell.version += 1
    cell.updated_at = now
    session.add(cell)
    await session.flush()
    record(session, actor, action="cell.certified", entity="cell", entity_id=str(cell.id), before=before,
           after=service.snapshot(cell))
    await emit(session, "cell.certified", entity="cell", entity_id=str(cell.id),
         data={**service.event_data(cell), "at": now.isoformat()})
    return cell


async def revoke(session: AsyncSession, actor: Actor, cell_id: int, reason: str, now: datetime) -> Cell:
    cell = await _for_review(session, actor, cell_id)
    if cell.status != "certified":
        raise Conflict("invalid_transition", action="revoke", status=cell.status)
    assert cell.certificate_no is not None
    certificate = await session.get(Certificate, cell.certificate_no)
    assert certificate is not None
    certificate.revoked_at, certificate.revoke_reason = now, reason
    session.add(certificate)
    before = service.snapshot(cell)
    cell.status = "revoked"
    cell.version += 1
    cell.updated_at = now
    session.add(cell)
    await session.flush()
    record(session, actor, action="cell.revoked", entity="cell", entity_id=str(cell.id), before=before,
           after={**service.snapshot(cell), "reason": reason})
    await emit(session, "cell.revoked", entity="cell", entity_id=str(cell.id),
         data={**service.event_data(cell), "reason": reason, "at": now.isoformat()})
    return cell
