from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import Caller, RequireScope
from app.core.actor import Actor
from app.core.db import SessionDep
from app.core.i18n import Language
from app.core.openapi import problem_responses
from app.core.pagination import Page, PageDep, page_of
from app.core.problems import LanguageDep
from app.core.routing import ApiRoute
from app.core.timeutil import utcnow
from app.idempotency.dependencies import Idempotent
from app.submissions import batch, repository, service, workflow
from app.submissions.models import Submission
from app.submissions.repository import SubmissionFilter
from app.submissions.rules import Plausibility
from app.submissions.schemas import (
    ActionNote,
    ActionReason,
    BatchCreate,
    BatchCreated,
    BatchPreview,
    RevisionOut,
    Status,
    SubmissionCreate,
    SubmissionOut,
    SubmissionPatch,
)

router = APIRouter(prefix="/submissions", tags=["submissions"], route_class=ApiRoute)

SubmissionsWrite = Annotated[Actor, Depends(RequireScope("submissions:write"))]
SubmissionsReview = Annotated[Actor, Depends(RequireScope("submissions:review"))]
SubmissionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Submission id (填报记录 ID), the `id` of "
                                                                  "`POST /v1/submissions` or of the list.")]
DryRun = Annotated[bool, Query(description="Trial run (预校验): check every item and answer 200 with the previews; "
                                           "write nothing. Default false.")]
ETAG = {"ETag": {"description": "Strong ETag; send it as `If-Match` to edit.", "schema": {"type": "string"}}}


def _threshold(request: Request) -> float:
    return float(request.app.state.settings.outlier_threshold)


def _plausible(request: Request) -> Plausibility:
    return Plausibility.from_settings(request.app.state.settings)


async def _answer(request: Request, session: AsyncSession, lang: Language, submission: Submission,
                  response: Response) -> SubmissionOut:
    response.headers["ETag"] = service.etag(submission)
    (out,) = await service.present(session, [submission], threshold=_threshold(request), lang=lang)
    return out


@router.post("", response_model=SubmissionOut, status_code=status.HTTP_201_CREATED, operation_id="createSubmission",
             dependencies=[Idempotent], responses={**problem_responses(403, 409), 201: {"headers": ETAG}})
async def create_submission(body: SubmissionCreate, caller: SubmissionsWrite, session: SessionDep,
                            lang: LanguageDep, request: Request, response: Response) -> SubmissionOut:
    """Create a `draft` (`submissions:write`; the department must lead or cooperate on the indicator).

    The value is validated against the indicator definition in force at the period's end; with
    `numerator` and `denominator` the value is computed. One submission per indicator and period:
    a second answers 409 with `existing_id`."""
    submission = await service.create(session, caller, body, utcnow(), _plausible(request))
    response.headers["Location"] = f"/v1/submissions/{submission.id}"
    return await _answer(request, session, lang, submission, response)


@router.post("/batch", response_model=BatchCreated | BatchPreview, operation_id="createSubmissionsBatch",
             dependencies=[Idempotent], status_code=status.HTTP_201_CREATED,
             responses={**problem_responses(403), 200: {"model": BatchPreview, "description": "Dry run"}})
async def create_submissions_batch(
    body: BatchCreate, caller: SubmissionsWrite, session: SessionDep, lang: LanguageDep, request: Request,
    response: Response,
    dry_run: DryRun = False,
) -> BatchCreated | BatchPreview:
    """Up to 500 submissions, all or nothing: if any item fails, nothing is written and the 422's
    `errors[].loc` starts with `["items", index]`. `dry_run=true` answers 200 with the previews."""
    now = utcnow()
    checked = await batch.check_all(session, caller, body.items, now, _plausible(request))
    if dry_run:
        response.status_code = status.HTTP_200_OK
        return BatchPreview(items=[await service.preview(session, item, threshold=_threshold(request), lang=lang)
                                   for item in checked])
    created = await batch.create_all(session, caller, checked, now)
    return BatchCreated(items=await service.present(session, created, threshold=_threshold(request), lang=lang))


@router.get("", response_model=Page[SubmissionOut], operation_id="listSubmissions", responses=problem_responses())
async def list_submissions(
    caller: Caller, session: SessionDep, page: PageDep, lang: LanguageDep, request: Request,
    indicator: Annotated[str | None, Query(max_length=32, description="Only this indicator (指标编码), by exact "
                                                                      "code, e.g. `1.4.03`.")] = None,
    period: Annotated[str | None, Query(max_length=7, description="Only this reporting period (统计周期), by exact "
                                                                  "label: `2025` does not include `2025Q1` or "
                                                                  "`2025-01`.", examples=["2025"])] = None,
    department: Annotated[str | None, Query(max_length=16, description="Only this reporting department's (填报部门), "
                                                                       "by code, e.g. `sthj`.")] = None,
    status_: Annotated[Status | None, Query(alias="status", description="Only this status (填报状态): `draft`, "
                                                                        "`submitted`, `approved` or `returned`; "
                                                                        "visibility still applies.")] = None,
) -> Page[SubmissionOut]:
    """Submissions the caller may see, oldest first: its own department's in every status; with
    `submissions:review`, all but other departments' drafts; otherwise approved ones only."""
    position = page.position("submissions", int)
    rows = await repository.list_visible(
        session, caller, SubmissionFilter(indicator=indicator, period=period, department=department, status=status_),
        after_id=position[0] if position else None, limit=page.limit + 1,
    )
    items, next_cursor = page_of(rows, page, "submissions", lambda s: [s.id])
    return Page[SubmissionOut](
        items=await service.present(session, items, threshold=_threshold(request), lang=lang), next_cursor=next_cursor
    )


