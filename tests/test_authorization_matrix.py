"""The authorization matrix: every endpoint of the app, called as every kind of caller (SPEC §4, §5).

One table-driven test per backend. The endpoints are enumerated from the app's routes, so a new
endpoint without a row in ``ROWS`` fails the test. Each row names one endpoint (and, where the answer
depends on the object, which object: a draft, someone else's webhook…) and the exact answer expected
for each caller:

- ``none``: no ``Authorization`` header;
- ``revoked``: a token of the responsible department that had every scope, revoked;
- ``other_department``: ``jtj``, which neither leads nor cooperates on any indicator used here and
  is responsible for no cell type, with every writing and reviewing scope;
- ``responsible``: ``nyj``, which leads the indicators used here and is responsible for ``village``
  cells, with the writing scopes;
- ``lead_office``: ``lead`` (kind ``lead_office``) with the reviewing scopes;
- ``external``: ``zzwf`` with ``aggregates:read`` only;
- ``admin``: ``lead`` with ``admin`` only (``admin`` implies no other scope, docs/decisions/0004).

A few rows add callers that show the other side of a rule: ``indicators_admin`` (``lead`` with
``indicators:admin``) and ``lead_writer`` (``lead`` with ``submissions:write`` and ``cells:write``).

Expected answers come from the SPEC; where the SPEC leaves room, from the routes' documented rules
(docstrings, docs/decisions/). The objects the calls need are made once through the real API; every
call that may change state acts on an object made for that call alone.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from tests.factories import assert_problem, bearer, make_token

# ------------------------------------------------------------------------------------------ callers

CALLERS = ("none", "revoked", "other_department", "responsible", "lead_office", "external", "admin")
TOKEN_CALLERS = CALLERS[2:]
EXTRA_CALLERS = ("indicators_admin", "lead_writer")
ALL_SCOPES = ["admin", "indicators:admin", "submissions:write", "submissions:review", "cells:write",
              "cells:review", "aggregates:read"]
# caller → (department, scopes); `revoked` is minted with every scope, then revoked.
TOKENS: dict[str, tuple[str, list[str]]] = {
    "revoked": ("nyj", ALL_SCOPES),
    "other_department": ("jtj", ["submissions:write", "cells:write", "cells:review", "submissions:review"]),
    "responsible": ("nyj", ["submissions:write", "cells:write"]),
    "lead_office": ("lead", ["submissions:review", "cells:review"]),
    "external": ("zzwf", ["aggregates:read"]),
    "indicators_admin": ("lead", ["indicators:admin"]),
    "lead_writer": ("lead", ["submissions:write", "cells:write"]),
}
DEPARTMENT = {caller: department for caller, (department, _) in TOKENS.items()} | {"admin": "lead"}

# From app/catalogue/data: nyj leads these annual indicators (and cooperates on 3.4.03); jtj leads or
# cooperates on none of them. nyj is the `village` type's responsible department; jtj is no type's.
NYJ_INDICATORS = ["1.2.01", "1.2.02", "1.2.03", "2.2.01", "2.2.02", "2.2.03", "2.2.04", "2.2.05", "3.2.01",
                  "3.4.03"]
LEAD_INDICATORS = ["4.1.02", "4.1.03"]  # annual, boolean, led by the lead office
YEARS = range(2016, 2027)  # every one has started (periods up to the current one are accepted)
CELL_TYPE = "village"
TOWN = "qingpingjie"
# The village checklist: 90 points against a pass score of 80.
PASSING_ITEMS = [{"criterion": c, "points": p} for c, p in
                 [("organization", 15), ("source_reduction", 25), ("sorting", 20), ("utilization", 20),
                  ("education", 10)]]
HOOK_URL = "https://zzwf.example.cn/hooks/xinmi"

# Routes of the docs, which need no row (SPEC §4: no token).
DOCS_ROUTES = {"openapi", "swagger_ui", "redoc_page", "guide"}
# Routes the SPEC fixes that the app may lack; their rows expect what the SPEC says.
SPEC_ROUTES: set[tuple[str, str]] = set()

# ------------------------------------------------------------------------------------- expectations

Expected = int | tuple[int, str]  # a status, or a problem's status and code
SCOPE: Expected = (403, "scope_required")
HIDDEN: Expected = (404, "not_found")


def expect(default: Expected, **callers: Expected) -> dict[str, Expected]:
    """The answer of each token caller: ``default`` unless named; extra callers only where named."""
    unknown = set(callers) - set(TOKEN_CALLERS) - set(EXTRA_CALLERS)
    assert not unknown, unknown
    table = {caller: callers.get(caller, default) for caller in TOKEN_CALLERS}
    return table | {caller: answer for caller, answer in callers.items() if caller in EXTRA_CALLERS}


@dataclass
class Req:
    url: str
    json: Any = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes, str]] | None = None


Build = Callable[["World"], Awaitable[Req]]
Check = Callable[["World", str, httpx.Response], Awaitable[None]]


@dataclass
class Row:
    method: str
    route: str
    variant: str
    expected: dict[str, Expected]
    build: Build
    check: Check | None = None
    open: bool = False  # outside /v1: no token needed, a revoked one is ignored
    check_on: int = 200  # the status whose answers ``check`` inspects

    def answers(self) -> Iterator[tuple[str, Expected]]:
        if self.open:
            yield from self.expected.items()
            return
        yield "none", (401, "token_missing")
        yield "revoked", (401, "token_revoked")
        yield from self.expected.items()


def everyone(status: int) -> dict[str, Expected]:
    return dict.fromkeys(CALLERS, status)


# -------------------------------------------------------------------------------------------- world

def png(marker: str) -> bytes:
    """A real 1×1 PNG; ``marker`` (in a text chunk) makes each file's bytes its own."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"tEXt", b"Comment\0" + marker.encode())
            + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b""))


