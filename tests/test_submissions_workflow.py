"""Submissions after creation: edits with If-Match (and racing edits), Idempotency-Key replays, the life
cycle with its revisions, audit events and outbox events, per-object authorization, and outlier warnings.

Outlier arithmetic (threshold 50%, "more than" is strict): against a previous approved value of 40,
60 is +50% and 20 is −50% (no warning), 60.1 is +50.25% and 19.9 is −50.25% (warning).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.factories import bearer, make_token, sql
from tests.test_submissions import (
    THIS_YEAR,
    YEAR,
    act,
    acted,
    advance,
    as_json,
    assert_problem,
    create,
    issues,
    listed,
    post,
    post_batch,
    stored,
    stored_counts,
)

OUTLIER = "outlier"


@pytest.fixture
async def cgj(app: Any) -> str:
    return await make_token(app, "cgj", ["submissions:write"], name="cgj writer")


@pytest.fixture
async def reviewer(app: Any) -> str:
    return await make_token(app, "lead", ["submissions:review"], name="lead office reviewer")


async def etag_of(client: httpx.AsyncClient, token: str, submission_id: int) -> str:
    response = await client.get(f"/v1/submissions/{submission_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.headers["ETag"]


async def patch(client: httpx.AsyncClient, token: str, submission_id: int, body: Any,
                if_match: str | None) -> httpx.Response:
    headers = bearer(token) if if_match is None else bearer(token, **{"If-Match": if_match})
    return await client.patch(f"/v1/submissions/{submission_id}", headers=headers, json=body)


async def patched(client: httpx.AsyncClient, token: str, submission_id: int, body: Any) -> dict[str, Any]:
    response = await patch(client, token, submission_id, body, await etag_of(client, token, submission_id))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def token_id(client: httpx.AsyncClient, token: str) -> int:
    response = await client.get("/v1/me", headers=bearer(token))
    assert response.status_code == 200
    value: int = response.json()["token_id"]
    return value


async def approved(client: httpx.AsyncClient, writer: str, reviewer: str, indicator: str, period: str,
                   value: Any, note: str | None = None) -> dict[str, Any]:
    body = await create(client, writer, indicator, period, value=value, **({"note": note} if note else {}))
    await advance(client, writer, reviewer, body["id"], "approved")
    return body


def codes(warnings: list[dict[str, Any]]) -> list[str]:
    return [warning["code"] for warning in warnings]


def slots(count: int) -> list[tuple[str, str]]:
    """``count`` distinct (indicator, period) pairs for cases sharing one database, one submission each:
    2.3.01 and 2.4.01 (both percent, annual, led by cgj) in the years from 2016 on."""
    pairs = [(indicator, str(year)) for year in range(2016, YEAR + 1) for indicator in ("2.3.01", "2.4.01")]
    assert len(pairs) >= count
    return pairs[:count]


# ------------------------------------------------------------------------------------------- edits


async def test_patch_edits_a_draft_and_changes_the_etag(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    draft = await create(client, cgj, "2.3.01", "2024", value=70, note="初稿")
    first_etag = await etag_of(client, cgj, draft["id"])
    response = await patch(client, cgj, draft["id"], {"value": 72.5, "note": "按台账修正"}, first_etag)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["value"], body["note"], body["version"], body["status"]) == (72.5, "按台账修正", 2, "draft")
    assert response.headers["ETag"] != first_etag
    assert response.headers["ETag"] == await etag_of(client, cgj, draft["id"])
    row = await stored(app, draft["id"])
    assert (row["value"], row["note"], row["version"]) == (72.5, "按台账修正", 2)
    revisions = await sql(app, "SELECT revision, action, value, note FROM submission_revisions "
                               "WHERE submission_id = :id ORDER BY revision", id=draft["id"])
    assert [tuple(r) for r in revisions] == [(1, "created", 70, "初稿"), (2, "edited", 72.5, "按台账修正")]
    audit = await sql(app, "SELECT before, after FROM audit_events WHERE entity = 'submission' AND entity_id = :id "
                           "AND action = 'submission.edited'", id=str(draft["id"]))
    assert len(audit) == 1
    assert (as_json(audit[0][0])["value"], as_json(audit[0][1])["value"]) == (70, 72.5)
    assert (await sql(app, "SELECT COUNT(*) FROM outbox_events WHERE entity_id = :id", id=str(draft["id"])))[0][0] == 0

    counts = await stored_counts(app)
    assert_problem(await patch(client, cgj, draft["id"], {"value": 80}, first_etag), 412, "precondition_failed")
    assert_problem(await patch(client, cgj, draft["id"], {"value": 80}, None), 428, "precondition_required")
    assert await stored_counts(app) == counts
    assert (await stored(app, draft["id"]))["value"] == 72.5


PATCH_INVALID: list[tuple[dict[str, Any], list[Any], str]] = [
    ({"value": 101}, ["value"], "out_of_range"),
    ({"value": -1}, ["value"], "out_of_range"),
    ({"numerator": -1, "denominator": 4}, ["numerator"], "greater_than_equal"),
    ({"value": True}, ["value"], "number_expected"),
    ({"numerator": 5}, ["denominator"], "numerator_denominator_pair"),
    ({"numerator": 1, "denominator": 0}, ["denominator"], "greater_than"),
    ({"numerator": 45, "denominator": 60, "value": 70}, ["value"], "value_mismatch"),  # computed 75
    ({"period": "2023"}, ["period"], "extra_forbidden"),
    ({"indicator": "2.4.01"}, ["indicator"], "extra_forbidden"),
    ({"status": "approved"}, ["status"], "extra_forbidden"),
    ({"department": "zjj"}, ["department"], "extra_forbidden"),
    ({"evidence": ["f" * 32]}, ["evidence", 0], "unknown_file"),
]


async def test_an_invalid_patch_changes_nothing(app: Any, client: httpx.AsyncClient, cgj: str,
                                                subtests: pytest.Subtests) -> None:
    """Every case on one database, each patching a draft of its own (indicator, period)."""
    for index, ((body, loc, kind), (indicator, period)) in enumerate(
            zip(PATCH_INVALID, slots(len(PATCH_INVALID)), strict=True)):
        with subtests.test(msg=f"{kind}-{index}", body=body, indicator=indicator, period=period):
            draft = await create(client, cgj, indicator, period, value=70, note="初稿")
            etag = await etag_of(client, cgj, draft["id"])
            before, row = await stored_counts(app), await stored(app, draft["id"])
            problem = assert_problem(await patch(client, cgj, draft["id"], body, etag), 422,
                                     "out_of_range" if kind == "out_of_range" else "validation_failed")
            assert (loc, kind) in issues(problem), problem
            assert await stored_counts(app) == before
            assert await stored(app, draft["id"]) == row
            assert await etag_of(client, cgj, draft["id"]) == etag


async def test_patch_recomputes_from_numerator_and_denominator_and_keeps_zero(
        app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    draft = await create(client, cgj, "2.3.01", "2024", value=50)
    body = await patched(client, cgj, draft["id"], {"numerator": 1, "denominator": 4})
    assert (body["value"], body["numerator"], body["denominator"]) == (25, 1, 4)  # 100 × 1 / 4
    body = await patched(client, cgj, draft["id"], {"denominator": 5})
    assert (body["value"], body["numerator"], body["denominator"]) == (20, 1, 5)  # 100 × 1 / 5

    # a new value alone contradicts the stored numerator and denominator
    etag = await etag_of(client, cgj, draft["id"])
    problem = assert_problem(await patch(client, cgj, draft["id"], {"value": 80}, etag), 422, "validation_failed")
    assert (["value"], "value_mismatch") in issues(problem)
    assert (await stored(app, draft["id"]))["value"] == 20

    body = await patched(client, cgj, draft["id"], {"value": 80, "numerator": None, "denominator": None})
    assert (body["value"], body["numerator"], body["denominator"]) == (80, None, None)
    body = await patched(client, cgj, draft["id"], {"value": 0})
    assert body["value"] == 0
    rows = await sql(app, "SELECT value, value IS NULL FROM submissions WHERE id = :id", id=draft["id"])
    assert (rows[0][0], bool(rows[0][1])) == (0.0, False)
    body = await patched(client, cgj, draft["id"], {"value": None})
    assert body["value"] is None
    assert (await stored(app, draft["id"]))["version"] == 6


@pytest.mark.parametrize(("status", "expected"), [
    ("draft", 200), ("returned", 200), ("submitted", 409), ("approved", 409),
])
async def test_only_drafts_and_returned_submissions_can_be_edited(
        app: Any, client: httpx.AsyncClient, cgj: str, reviewer: str, status: str, expected: int) -> None:
    submission = await create(client, cgj, "2.3.01", "2024", value=70)
    await advance(client, cgj, reviewer, submission["id"], status)
    etag = await etag_of(client, cgj, submission["id"])
    before, row = await stored_counts(app), await stored(app, submission["id"])
    response = await patch(client, cgj, submission["id"], {"value": 71}, etag)
    if expected == 200:
        assert response.status_code == 200, response.text
        assert (response.json()["value"], response.json()["status"]) == (71, status)
        assert (await stored(app, submission["id"]))["version"] == row["version"] + 1
    else:
        assert_problem(response, 409, "submission_locked")
        assert await stored_counts(app) == before
        assert await stored(app, submission["id"]) == row


async def test_a_department_never_writes_to_another_departments_submission(
        app: Any, client: httpx.AsyncClient, cgj: str, reviewer: str) -> None:
    sthj = await make_token(app, "sthj", ["submissions:write"])
    sthj_reviewer = await make_token(app, "sthj", ["submissions:write", "submissions:review"])
    zjj = await make_token(app, "zjj", ["submissions:write"])  # cooperates on 2.3.01
    draft = await create(client, cgj, "2.3.01", "2021", value=70)
    submitted = await create(client, cgj, "2.3.01", "2022", value=70)
    done = await create(client, cgj, "2.3.01", "2023", value=70)
    await advance(client, cgj, reviewer, submitted["id"], "submitted")
    await advance(client, cgj, reviewer, done["id"], "approved")
    etags = {s["id"]: await etag_of(client, cgj, s["id"]) for s in (draft, submitted, done)}
    before = await stored_counts(app)
    rows = {s["id"]: await stored(app, s["id"]) for s in (draft, submitted, done)}

    # invisible: another department's draft does not exist for them
    for token in (sthj, sthj_reviewer, zjj):
        assert_problem(await patch(client, token, draft["id"], {"value": 1}, etags[draft["id"]]), 404, "not_found")
    # visible but not theirs: 403, even where the status would also refuse the edit
    for token in (sthj, zjj):
        assert_problem(await patch(client, token, done["id"], {"value": 1}, etags[done["id"]]),
                       403, "not_own_submission")
    assert_problem(await patch(client, sthj_reviewer, submitted["id"], {"value": 1}, etags[submitted["id"]]),
                   403, "not_own_submission")
    assert await stored_counts(app) == before
    for submission_id, row in rows.items():
        assert await stored(app, submission_id) == row


async def test_patch_needs_the_write_scope(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    draft = await create(client, cgj, "2.3.01", "2024", value=70)
    cgj_reader = await make_token(app, "cgj", ["submissions:review"])
    etag = await etag_of(client, cgj, draft["id"])
    assert_problem(await patch(client, cgj_reader, draft["id"], {"value": 1}, etag), 403, "scope_required")
    assert_problem(await patch(client, cgj, 999999, {"value": 1}, etag), 404, "not_found")
    assert (await stored(app, draft["id"]))["version"] == 1


async def test_two_concurrent_patches_with_one_etag_one_wins(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    draft = await create(client, cgj, "2.3.01", "2024", value=70)
    etag = await etag_of(client, cgj, draft["id"])
    transport = httpx.ASGITransport(app=app)

    async def edit(value: float) -> tuple[int, float]:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.patch(f"/v1/submissions/{draft['id']}", json={"value": value},
                                        headers=bearer(cgj, **{"If-Match": etag}))
            return response.status_code, value

    # Use the token once first: its last_used_at update would otherwise serialize the racers.
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        assert (await http.get("/v1/me", headers=bearer(cgj))).status_code == 200
    results = await asyncio.gather(edit(81), edit(82))
    assert sorted(status for status, _ in results) == [200, 412]
    winner = next(value for status, value in results if status == 200)
    row = await stored(app, draft["id"])
    assert (row["version"], row["value"]) == (2, winner)
    revisions = await sql(app, "SELECT revision, action, value FROM submission_revisions WHERE submission_id = :id "
                               "ORDER BY revision", id=draft["id"])
    assert [tuple(r) for r in revisions] == [(1, "created", 70), (2, "edited", winner)]


# ------------------------------------------------------------------------------------ idempotency


async def test_the_same_key_and_body_replay_the_first_answer(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    body = {"indicator": "2.3.01", "period": "2024", "value": 66}
    first = await post(client, cgj, body, **{"Idempotency-Key": "form-42"})
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    counts = await stored_counts(app)
    second = await post(client, cgj, body, **{"Idempotency-Key": "form-42"})
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert second.headers["Location"] == first.headers["Location"]
    assert await stored_counts(app) == counts
    assert (await sql(app, "SELECT COUNT(*) FROM submissions"))[0][0] == 1

    problem = assert_problem(await post(client, cgj, {**body, "value": 67}, **{"Idempotency-Key": "form-42"}),
                             422, "idempotency_key_reused")
    assert problem["status"] == 422
    assert await stored_counts(app) == counts
    assert (await stored(app, first.json()["id"]))["value"] == 66


async def test_idempotency_keys_are_kept_per_token(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    other = await make_token(app, "cgj", ["submissions:write"], name="second cgj device")
    body = {"indicator": "2.3.01", "period": "2024", "value": 66}
    first = await post(client, cgj, body, **{"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    # the same key from another token is a new request: it meets the existing submission
    second = await post(client, other, body, **{"Idempotency-Key": "k-1"})
    assert "Idempotent-Replayed" not in second.headers
    assert assert_problem(second, 409, "submission_exists")["existing_id"] == first.json()["id"]


async def test_sixteen_concurrent_requests_with_one_key_create_one_submission(app: Any, cgj: str) -> None:
    transport = httpx.ASGITransport(app=app)
    body = {"indicator": "2.4.01", "period": "2024", "value": 55}

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.post("/v1/submissions", json=body,
                                   headers=bearer(cgj, **{"Idempotency-Key": "mobile-retry-7"}))

    # Use the token once first: its last_used_at update would otherwise serialize the requests.
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        assert (await http.get("/v1/me", headers=bearer(cgj))).status_code == 200
    answers = await asyncio.gather(*(send() for _ in range(16)))
    assert [tuple(row) for row in await sql(app, "SELECT indicator, period FROM submissions")] == [("2.4.01", "2024")]
    created = [answer for answer in answers if answer.status_code == 201]
    assert created
    assert len({answer.json()["id"] for answer in created}) == 1
    for answer in answers:
        if answer.status_code != 201:
            assert_problem(answer, 409, "idempotency_key_in_progress")
    assert (await sql(app, "SELECT COUNT(*) FROM submission_revisions"))[0][0] == 1


async def test_a_request_cut_off_from_the_database_leaves_its_key_free(
        app: Any, client: httpx.AsyncClient, cgj: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database goes away after the key was claimed: the answer is 503, and the retry runs at once.

    Before, the claim was committed on its own and released after the failure, which needs the very
    database that had gone; the key then stayed 'running' and retries got 409 for a minute.
    """
    from sqlalchemy.exc import OperationalError

    from app.idempotency import repository
    from app.submissions import service

    async def database_gone(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("INSERT", {}, ConnectionError("server closed the connection unexpectedly"))

    body = {"indicator": "2.3.01", "period": "2024", "value": 66}
    with monkeypatch.context() as patched:
        patched.setattr(service, "create", database_gone)
        patched.setattr(repository, "release", database_gone)
        cut_off = await post(client, cgj, body, **{"Idempotency-Key": "field-7"})
    assert_problem(cut_off, 503, "database_unavailable")
    assert await sql(app, "SELECT key FROM idempotency_keys") == []
    retried = await post(client, cgj, body, **{"Idempotency-Key": "field-7"})
    assert retried.status_code == 201, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    assert await sql(app, "SELECT key, state, response_status FROM idempotency_keys") == [("field-7", "done", 201)]
    assert (await sql(app, "SELECT COUNT(*) FROM submissions"))[0][0] == 1


# -------------------------------------------------------------------------------------- life cycle


async def test_the_whole_life_cycle_keeps_every_revision_audit_event_and_event(
        app: Any, client: httpx.AsyncClient, cgj: str, reviewer: str) -> None:
    cgj_id, lead_id = await token_id(client, cgj), await token_id(client, reviewer)
    sid = (await create(client, cgj, "2.3.01", "2024", value=70))["id"]
    await patched(client, cgj, sid, {"value": 71})
    body = await acted(client, cgj, sid, "submit")
    assert (body["status"], body["version"]) == ("submitted", 3)
    assert body["submitted_at"] is not None
    assert body["approved_at"] is None
    body = await acted(client, reviewer, sid, "return", {"reason": "请附处理台账"})
    assert (body["status"], body["reviewer_note"]) == ("returned", "请附处理台账")
    await patched(client, cgj, sid, {"value": 72})
    await acted(client, cgj, sid, "submit")
    response = await act(client, reviewer, sid, "approve", {"note": "同意"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["reviewer_note"]) == ("approved", "同意")
    assert body["approved_at"] is not None
    assert response.headers["ETag"] == await etag_of(client, cgj, sid)
    body = await acted(client, reviewer, sid, "reopen", {"reason": "统计口径调整"})
    assert (body["status"], body["reviewer_note"], body["approved_at"], body["version"]) == (
        "returned", "统计口径调整", None, 8)
    row = await stored(app, sid)
    assert (row["status"], row["reviewer_note"], row["approved_at"], row["version"]) == (
        "returned", "统计口径调整", None, 8)
    # reopened → returned may be edited and submitted again
    await patched(client, cgj, sid, {"value": 73})
    assert (await acted(client, cgj, sid, "submit"))["status"] == "submitted"

    response = await client.get(f"/v1/submissions/{sid}/revisions", headers=bearer(cgj), params={"limit": 500})
    assert response.status_code == 200
    revisions = response.json()["items"]
    assert [(r["revision"], r["action"], r["status"], r["value"], r["department"], r["token_id"], r["reason"])
            for r in revisions] == [
        (1, "created", "draft", 70, "cgj", cgj_id, None),
        (2, "edited", "draft", 71, "cgj", cgj_id, None),
        (3, "submitted", "submitted", 71, "cgj", cgj_id, None),
        (4, "returned", "returned", 71, "lead", lead_id, "请附处理台账"),
        (5, "edited", "returned", 72, "cgj", cgj_id, None),
        (6, "submitted", "submitted", 72, "cgj", cgj_id, None),
        (7, "approved", "approved", 72, "lead", lead_id, None),
        (8, "reopened", "returned", 72, "lead", lead_id, "统计口径调整"),
        (9, "edited", "returned", 73, "cgj", cgj_id, None),
        (10, "submitted", "submitted", 73, "cgj", cgj_id, None),
    ]
    pages, params = [], {"limit": 4}
    while True:
        page = (await client.get(f"/v1/submissions/{sid}/revisions", headers=bearer(reviewer), params=params)).json()
        pages.append([r["revision"] for r in page["items"]])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert pages == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]

    audit = await sql(app, "SELECT action, department, token_id FROM audit_events WHERE entity = 'submission' "
                           "AND entity_id = :id ORDER BY id", id=str(sid))
    assert [tuple(r) for r in audit] == [
        ("submission.created", "cgj", cgj_id), ("submission.edited", "cgj", cgj_id),
        ("submission.submitted", "cgj", cgj_id), ("submission.returned", "lead", lead_id),
        ("submission.edited", "cgj", cgj_id), ("submission.submitted", "cgj", cgj_id),
        ("submission.approved", "lead", lead_id), ("submission.reopened", "lead", lead_id),
        ("submission.edited", "cgj", cgj_id), ("submission.submitted", "cgj", cgj_id),
    ]
    events = await sql(app, "SELECT event, entity, data FROM outbox_events WHERE entity_id = :id ORDER BY id",
                       id=str(sid))
    assert [(e[0], e[1], as_json(e[2])["status"]) for e in events] == [
        ("submission.submitted", "submission", "submitted"), ("submission.returned", "submission", "returned"),
        ("submission.submitted", "submission", "submitted"), ("submission.approved", "submission", "approved"),
        ("submission.reopened", "submission", "returned"), ("submission.submitted", "submission", "submitted"),
    ]


# (action, starting status, expected answer, problem code)
TRANSITIONS: list[tuple[str, str, int, str | None]] = [
    ("submit", "draft", 200, None),
    ("submit", "returned", 200, None),
    ("submit", "submitted", 409, "invalid_transition"),
    ("submit", "approved", 409, "invalid_transition"),
    ("approve", "submitted", 200, None),
    ("approve", "approved", 409, "invalid_transition"),
    ("approve", "returned", 409, "invalid_transition"),
    ("approve", "draft", 404, "not_found"),  # another department's draft is invisible to the reviewer
    ("return", "submitted", 200, None),
    ("return", "approved", 409, "invalid_transition"),
    ("return", "returned", 409, "invalid_transition"),
    ("return", "draft", 404, "not_found"),
    ("reopen", "approved", 200, None),
    ("reopen", "submitted", 409, "invalid_transition"),
    ("reopen", "returned", 409, "invalid_transition"),
    ("reopen", "draft", 404, "not_found"),
]
TARGET = {"submit": "submitted", "approve": "approved", "return": "returned", "reopen": "returned"}
EVENT = {"submit": "submission.submitted", "approve": "submission.approved", "return": "submission.returned",
         "reopen": "submission.reopened"}


async def test_every_transition_is_allowed_or_refused(app: Any, client: httpx.AsyncClient, cgj: str, reviewer: str,
                                                      subtests: pytest.Subtests) -> None:
    """Every transition on one database, each on a submission of its own (indicator, period). All values
    are 70, so no submission is an outlier against an earlier approved one."""
    for (action, start, expected, code), (indicator, period) in zip(TRANSITIONS, slots(len(TRANSITIONS)),
                                                                    strict=True):
        with subtests.test(msg=f"{action}-{start}", indicator=indicator, period=period):
            sid = (await create(client, cgj, indicator, period, value=70))["id"]
            await advance(client, cgj, reviewer, sid, start)
            before, row = await stored_counts(app), await stored(app, sid)
            actor = cgj if action == "submit" else reviewer
            body = {"reason": "请核实"} if action in ("return", "reopen") else None
            response = await act(client, actor, sid, action, body)
            if expected == 200:
                assert response.status_code == 200, response.text
                assert response.json()["status"] == TARGET[action]
                after = await stored(app, sid)
                assert (after["status"], after["version"]) == (TARGET[action], row["version"] + 1)
                assert await stored_counts(app) == {
                    **before, "submission_revisions": before["submission_revisions"] + 1,
                    "audit_events": before["audit_events"] + 1, "outbox_events": before["outbox_events"] + 1,
                }
                last = await sql(app, "SELECT event FROM outbox_events ORDER BY id DESC LIMIT 1")
                assert last[0][0] == EVENT[action]
            else:
                assert code is not None
                assert_problem(response, expected, code)
                assert await stored_counts(app) == before
                assert await stored(app, sid) == row


async def test_a_department_never_reviews_its_own_submission(app: Any, client: httpx.AsyncClient, cgj: str,
                                                             reviewer: str) -> None:
    lead_both = await make_token(app, "lead", ["submissions:write", "submissions:review"])
    cgj_reviewer = await make_token(app, "cgj", ["submissions:review"])
    sthj_reviewer = await make_token(app, "sthj", ["submissions:review"])
    own = (await create(client, lead_both, "4.1.02", "2024", value=True))["id"]  # the lead office leads 4.1.02
    await acted(client, lead_both, own, "submit")
    theirs = (await create(client, cgj, "2.3.01", "2024", value=70))["id"]
    await acted(client, cgj, theirs, "submit")
    done = (await create(client, cgj, "2.3.01", "2023", value=70))["id"]
    await advance(client, cgj, reviewer, done, "approved")
    before = await stored_counts(app)
    rows = {sid: await stored(app, sid) for sid in (own, theirs, done)}

    for token in (lead_both, reviewer):
        assert_problem(await act(client, token, own, "approve"), 403, "self_review")
        assert_problem(await act(client, token, own, "return", {"reason": "x"}), 403, "self_review")
    assert_problem(await act(client, cgj_reviewer, theirs, "approve"), 403, "self_review")
    assert_problem(await act(client, cgj_reviewer, theirs, "return", {"reason": "x"}), 403, "self_review")
    assert_problem(await act(client, cgj_reviewer, done, "reopen", {"reason": "x"}), 403, "self_review")
    assert await stored_counts(app) == before
    for sid, row in rows.items():
        assert await stored(app, sid) == row

    # any other department's reviewer may decide
    assert (await acted(client, sthj_reviewer, own, "approve"))["status"] == "approved"
    assert (await acted(client, sthj_reviewer, theirs, "approve"))["status"] == "approved"


async def test_only_the_own_department_submits(app: Any, client: httpx.AsyncClient, cgj: str,
                                               reviewer: str) -> None:
    sthj = await make_token(app, "sthj", ["submissions:write"])
    sthj_both = await make_token(app, "sthj", ["submissions:write", "submissions:review"])
    draft = (await create(client, cgj, "2.3.01", "2023", value=70))["id"]
    returned = (await create(client, cgj, "2.3.01", "2024", value=70))["id"]
    await advance(client, cgj, reviewer, returned, "returned")
    before = await stored_counts(app)
    assert_problem(await act(client, sthj, draft, "submit"), 404, "not_found")
    assert_problem(await act(client, sthj_both, draft, "submit"), 404, "not_found")
    assert_problem(await act(client, sthj_both, returned, "submit"), 403, "not_own_submission")
    assert await stored_counts(app) == before
    assert (await stored(app, draft))["status"] == "draft"
    assert (await stored(app, returned))["status"] == "returned"


async def test_actions_need_their_scopes(app: Any, client: httpx.AsyncClient, cgj: str, reviewer: str) -> None:
    lead_writer = await make_token(app, "lead", ["submissions:write"])
    own = (await create(client, lead_writer, "4.1.02", "2024", value=False))["id"]
    theirs = (await create(client, cgj, "2.3.01", "2024", value=70))["id"]
    await acted(client, cgj, theirs, "submit")
    before = await stored_counts(app)
    assert_problem(await act(client, reviewer, own, "submit"), 403, "scope_required")
    assert_problem(await act(client, lead_writer, theirs, "approve"), 403, "scope_required")
    assert_problem(await act(client, lead_writer, theirs, "return", {"reason": "x"}), 403, "scope_required")
    assert_problem(await act(client, reviewer, 999999, "approve"), 404, "not_found")
    assert await stored_counts(app) == before


WITHOUT_A_REASON: list[tuple[str, Any]] = [
    ("no-body", None), ("empty", {}), ("empty-reason", {"reason": ""}), ("blank-reason", {"reason": "   "}),
    ("null-reason", {"reason": None}), ("unknown-field", {"reason": "ok", "extra": 1}),
]


async def test_return_and_reopen_need_a_reason(app: Any, client: httpx.AsyncClient, cgj: str, reviewer: str,
                                               subtests: pytest.Subtests) -> None:
    """Every case on one database, each on a submission of its own (indicator, period)."""
    cases = [(action, start, name, body) for action, start in (("return", "submitted"), ("reopen", "approved"))
             for name, body in WITHOUT_A_REASON]
    for (action, start, name, body), (indicator, period) in zip(cases, slots(len(cases)), strict=True):
        with subtests.test(msg=f"{action}-{start}-{name}", indicator=indicator, period=period):
            sid = (await create(client, cgj, indicator, period, value=70))["id"]
            await advance(client, cgj, reviewer, sid, start)
            before, row = await stored_counts(app), await stored(app, sid)
            assert_problem(await act(client, reviewer, sid, action, body), 422, "validation_failed")
            assert await stored_counts(app) == before
            assert await stored(app, sid) == row


async def test_submitting_needs_a_value_and_zero_is_one(app: Any, client: httpx.AsyncClient, cgj: str) -> None:
    sid = (await create(client, cgj, "2.3.01", "2024", note="待统计"))["id"]
    before, row = await stored_counts(app), await stored(app, sid)
    problem = assert_problem(await act(client, cgj, sid, "submit"), 422, "value_required")
    assert issues(problem) == [(["value"], "value_required")]
    assert await stored_counts(app) == before
    assert await stored(app, sid) == row
    await patched(client, cgj, sid, {"value": 0})
    body = await acted(client, cgj, sid, "submit")
    assert (body["status"], body["value"]) == ("submitted", 0)


# ---------------------------------------------------------------------------------------- outliers


async def test_outlier_warnings_compare_with_the_latest_earlier_approved_value(
        app: Any, client: httpx.AsyncClient, cgj: str, reviewer: str) -> None:
    await approved(client, cgj, reviewer, "2.3.01", "2016", 10)
    await approved(client, cgj, reviewer, "2.3.01", "2023", 40, note="处理设施投运")  # +300% against 10
    await approved(client, cgj, reviewer, "2.3.01", THIS_YEAR, 5, note="later period")  # later: never compared
    c = await create(client, cgj, "2.3.01", "2024", value=60)      # +50% against 40: not more than 50%
    assert c["warnings"] == []
    d_response = await client.post("/v1/submissions", headers=bearer(cgj),
                                   json={"indicator": "2.3.01", "period": "2025", "value": 60.1})
    assert d_response.status_code == 201
    d = d_response.json()
    assert codes(d["warnings"]) == [OUTLIER]                      # +50.25% against 40
    assert "40" in d["warnings"][0]["msg"]

    one = (await client.get(f"/v1/submissions/{d['id']}", headers=bearer(cgj))).json()
    assert codes(one["warnings"]) == [OUTLIER]
    chinese = (await client.get(f"/v1/submissions/{d['id']}", headers=bearer(cgj, **{"Accept-Language": "zh-CN"})))
    assert codes(chinese.json()["warnings"]) == [OUTLIER]
    assert chinese.json()["warnings"][0]["msg"] != d["warnings"][0]["msg"]
    by_id = {item["id"]: codes(item["warnings"]) for item in await listed(client, cgj, indicator="2.3.01")}
    assert (by_id[c["id"]], by_id[d["id"]]) == ([], [OUTLIER])

    assert (await patched(client, cgj, c["id"], {"value": 20}))["warnings"] == []           # −50%
    assert codes((await patched(client, cgj, c["id"], {"value": 19.9}))["warnings"]) == [OUTLIER]  # −50.25%
    assert (await patched(client, cgj, c["id"], {"value": 60}))["warnings"] == []


async def test_warnings_follow_the_approved_state_live(app: Any, client: httpx.AsyncClient, cgj: str,
                                                       reviewer: str) -> None:
    previous = (await create(client, cgj, "2.3.01", "2023", value=40))["id"]
    await acted(client, cgj, previous, "submit")
    later = (await create(client, cgj, "2.3.01", "2024", value=100))["id"]
    # a submitted (not approved) value is not a reference
    assert (await client.get(f"/v1/submissions/{later}", headers=bearer(cgj))).json()["warnings"] == []
    await acted(client, reviewer, previous, "approve")
    body = (await client.get(f"/v1/submissions/{later}", headers=bearer(cgj))).json()
    assert codes(body["warnings"]) == [OUTLIER]                   # +150% against 40
    await acted(client, reviewer, previous, "reopen", {"reason": "口径调整"})
    assert (await client.get(f"/v1/submissions/{later}", headers=bearer(cgj))).json()["warnings"] == []


async def test_submitting_an_outlier_needs_a_note(app: Any, client: httpx.AsyncClient, cgj: str,
                                                  reviewer: str) -> None:
    await approved(client, cgj, reviewer, "2.3.01", "2023", 40)
    sid = (await create(client, cgj, "2.3.01", "2024", value=60.1))["id"]
    before, row = await stored_counts(app), await stored(app, sid)
    for body in (None, {}, {"note": None}):
        problem = assert_problem(await act(client, cgj, sid, "submit", body), 422, "note_required")
        assert [error["loc"] for error in problem["errors"]] == [["note"]]
    assert await stored_counts(app) == before
    assert await stored(app, sid) == row
    body = await acted(client, cgj, sid, "submit", {"note": "新增焚烧线投运"})
    assert (body["status"], body["note"]) == ("submitted", "新增焚烧线投运")
    assert codes(body["warnings"]) == [OUTLIER]                   # the warning stays while the value is an outlier
    assert (await stored(app, sid))["note"] == "新增焚烧线投运"

    # a note already stored is enough
    noted = (await create(client, cgj, "2.3.01", "2025", value=19.9, note="试点结束"))["id"]
    assert (await acted(client, cgj, noted, "submit"))["status"] == "submitted"
    # no outlier, no note needed: exactly +50%
    plain = (await create(client, cgj, "2.3.01", THIS_YEAR, value=60))["id"]
    assert (await acted(client, cgj, plain, "submit"))["status"] == "submitted"


async def test_booleans_are_never_outliers(client: httpx.AsyncClient, cgj: str, reviewer: str) -> None:
    await approved(client, cgj, reviewer, "3.4.05", "2023", True)
    body = await create(client, cgj, "3.4.05", "2024", value=False)
    assert body["warnings"] == []
    assert (await acted(client, cgj, body["id"], "submit"))["status"] == "submitted"


async def test_batch_previews_and_results_carry_outlier_warnings(app: Any, client: httpx.AsyncClient, cgj: str,
                                                                 reviewer: str) -> None:
    await approved(client, cgj, reviewer, "2.3.01", "2023", 40)
    items = [{"indicator": "2.3.01", "period": "2024", "value": 60},
             {"indicator": "2.3.01", "period": "2025", "value": 60.1},
             {"indicator": "2.3.01", "period": "2022", "value": 1}]  # no earlier approved value
    preview = await post_batch(client, cgj, items, dry_run=True)
    assert preview.status_code == 200, preview.text
    assert [codes(p["warnings"]) for p in preview.json()["items"]] == [[], [OUTLIER], []]
    created = await post_batch(client, cgj, items)
    assert created.status_code == 201, created.text
    assert [codes(p["warnings"]) for p in created.json()["items"]] == [[], [OUTLIER], []]