@router.get("/{submission_id}", response_model=SubmissionOut, operation_id="getSubmission",
            responses={**problem_responses(404), 200: {"headers": ETAG}})
async def get_submission(submission_id: SubmissionId, caller: Caller, session: SessionDep, lang: LanguageDep,
                         request: Request, response: Response) -> SubmissionOut:
    """One submission, if the caller may see it (404 otherwise), with its `ETag`."""
    submission = await service.visible(session, caller, submission_id)
    return await _answer(request, session, lang, submission, response)


@router.patch("/{submission_id}", response_model=SubmissionOut, operation_id="editSubmission",
              responses={**problem_responses(403, 404, 409, 412, 428), 200: {"headers": ETAG}})
async def edit_submission(
    submission_id: SubmissionId, body: SubmissionPatch, caller: SubmissionsWrite, session: SessionDep,
    lang: LanguageDep, request: Request, response: Response,
    if_match: Annotated[str | None, Header(
        description="The submission's `ETag` as last read (实体标签, from `GET` or an earlier answer); required: "
                    "428 without it, 412 when it is no longer current.")] = None,
) -> SubmissionOut:
    """Edit a `draft` or `returned` submission of one's own department (`If-Match` required);
    `approved` answers 409 until the lead office reopens it."""
    # mode="json": a link's url is stored as text, not as the pydantic Url the model holds.
    submission = await service.edit(session, caller, submission_id, body.model_dump(mode="json", exclude_unset=True),
                                    if_match=if_match, now=utcnow(), plausible=_plausible(request))
    return await _answer(request, session, lang, submission, response)


async def _transition(request: Request, session: AsyncSession, caller: Actor, lang: Language, response: Response,
                      submission_id: int, action: str, *, note: str | None = None,
                      reason: str | None = None) -> SubmissionOut:
    submission = await workflow.transition(session, caller, submission_id, action, now=utcnow(), note=note,
                                           reason=reason, outlier_threshold=_threshold(request))
    return await _answer(request, session, lang, submission, response)


@router.post("/{submission_id}/submit", response_model=SubmissionOut, operation_id="submitSubmission",
             responses=problem_responses(403, 404, 409))
async def submit_submission(submission_id: SubmissionId, caller: SubmissionsWrite, session: SessionDep,
                            lang: LanguageDep, request: Request, response: Response,
                            body: Annotated[ActionNote | None, Body()] = None) -> SubmissionOut:
    """`draft`/`returned` → `submitted` (own department). A value far from the previous approved one
    needs a `note` (422 `note_required`)."""
    return await _transition(request, session, caller, lang, response, submission_id, "submit",
                             note=body.note if body else None)


@router.post("/{submission_id}/approve", response_model=SubmissionOut, operation_id="approveSubmission",
             responses=problem_responses(403, 404, 409))
async def approve_submission(submission_id: SubmissionId, caller: SubmissionsReview, session: SessionDep,
                             lang: LanguageDep, request: Request, response: Response,
                             body: Annotated[ActionNote | None, Body()] = None) -> SubmissionOut:
    """`submitted` → `approved` (`submissions:review`, not one's own department's)."""
    return await _transition(request, session, caller, lang, response, submission_id, "approve",
                             note=body.note if body else None)


@router.post("/{submission_id}/return", response_model=SubmissionOut, operation_id="returnSubmission",
             responses=problem_responses(403, 404, 409))
async def return_submission(submission_id: SubmissionId, body: ActionReason, caller: SubmissionsReview,
                            session: SessionDep, lang: LanguageDep, request: Request,
                            response: Response) -> SubmissionOut:
    """`submitted` → `returned` with a `reason` (kept as `reviewer_note`)."""
    return await _transition(request, session, caller, lang, response, submission_id, "return", reason=body.reason)


@router.post("/{submission_id}/reopen", response_model=SubmissionOut, operation_id="reopenSubmission",
             responses=problem_responses(403, 404, 409))
async def reopen_submission(submission_id: SubmissionId, body: ActionReason, caller: SubmissionsReview,
                            session: SessionDep, lang: LanguageDep, request: Request,
                            response: Response) -> SubmissionOut:
    """`approved` → `returned` with a `reason`: the approved figure is withdrawn
    (`submission.reopened` in the change feed)."""
    return await _transition(request, session, caller, lang, response, submission_id, "reopen", reason=body.reason)


@router.get("/{submission_id}/revisions", response_model=Page[RevisionOut], operation_id="listSubmissionRevisions",
            responses=problem_responses(404))
async def list_submission_revisions(submission_id: SubmissionId, caller: Caller, session: SessionDep,
                                    page: PageDep) -> Page[RevisionOut]:
    """Every state of the submission from creation to now: value, note, status, who and when."""
    submission = await service.visible(session, caller, submission_id)
    assert submission.id is not None
    position = page.position("submission_revisions", int)
    rows = await repository.revisions(session, submission.id, after_revision=position[0] if position else None,
                                      limit=page.limit + 1)
    items, next_cursor = page_of(rows, page, "submission_revisions", lambda r: [r.revision])
    types = await repository.value_types(session, [(submission.indicator, submission.indicator_version)])
    value_type = types[(submission.indicator, submission.indicator_version)]
    return Page[RevisionOut](items=[service.revision_out(r, value_type) for r in items], next_cursor=next_cursor)
