"""The incremental change feed, read from the outbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from app.auth.dependencies import RequireScope
from app.changes import service
from app.changes.schemas import ChangePage
from app.core.actor import Actor
from app.core.db import ReadSessionDep
from app.core.openapi import problem_responses
from app.core.pagination import PageDep
from app.core.routing import ApiRoute

router = APIRouter(tags=["changes"], route_class=ApiRoute)

FeedReader = Annotated[Actor, Depends(RequireScope("aggregates:read"))]
CACHE_CONTROL = "private, no-cache"

DESCRIPTION = """
Every change a subscriber must see (the webhook events: submissions submitted, approved, returned and
reopened, indicators revised, cells applied for, evaluated, certified, revoked, expired and inspected),
oldest first, in the order the changes were committed. Needs `aggregates:read`.

**Cursor contract.** Each item's `cursor` is its position in the feed, a decimal integer. Without
`after` the feed starts at the beginning; with `after` it answers the events that come after that
cursor. Events are only ever appended, in commit order, and never change: pulling from the same cursor
again answers the same items (and perhaps more at the end), and an event committed later always comes
after every cursor already handed out, so a puller that keeps its last cursor never misses or repeats
one. `next_cursor` is the last item's cursor when more may follow; it is null on the last page, and
an `after` past the end answers an empty page. Store the `cursor` of the last item you processed and
poll with it as `after`. An `after` that is not a non-negative integer answers 400 `invalid_cursor`.
(`cursor` is accepted as another name for `after`, like the other lists' parameter.)

**Submissions.** Only approved figures are shown: `submission.approved` carries `value`,
`numerator`, `denominator` and `evidence`; other submission events carry none of them (nor the note).
`submission.reopened` means an approved figure has been withdrawn for correction: **drop the figure**
for that indicator and period until a later `submission.approved` for the same submission `id`.
`submission.returned` and `submission.reopened` carry the reviewer's `reason`.
"""


@router.get(
    "/changes",
    response_model=ChangePage,
    operation_id="listChanges",
    summary="Incremental change feed",
    response_description="The events after `after`, oldest first.",
    description=DESCRIPTION,
    responses={
        **problem_responses(403),
        200: {"headers": {"Cache-Control": {"description": "`private, no-cache`.",
                                            "schema": {"type": "string"}}}},
    },
)
async def list_changes(
    _caller: FeedReader,
    session: ReadSessionDep,
    response: Response,
    page: PageDep,  # `limit`, and `cursor` as another name for `after`
    after: Annotated[str | None, Query(
        description="Feed cursor (变更游标): the `cursor` of the last item received, a non-negative integer; "
                    "omit it to start at the beginning. Anything else is 400 `invalid_cursor`.",
        examples=["1042"])] = None,
) -> ChangePage:
    answer = await service.list_changes(session, after_id=service.parse_cursor(after, page.cursor), limit=page.limit)
    response.headers["Cache-Control"] = CACHE_CONTROL
    return answer
