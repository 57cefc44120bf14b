"""The batch rules over the rows of an upload, each problem located by its sheet row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.actor import Actor
from app.core.errors import Unprocessable
from app.core.issues import issue
from app.core.problems import validation_errors
from app.submissions import batch
from app.submissions.excel_read import ParsedRow
from app.submissions.rules import ISSUES as RULE_ISSUES
from app.submissions.rules import Checked
from app.submissions.schemas import SubmissionCreate


def _error_index(error: Mapping[str, Any]) -> int:
    loc = error.get("loc", [])
    return loc[1] if len(loc) > 1 and isinstance(loc[1], int) else -1


async def check_rows(session: AsyncSession, actor: Actor, rows: Sequence[ParsedRow], now: datetime) -> list[Checked]:
    """The batch rules over every row; one 422 listing every problem, each with its ``row``.

    Rows whose cells could not be read are reported with the others' rule problems (the rules run
    over the readable rows, their positions mapped back to the file's).
    """
    errors: list[dict[str, Any]] = []
    readable: list[tuple[ParsedRow, SubmissionCreate]] = []
    for row in rows:
        if row.errors:
            errors += row.errors
            continue
        try:
            readable.append((row, SubmissionCreate.model_validate(row.fields())))
        except ValidationError as exc:
            errors += [{**found, "loc": ["items", row.index, *found["loc"]], "row": row.row_number}
                       for found in validation_errors(exc.errors())]
    checked: list[Checked] = []
    if readable:
        try:
            checked = await batch.check_all(session, actor, [item for _, item in readable], now)
        except Unprocessable as refused:
            errors += _located(refused.errors or [], readable)
    if errors:
        raise Unprocessable(errors=sorted(errors, key=_error_index))
    return checked


def _located(errors: Sequence[Mapping[str, Any]], readable: Sequence[tuple[ParsedRow, SubmissionCreate]]
             ) -> list[dict[str, Any]]:
    """Issues of ``check_all`` (located among the readable rows) located in the file, with rows."""
    first_seen: dict[tuple[str, str], ParsedRow] = {}
    for row, item in readable:
        first_seen.setdefault((item.indicator, item.period), row)
    result = []
    for error in errors:
        loc = list(error["loc"])
        if len(loc) < 2 or not isinstance(loc[1], int):
            result.append(dict(error))
            continue
        row, item = readable[loc[1]]
        located = {**error, "loc": ["items", row.index, *loc[2:]], "row": row.row_number}
        if error.get("type") == "duplicate_in_batch":
            first = first_seen[(item.indicator, item.period)]
            located = {**issue(located["loc"], "duplicate_in_batch", RULE_ISSUES, first=first.index),
                       "row": row.row_number, "first_row": first.row_number}
        result.append(located)
    return result