class World:
    """The callers' tokens, the shared objects, and fresh objects made on demand, all through the API."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, Any] = {}
        self._slots = iter([(code, str(year)) for year in YEARS for code in NYJ_INDICATORS])
        self._lead_slots = iter([(code, str(year)) for year in YEARS for code in LEAD_INDICATORS])
        self._serial = 0

    def serial(self) -> int:
        self._serial += 1
        return self._serial

    def headers(self, caller: str) -> dict[str, str]:
        return {} if caller == "none" else bearer(self.tokens[caller])

    async def ok(self, caller: str, method: str, url: str, status: int, **kwargs: Any) -> httpx.Response:
        """A setup call that must succeed."""
        headers = {**self.headers(caller), **kwargs.pop("headers", {})}
        response = await self.client.request(method, url, headers=headers, **kwargs)
        assert response.status_code == status, f"setup {method} {url} as {caller}: {response.text}"
        return response

    # tokens
    async def mint(self, department: str, scopes: list[str]) -> tuple[int, str]:
        body = (await self.ok("admin", "POST", f"/v1/departments/{department}/tokens", 201,
                              json={"scopes": scopes, "name": f"matrix {self.serial()}"})).json()
        return int(body["id"]), str(body["token"])

    # files
    async def upload(self, caller: str = "responsible") -> str:
        marker = f"matrix-{self.serial()}"
        response = await self.ok(caller, "POST", "/v1/files", 201,
                                 files={"file": (f"{marker}.png", png(marker), "image/png")})
        return str(response.json()["id"])

    # submissions
    def slot(self) -> tuple[str, str]:
        return next(self._slots)

    def submission_body(self, evidence: list[str] | None = None) -> dict[str, Any]:
        indicator, period = self.slot()
        return {"indicator": indicator, "period": period, "value": 50, "note": "matrix", "evidence": evidence or []}

    async def draft(self, evidence: list[str] | None = None) -> int:
        response = await self.ok("responsible", "POST", "/v1/submissions", 201, json=self.submission_body(evidence))
        return int(response.json()["id"])

    async def submitted(self, evidence: list[str] | None = None) -> int:
        submission_id = await self.draft(evidence)
        await self.ok("responsible", "POST", f"/v1/submissions/{submission_id}/submit", 200)
        return submission_id

    async def approved(self, evidence: list[str] | None = None) -> int:
        submission_id = await self.submitted(evidence)
        await self.ok("lead_office", "POST", f"/v1/submissions/{submission_id}/approve", 200)
        return submission_id

    async def returned(self) -> int:
        submission_id = await self.submitted()
        await self.ok("lead_office", "POST", f"/v1/submissions/{submission_id}/return", 200,
                      json={"reason": "matrix"})
        return submission_id

    async def lead_submitted(self) -> int:
        indicator, period = next(self._lead_slots)
        response = await self.ok("lead_writer", "POST", "/v1/submissions", 201,
                                 json={"indicator": indicator, "period": period, "value": True})
        submission_id = int(response.json()["id"])
        await self.ok("lead_writer", "POST", f"/v1/submissions/{submission_id}/submit", 200)
        return submission_id

    async def submission_etag(self, submission_id: int) -> str:
        return (await self.ok("responsible", "GET", f"/v1/submissions/{submission_id}", 200)).headers["ETag"]

    # cells
    def cell_body(self, evidence: list[str] | None = None) -> dict[str, Any]:
        return {"type": CELL_TYPE, "name": f"无废村庄 {self.serial()}", "town": TOWN, "address": "村委会",
                "contact": "13800000000", "evidence": evidence or []}

    async def cell(self, applicant: str = "responsible", evidence: list[str] | None = None) -> int:
        response = await self.ok(applicant, "POST", "/v1/cells", 201, json=self.cell_body(evidence))
        return int(response.json()["id"])

    async def evaluate(self, cell_id: int) -> int:
        response = await self.ok("lead_office", "POST", f"/v1/cells/{cell_id}/evaluations", 201,
                                 json={"date": "2025-06-01", "evaluator": "评审组", "items": PASSING_ITEMS})
        return int(response.json()["id"])

    async def evaluated_cell(self) -> int:
        cell_id = await self.cell()
        await self.evaluate(cell_id)
        return cell_id

    async def certified_cell(self) -> int:
        cell_id = await self.evaluated_cell()
        await self.ok("lead_office", "POST", f"/v1/cells/{cell_id}/certify", 200)
        return cell_id

    async def cell_etag(self, cell_id: int) -> str:
        return (await self.ok("responsible", "GET", f"/v1/cells/{cell_id}", 200)).headers["ETag"]

    # webhooks
    async def webhook(self, owner: str) -> int:
        response = await self.ok(owner, "POST", "/v1/webhooks", 201,
                                 json={"url": HOOK_URL, "events": ["cell.certified"]})
        return int(response.json()["id"])

    async def setup(self, app: Any) -> None:
        # The bootstrap token, as `zwc token create` makes it; every other one through the API.
        self.tokens["admin"] = await make_token(app, "lead", ["admin"], name="matrix admin")
        for caller, (department, scopes) in TOKENS.items():
            self.ids[f"token:{caller}"], self.tokens[caller] = await self.mint(department, scopes)
        await self.ok("admin", "DELETE", f"/v1/tokens/{self.ids['token:revoked']}", 204)
        self.ids["nyj_token"], _ = await self.mint("nyj", ["aggregates:read"])

        for name in ("draft", "submitted", "approved", "photo", "cell", "loose"):
            self.ids[f"file:{name}"] = await self.upload()
        self.ids["draft"] = await self.draft([self.ids["file:draft"]])
        self.ids["submitted"] = await self.submitted([self.ids["file:submitted"]])
        self.ids["approved"] = await self.approved([self.ids["file:approved"]])

        self.ids["cell"] = await self.cell(evidence=[self.ids["file:cell"]])
        inspection = await self.ok("responsible", "POST", f"/v1/cells/{self.ids['cell']}/inspections", 201,
                                   json={"inspected_at": "2025-06-01T10:00:00+08:00", "inspector": "巡查员",
                                         "findings": "分类设施齐全", "photos": [self.ids["file:photo"]]})
        self.ids["inspection"] = inspection.json()["id"]
        certified = await self.cell()
        self.ids["evaluation"] = await self.evaluate(certified)
        answer = await self.ok("lead_office", "POST", f"/v1/cells/{certified}/certify", 200)
        self.ids["certified_cell"] = certified
        self.ids["certificate_no"] = answer.json()["certificate_no"]

        self.ids["webhook:external"] = await self.webhook("external")
        self.ids["webhook:admin"] = await self.webhook("admin")


# --------------------------------------------------------------------------------------------- rows

def get(url: str | Callable[[World], str], **params: Any) -> Build:
    async def build(w: World) -> Req:
        return Req(url(w) if callable(url) else url, params=params or None)
    return build


def submission_url(key: str, suffix: str = "") -> Callable[[World], str]:
    return lambda w: f"/v1/submissions/{w.ids[key]}{suffix}"


def fresh_submission(make: str, suffix: str, body: Any = None) -> Build:
    """An action on a submission made for this call alone (``make``: a World method)."""
    async def build(w: World) -> Req:
        submission_id = await getattr(w, make)()
        return Req(f"/v1/submissions/{submission_id}{suffix}", json=body)
    return build


def edit_fresh_submission(make: str) -> Build:
    async def build(w: World) -> Req:
        submission_id = await getattr(w, make)()
        return Req(f"/v1/submissions/{submission_id}", json={"note": "edited"},
                   headers={"If-Match": await w.submission_etag(submission_id)})
    return build


def fresh_cell_action(make: str, suffix: str, body: Any = None) -> Build:
    async def build(w: World) -> Req:
        cell_id = await make_cell(w, make)
        return Req(f"/v1/cells/{cell_id}{suffix}", json=body)
    return build


async def make_cell(w: World, make: str) -> int:
    if make == "lead_applied":
        return await w.cell(applicant="lead_writer")
    return int(await getattr(w, make)())


async def build_create_submission(w: World) -> Req:
    return Req("/v1/submissions", json=w.submission_body())


async def build_batch(w: World) -> Req:
    return Req("/v1/submissions/batch", json={"items": [w.submission_body()]})


async def build_import(w: World) -> Req:
    body = w.submission_body()
    text = f"code,period,value,note\n{body['indicator']},{body['period']},{body['value']},{body['note']}\n"
    return Req("/v1/submissions/import", files={"file": ("rows.csv", text.encode(), "text/csv")})


async def build_mint(w: World) -> Req:
    return Req("/v1/departments/nyj/tokens", json={"scopes": ["aggregates:read"], "name": "matrix"})


async def build_revoke_token(w: World) -> Req:
    token_id, _ = await w.mint("nyj", ["aggregates:read"])
    return Req(f"/v1/tokens/{token_id}")


async def build_department(w: World) -> Req:
    return Req("/v1/departments", json={"code": f"mx{w.serial()}", "name_zh": "测试部门", "name_en": "Matrix"})


async def build_indicator(w: World) -> Req:
    return Req("/v1/indicators", json={
        "code": f"9.9.{w.serial()}", "name_zh": "测试指标", "name_en": "Matrix indicator", "category": "support",
        "group": "测试", "kind": "self_selected", "unit": "个", "value_type": "count", "direction": "increase",
        "frequency": "annual", "lead_department": "sthj"})


async def build_revise_indicator(w: World) -> Req:
    etag = (await w.ok("admin", "GET", "/v1/indicators/5.1.02", 200)).headers["ETag"]
    return Req("/v1/indicators/5.1.02", json={"definition": f"matrix revision {w.serial()}"},
               headers={"If-Match": etag})


async def build_webhook(w: World) -> Req:
    return Req("/v1/webhooks", json={"url": HOOK_URL, "events": ["submission.approved"]})


def fresh_webhook_delete(owner: str) -> Build:
    async def build(w: World) -> Req:
        return Req(f"/v1/webhooks/{await w.webhook(owner)}")
    return build


async def build_cell(w: World) -> Req:
    return Req("/v1/cells", json=w.cell_body())


async def build_edit_cell(w: World) -> Req:
    cell_id = await w.cell()
    return Req(f"/v1/cells/{cell_id}", json={"address": "新村委会"}, headers={"If-Match": await w.cell_etag(cell_id)})


async def build_inspection(w: World) -> Req:
    return Req(f"/v1/cells/{w.ids['cell']}/inspections",
               json={"inspected_at": "2025-06-02T10:00:00+08:00", "inspector": "巡查员", "findings": "良好"})


async def build_quota(w: World) -> Req:
    return Req(f"/v1/cell-quotas/2024/{CELL_TYPE}", json={"quota": 5})


async def build_upload(w: World) -> Req:
    marker = f"matrix-{w.serial()}"
    return Req("/v1/files", files={"file": (f"{marker}.png", png(marker), "image/png")})


# checks of what a successful answer shows (object-level rules inside lists)

async def check_me(w: World, caller: str, response: httpx.Response) -> None:
    assert response.json()["department"]["code"] == DEPARTMENT[caller]


async def check_token_list(w: World, caller: str, response: httpx.Response) -> None:
    departments = {item["department"] for item in response.json()["items"]}
    if caller == "admin":
        assert departments >= {"nyj", "jtj", "lead", "zzwf"}
    else:
        assert departments == {DEPARTMENT[caller]}


VISIBLE_SUBMISSIONS = {
    "responsible": {"draft", "submitted", "approved"},
    "other_department": {"submitted", "approved"},  # a submissions:review token: all but others' drafts
    "lead_office": {"submitted", "approved"},
    "external": {"approved"},
    "admin": {"approved"},
}


async def check_submission_list(w: World, caller: str, response: httpx.Response) -> None:
    listed = {item["id"] for item in response.json()["items"]}
    assert response.json()["next_cursor"] is None
    shown = {name for name in ("draft", "submitted", "approved") if w.ids[name] in listed}
    assert shown == VISIBLE_SUBMISSIONS[caller]


async def check_webhook_list(w: World, caller: str, response: httpx.Response) -> None:
    departments = {item["department"] for item in response.json()["items"]}
    assert departments == ({"lead", "zzwf"} if caller == "admin" else {"zzwf"})


async def check_contact(w: World, caller: str, response: httpx.Response) -> None:
    # CellOut.contact: the applicant's department, the type's responsible department, the lead office and
    # cells:review tokens; else null.
    shown = response.json()["contact"]
    assert shown == (None if caller == "external" else "13800000000")


async def check_public_certificate(w: World, caller: str, response: httpx.Response) -> None:
    assert set(response.json()) == {"certificate_no", "name", "type", "status", "certified_at", "valid_until"}


async def check_not_responsible_items(w: World, caller: str, response: httpx.Response) -> None:
    assert [(e["loc"][:2], e["type"]) for e in response.json()["errors"]] == [(["items", 0], "not_responsible")]


BATCH_REFUSED: Expected = (422, "validation_failed")  # SPEC §4.1 Batch: a failing item fails the batch with 422

ROWS: list[Row] = [
    # auth
    Row("GET", "/v1/me", "", expect(200), get("/v1/me"), check_me),
    Row("POST", "/v1/departments/{code}/tokens", "", expect(SCOPE, admin=201), build_mint),
    Row("GET", "/v1/tokens", "", expect(200), get("/v1/tokens", limit=500), check_token_list),
    Row("GET", "/v1/tokens/{token_id}", "a token of the responsible department",
        expect(HIDDEN, responsible=200, admin=200), get(lambda w: f"/v1/tokens/{w.ids['nyj_token']}")),
    Row("DELETE", "/v1/tokens/{token_id}", "a fresh token of the responsible department",
        expect(HIDDEN, responsible=204, admin=204), build_revoke_token),
    # departments
    Row("GET", "/v1/departments", "", expect(200), get("/v1/departments")),
    Row("GET", "/v1/departments/{code}", "", expect(200), get("/v1/departments/nyj")),
    Row("POST", "/v1/departments", "", expect(SCOPE, admin=201), build_department),
    # indicators
    Row("GET", "/v1/indicators", "", expect(200), get("/v1/indicators")),
    Row("GET", "/v1/indicators/{code}", "", expect(200), get("/v1/indicators/2.2.01")),
    Row("GET", "/v1/indicators/{code}/versions", "", expect(200), get("/v1/indicators/2.2.01/versions")),
    Row("POST", "/v1/indicators", "", expect(SCOPE, indicators_admin=201), build_indicator),
    Row("PATCH", "/v1/indicators/{code}", "", expect(SCOPE, indicators_admin=200), build_revise_indicator),
    # submissions
    Row("GET", "/v1/submissions/template.xlsx", "", expect(SCOPE, responsible=200, other_department=200),
        get("/v1/submissions/template.xlsx")),
    Row("POST", "/v1/submissions/import", "a row for the responsible department's indicator",
        expect(SCOPE, responsible=201, other_department=BATCH_REFUSED), build_import, check_not_responsible_items,
        check_on=422),
    Row("POST", "/v1/submissions", "the responsible department's indicator",
        expect(SCOPE, responsible=201, other_department=(403, "not_responsible"),
               lead_writer=(403, "not_responsible")), build_create_submission),
    Row("POST", "/v1/submissions/batch", "an item for the responsible department's indicator",
        expect(SCOPE, responsible=201, other_department=BATCH_REFUSED), build_batch, check_not_responsible_items,
        check_on=422),
    Row("GET", "/v1/submissions", "", expect(200), get("/v1/submissions", department="nyj", limit=500),
        check_submission_list),
    Row("GET", "/v1/submissions/{submission_id}", "a draft", expect(HIDDEN, responsible=200),
        get(submission_url("draft"))),
    Row("GET", "/v1/submissions/{submission_id}", "a submitted one",
        expect(HIDDEN, responsible=200, other_department=200, lead_office=200), get(submission_url("submitted"))),
    Row("GET", "/v1/submissions/{submission_id}", "an approved one", expect(200), get(submission_url("approved"))),
    Row("PATCH", "/v1/submissions/{submission_id}", "a fresh draft",
        expect(SCOPE, responsible=200, other_department=HIDDEN), edit_fresh_submission("draft")),
    Row("PATCH", "/v1/submissions/{submission_id}", "a fresh submitted one",
        expect(SCOPE, responsible=(409, "submission_locked"), other_department=(403, "not_own_submission")),
        edit_fresh_submission("submitted")),
    Row("PATCH", "/v1/submissions/{submission_id}", "a fresh approved one",
        expect(SCOPE, responsible=(409, "submission_locked"), other_department=(403, "not_own_submission")),
        edit_fresh_submission("approved")),
    Row("POST", "/v1/submissions/{submission_id}/submit", "a fresh draft",
        expect(SCOPE, responsible=200, other_department=HIDDEN), fresh_submission("draft", "/submit")),
    Row("POST", "/v1/submissions/{submission_id}/submit", "a fresh returned one",
        expect(SCOPE, responsible=200, other_department=(403, "not_own_submission")),
        fresh_submission("returned", "/submit")),
    Row("POST", "/v1/submissions/{submission_id}/approve", "a fresh submitted one",
        expect(SCOPE, other_department=200, lead_office=200), fresh_submission("submitted", "/approve")),
    Row("POST", "/v1/submissions/{submission_id}/approve", "a fresh draft",
        expect(SCOPE, other_department=HIDDEN, lead_office=HIDDEN), fresh_submission("draft", "/approve")),
    Row("POST", "/v1/submissions/{submission_id}/approve", "a fresh submitted one of the lead office",
        expect(SCOPE, other_department=200, lead_office=(403, "self_review")),
        fresh_submission("lead_submitted", "/approve")),
    Row("POST", "/v1/submissions/{submission_id}/return", "a fresh submitted one",
        expect(SCOPE, other_department=200, lead_office=200),
        fresh_submission("submitted", "/return", {"reason": "matrix"})),
    Row("POST", "/v1/submissions/{submission_id}/reopen", "a fresh approved one",
        expect(SCOPE, other_department=200, lead_office=200),
        fresh_submission("approved", "/reopen", {"reason": "matrix"})),
    Row("GET", "/v1/submissions/{submission_id}/revisions", "a draft", expect(HIDDEN, responsible=200),
        get(submission_url("draft", "/revisions"))),
    Row("GET", "/v1/submissions/{submission_id}/revisions", "a submitted one",
        expect(HIDDEN, responsible=200, other_department=200, lead_office=200),
        get(submission_url("submitted", "/revisions"))),
    Row("GET", "/v1/submissions/{submission_id}/revisions", "an approved one", expect(200),
        get(submission_url("approved", "/revisions"))),
    # scores, aggregates, changes
    Row("GET", "/v1/scores", "", expect(200), get("/v1/scores", period="2024")),
    Row("GET", "/v1/scores/departments", "", expect(200), get("/v1/scores/departments", period="2024")),
    Row("GET", "/v1/aggregates", "", expect(SCOPE, external=200), get("/v1/aggregates", period="2024")),
    Row("GET", "/v1/changes", "", expect(SCOPE, external=200), get("/v1/changes")),
    # webhooks
    Row("POST", "/v1/webhooks", "", expect(SCOPE, external=201, admin=201), build_webhook),
    Row("GET", "/v1/webhooks", "", expect(SCOPE, external=200, admin=200), get("/v1/webhooks", limit=500),
        check_webhook_list),
    Row("GET", "/v1/webhooks/{webhook_id}", "the external department's",
        expect(SCOPE, external=200, admin=200), get(lambda w: f"/v1/webhooks/{w.ids['webhook:external']}")),
    Row("GET", "/v1/webhooks/{webhook_id}", "the admin's department's",
        expect(SCOPE, external=HIDDEN, admin=200), get(lambda w: f"/v1/webhooks/{w.ids['webhook:admin']}")),
    Row("DELETE", "/v1/webhooks/{webhook_id}", "a fresh one of the external department",
        expect(SCOPE, external=204, admin=204), fresh_webhook_delete("external")),
    Row("DELETE", "/v1/webhooks/{webhook_id}", "a fresh one of the admin's department",
        expect(SCOPE, external=HIDDEN, admin=204), fresh_webhook_delete("admin")),
    Row("GET", "/v1/webhooks/{webhook_id}/deliveries", "the external department's",
        expect(SCOPE, external=200, admin=200),
        get(lambda w: f"/v1/webhooks/{w.ids['webhook:external']}/deliveries")),
    Row("GET", "/v1/webhooks/{webhook_id}/deliveries", "the admin's department's",
        expect(SCOPE, external=HIDDEN, admin=200),
        get(lambda w: f"/v1/webhooks/{w.ids['webhook:admin']}/deliveries")),
    # cells
    Row("GET", "/v1/cell-types", "", expect(200), get("/v1/cell-types")),
    Row("GET", "/v1/towns", "", expect(200), get("/v1/towns")),
    Row("POST", "/v1/cells", "a village cell",
        expect(SCOPE, responsible=201, other_department=(403, "not_responsible_for_type"), lead_writer=201),
        build_cell),
    Row("GET", "/v1/cells", "", expect(200), get("/v1/cells")),
    Row("GET", "/v1/cells/summary", "", expect(200), get("/v1/cells/summary", year=2025)),
    Row("GET", "/v1/cells/{cell_id}", "", expect(200), get(lambda w: f"/v1/cells/{w.ids['cell']}"), check_contact),
    Row("PATCH", "/v1/cells/{cell_id}", "a fresh village cell",
        expect(SCOPE, responsible=200, other_department=(403, "not_responsible_for_type"), lead_writer=200),
        build_edit_cell),
    Row("POST", "/v1/cells/{cell_id}/evaluations", "a fresh cell applied by the responsible department",
        expect(SCOPE, other_department=201, lead_office=201),
        fresh_cell_action("cell", "/evaluations",
                          {"date": "2025-06-01", "evaluator": "评审组", "items": PASSING_ITEMS})),
    Row("POST", "/v1/cells/{cell_id}/evaluations", "a fresh cell applied by the lead office",
        expect(SCOPE, other_department=201, lead_office=(403, "self_review")),
        fresh_cell_action("lead_applied", "/evaluations",
                          {"date": "2025-06-01", "evaluator": "评审组", "items": PASSING_ITEMS})),
    Row("GET", "/v1/cells/{cell_id}/evaluations", "", expect(200),
        get(lambda w: f"/v1/cells/{w.ids['certified_cell']}/evaluations")),
    Row("GET", "/v1/cells/{cell_id}/evaluations/{evaluation_id}", "", expect(200),
        get(lambda w: f"/v1/cells/{w.ids['certified_cell']}/evaluations/{w.ids['evaluation']}")),
    Row("POST", "/v1/cells/{cell_id}/certify", "a fresh evaluated (passed) cell",
        expect(SCOPE, other_department=200, lead_office=200), fresh_cell_action("evaluated_cell", "/certify")),
    Row("POST", "/v1/cells/{cell_id}/revoke", "a fresh certified cell",
        expect(SCOPE, other_department=200, lead_office=200),
        fresh_cell_action("certified_cell", "/revoke", {"reason": "matrix"})),
    Row("POST", "/v1/cells/{cell_id}/inspections", "a village cell",
        expect(SCOPE, responsible=201, other_department=(403, "not_responsible_for_type"), lead_writer=201),
        build_inspection),
    Row("GET", "/v1/cells/{cell_id}/inspections", "a village cell",
        expect(SCOPE, responsible=200, other_department=(403, "not_responsible_for_type"), lead_writer=200),
        get(lambda w: f"/v1/cells/{w.ids['cell']}/inspections")),
    Row("GET", "/v1/cells/{cell_id}/inspections/{inspection_id}", "a village cell's",
        expect(SCOPE, responsible=200, other_department=(403, "not_responsible_for_type"), lead_writer=200),
        get(lambda w: f"/v1/cells/{w.ids['cell']}/inspections/{w.ids['inspection']}")),
    Row("PUT", "/v1/cell-quotas/{year}/{type}", "", expect(SCOPE, other_department=200, lead_office=200),
        build_quota),
    # files
    Row("POST", "/v1/files", "", expect(SCOPE, responsible=201, other_department=201), build_upload),
    Row("GET", "/v1/files/{file_id}", "evidence of a draft", expect(HIDDEN, responsible=200),
        get(lambda w: f"/v1/files/{w.ids['file:draft']}")),
    Row("GET", "/v1/files/{file_id}", "evidence of a submitted one",
        expect(HIDDEN, responsible=200, other_department=200, lead_office=200),
        get(lambda w: f"/v1/files/{w.ids['file:submitted']}")),
    Row("GET", "/v1/files/{file_id}", "evidence of an approved one", expect(200),
        get(lambda w: f"/v1/files/{w.ids['file:approved']}")),
    Row("GET", "/v1/files/{file_id}", "evidence of a cell (every token reads cells)", expect(200),
        get(lambda w: f"/v1/files/{w.ids['file:cell']}")),
    # An inspection's photo: whoever may read inspections (cells:write, the type's responsible
    # department or the lead office) may read it; nobody else.
    Row("GET", "/v1/files/{file_id}", "photo of an inspection", expect(HIDDEN, responsible=200, lead_writer=200),
        get(lambda w: f"/v1/files/{w.ids['file:photo']}")),
    Row("GET", "/v1/files/{file_id}", "referred to by nothing", expect(HIDDEN, responsible=200),
        get(lambda w: f"/v1/files/{w.ids['file:loose']}")),
    # audit
    Row("GET", "/v1/audit-events", "", expect(SCOPE, admin=200), get("/v1/audit-events")),
    # outside /v1: no token needed
    Row("GET", "/healthz", "", everyone(200), get("/healthz"), open=True),
    Row("GET", "/readyz", "", everyone(200), get("/readyz"), open=True),
    Row("GET", "/metrics", "", everyone(200), get("/metrics"), open=True),
    Row("GET", "/public/certificates/{certificate_no}", "", everyone(200),
        get(lambda w: f"/public/certificates/{w.ids['certificate_no']}"), check_public_certificate, open=True),
]


def describe(response: httpx.Response) -> str:
    kind = response.headers.get("content-type", "")
    textual = "json" in kind or kind.startswith("text/")
    body = response.text[:500] if textual else f"<{len(response.content)} bytes>"
    return f"answered {response.status_code} ({kind or 'no content type'}): {body}"


def app_routes(app: Any) -> set[tuple[str, str]]:
    """Every (method, path) the app serves, the docs' routes left out by name."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        if route.name in DOCS_ROUTES:
            continue
        assert route.path is not None
        if isinstance(route.original_route, APIRoute) or route.methods:
            found |= {(method, route.path) for method in (route.methods or set()) - {"HEAD", "OPTIONS"}}
        else:  # a mount or a bare route without methods still needs a row
            found.add(("*", route.path))
    return found


# --------------------------------------------------------------------------------------------- test

async def test_authorization_matrix(app: Any, client: httpx.AsyncClient, subtests: pytest.Subtests) -> None:
    with subtests.test(msg="every route of the app has a row, and every row a route"):
        table = {(row.method, row.route) for row in ROWS}
        assert table == app_routes(app) | SPEC_ROUTES

    world = World(client)
    await world.setup(app)

    for row in ROWS:
        for caller, answer in row.answers():
            variant = f" [{row.variant}]" if row.variant else ""
            with subtests.test(msg=f"{row.method} {row.route}{variant} as {caller}"):
                request = await row.build(world)
                response = await client.request(
                    row.method, request.url, params=request.params, json=request.json, files=request.files,
                    headers={**world.headers(caller), **request.headers},
                )
                status = answer[0] if isinstance(answer, tuple) else answer
                assert response.status_code == status, describe(response)
                if isinstance(answer, tuple):
                    assert_problem(response, *answer)
                if row.check is not None and response.status_code == row.check_on:
                    await row.check(world, caller, response)
