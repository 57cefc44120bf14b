"""docs/ZHENGZHOU.md and docs/ZHENGZHOU.zh-CN.md, the guide for Zhengzhou's municipal platform: the two
languages carry the same code blocks; every block marked `<!-- tested: tests/test_guide_zhengzhou.py -->`
is run here, taken from both files:

- the signature verifiers (Python, exec'd; JavaScript, run by `node`) against real deliveries: a webhook
  subscribed through the API to a local receiver, an approval and a reopening made through the API, the
  worker's delivery pass (`run_once`), then the captured raw body, signature header and secret — valid →
  true; one byte changed, a wrong secret, a timestamp beyond the tolerance, re-serialised JSON → false;
- the guide's test vector, with both verifiers;
- the pull client, `combined_rate` and the change-feed loop against a real `zwc serve` on the test's
  database, checking the figures the guide promises (worked out by hand below).

Also the guide's claims that tests/test_aggregates.py, test_changes.py and test_webhooks.py do not cover:
a delivery's id is the event's feed cursor; a quarter's pull shows yearly indicators as null but the cell
counts; the CSV's line ends, file name and timestamps; a deleted webhook's log answers 404.

Figures by hand (catalogue: 2.3.01 and 2.2.01 are annual percents, increase, no baseline, targets 40 and 95
for 2025; SPEC §6):
  2.3.01  31350 / 76000  → 100 × 31350 / 76000 = 41.25; score 100 × 41.25 / 40 = 103.1 → clamped 100 → achieved
  2.2.01 182400 / 200000 → 91.2; score 100 × 91.2 / 95 = 96.0; 2025 is the target year, so the expected
          progress is 100 and 96 < 100 → behind
  combined with a county at 52000 / 120000: 100 × 83350 / 196000 = 42.5255… → 42.53
A submission's versions (every creation and transition is a revision): created 1, submitted 2, approved 3,
reopened 4.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.webhooks.delivery import run_once
from tests.factories import assert_problem, bearer, make_token
from tests.guide_blocks import DOCS, Block, read_blocks
from tests.servers import start_serve
from tests.test_submissions import acted, create
from tests.test_webhooks import Receiver

GUIDES = ("ZHENGZHOU.md", "ZHENGZHOU.zh-CN.md")
MARK = "<!-- tested: tests/test_guide_zhengzhou.py -->"
GUIDE_NAMES = {"QUICKSTART", "AUTHENTICATION", "SUBMISSIONS", "ZHENGZHOU", "MOBILE", "SCORING", "ERRORS",
               "VERSIONING", "OPERATIONS"}
NODE = shutil.which("node") or "/usr/bin/node"
TOLERANCE = 300


def blocks(name: str) -> list[Block]:
    return read_blocks(name, MARK)


def guide_block(containing: str) -> str:
    """The one tested block containing ``containing``, the same in both languages."""
    found = []
    for name in GUIDES:
        matching = [block.code for block in blocks(name) if block.tested and containing in block.code]
        assert len(matching) == 1, (name, containing, len(matching))
        found.append(matching[0])
    english, chinese = found
    assert english == chinese
    return english


def python_namespace(*markers: str) -> dict[str, Any]:
    """The tested Python blocks containing ``markers``, executed in order in one namespace."""
    namespace: dict[str, Any] = {"__name__": "zhengzhou_guide"}
    for marker in markers:
        exec(compile(guide_block(marker), f"docs/ZHENGZHOU.md ({marker})", "exec"), namespace)  # noqa: S102
    return namespace


@dataclass(frozen=True)
class Case:
    secret: str
    header: str | None
    body: bytes
    now: float | None  # None: the verifier's own clock


def run_python(cases: list[Case]) -> list[bool]:
    verify = python_namespace("def verify_zwc_signature")["verify_zwc_signature"]
    results = []
    for case in cases:
        if case.now is None:
            results.append(verify(case.secret, case.header, case.body))
        else:
            results.append(verify(case.secret, case.header, case.body, TOLERANCE, case.now))
    return results


def run_node(cases: list[Case], tmp_path: Path) -> list[bool]:
    script = tmp_path / "verify.mjs"
    script.write_text(guide_block("export function verifyZwcSignature") + """
import { readFileSync } from "node:fs";
const cases = JSON.parse(readFileSync(0, "utf8"));
console.log(JSON.stringify(cases.map((c) =>
  verifyZwcSignature(c.secret, c.header ?? undefined, Buffer.from(c.body, "base64"), 300, c.now ?? undefined))));
""", encoding="utf-8")
    payload = json.dumps([{"secret": c.secret, "header": c.header, "body": base64.b64encode(c.body).decode(),
                           "now": c.now} for c in cases])
    result = subprocess.run([NODE, str(script)], input=payload, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    answer: list[bool] = json.loads(result.stdout)
    return answer


def both(cases: list[Case], tmp_path: Path) -> list[bool]:
    """What the Python and the JavaScript verifier answer; they must agree."""
    python, node = run_python(cases), run_node(cases, tmp_path)
    assert python == node, (python, node)
    return python


def one_byte_changed(body: bytes) -> bytes:
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1:]


# ------------------------------------------------------------------------------------- the documents


def test_both_languages_carry_the_same_code_blocks() -> None:
    english, chinese = (blocks(name) for name in GUIDES)
    assert [block.lang for block in english] == [block.lang for block in chinese]
    for ours, theirs in zip(english, chinese, strict=True):
        assert ours.tested == theirs.tested
        if ours.tested or ours.lang not in ("sh", "js", "python"):
            assert ours.code == theirs.code  # tested code, JSON, HTTP, CSV and text: identical
        else:  # commands: identical but for the comments
            assert strip_comments(ours.code) == strip_comments(theirs.code)
    assert sum(block.tested for block in english) == 6


def strip_comments(code: str) -> list[str]:
    return [re.sub(r"(^|\s)#\s.*$", "", line).rstrip() for line in code.splitlines()]


def test_language_switch_and_links() -> None:
    for name, switch in (("ZHENGZHOU.md", "English · [简体中文](ZHENGZHOU.zh-CN.md)"),
                         ("ZHENGZHOU.zh-CN.md", "[English](ZHENGZHOU.md) · 简体中文")):
        lines = (DOCS / name).read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("# ")
        assert next(line for line in lines[1:4] if line) == switch
        for target in re.findall(r"\]\(([^)#]+\.md)(?:#[^)]*)?\)", "\n".join(lines)):
            assert "/" not in target, target
            assert target.removesuffix(".md").removesuffix(".zh-CN") in GUIDE_NAMES, target


# ---------------------------------------------------------------------------------- the test vector


def vector() -> tuple[str, str, bytes, int]:
    fields = dict(line.split(": ", 1) for line in guide_block("X-ZWC-Signature: t=").splitlines())
    header = fields["X-ZWC-Signature"]
    body = fields["body"].encode("utf-8")
    timestamp = int(re.fullmatch(r"t=(\d+),v1=[0-9a-f]{64}", header).group(1))  # type: ignore[union-attr]
    return fields["secret"], header, body, timestamp


def test_the_guide_s_test_vector(tmp_path: Path) -> None:
    secret, header, body, t = vector()
    assert len(body) == 336  # as the guide says
    cases = [Case(secret, header, body, t), Case(secret, header, body, t + TOLERANCE),
             Case(secret, header, body, t - TOLERANCE), Case(secret, header, body, t + TOLERANCE + 1),
             Case(secret, header, body, t - TOLERANCE - 1), Case(secret, header, one_byte_changed(body), t),
             Case(secret + "x", header, body, t), Case(secret, header.replace("t=", "t=0"), body, t)]
    assert both(cases, tmp_path) == [True, True, True, False, False, False, False, False]


@pytest.mark.parametrize("header", [
    None, "", "t=1796237683", "v1=" + "0" * 64, "t=abc,v1=" + "0" * 64, "t=1796237683,v1=zz",
    "t=1796237683,v1=" + "0" * 63, "t=1796237683;v1=" + "0" * 64, "t=١٧٩٦٢٣٧٦٨٣,v1=" + "0" * 64,
    "t=1796237683,v1=ＡＢ",
])
def test_malformed_headers_are_refused_not_raised(header: str | None, tmp_path: Path) -> None:
    secret, _header, body, t = vector()
    assert both([Case(secret, header, body, t)], tmp_path) == [False]


# ------------------------------------------------------------------------------- real deliveries


@pytest.fixture
def receiver() -> Any:
    server = Receiver()
    yield server
    server.close()


async def test_real_deliveries_verify_and_tampered_ones_do_not(
        app: Any, client: httpx.AsyncClient, settings: Settings, receiver: Receiver, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    zzwf = await make_token(app, "zzwf", ["aggregates:read"], name="zhengzhou platform")
    cgj = await make_token(app, "cgj", ["submissions:write"])
    lead = await make_token(app, "lead", ["submissions:review"])
    response = await client.post("/v1/webhooks", headers=bearer(zzwf), json={
        "url": receiver.url, "events": ["submission.approved", "submission.reopened"]})
    assert response.status_code == 201, response.text
    hook = response.json()
    secret = hook["secret"]

    draft = await create(client, cgj, "2.3.01", "2025", numerator=31350, denominator=76000)
    await acted(client, cgj, draft["id"], "submit")
    await acted(client, lead, draft["id"], "approve")
    await acted(client, lead, draft["id"], "reopen", {"reason": "建筑垃圾产生量口径调整"})
    before = int(time.time())
    assert await run_once(app.state.database, settings) == 2
    approved, reopened = sorted(receiver.received(), key=lambda r: int(r.headers["X-ZWC-Delivery"]))
    assert "建筑垃圾产生量口径调整".encode() in reopened.body  # raw UTF-8, not \u escapes

    cases = []
    for request in (approved, reopened):
        header = request.headers["X-ZWC-Signature"]
        t = int(header.split(",")[0].removeprefix("t="))
        assert before <= t <= int(time.time())
        reserialised = json.dumps(json.loads(request.body)).encode()
        cases += [Case(secret, header, request.body, None),  # each verifier's own clock
                  Case(secret, header, request.body, t + TOLERANCE),
                  Case(secret, header, one_byte_changed(request.body), None),
                  Case(secret, header, request.body + b" ", None),
                  Case(secret[:-1] + ("A" if secret[-1] != "A" else "B"), header, request.body, None),
                  Case("whsec_another-subscriber-secret", header, request.body, None),
                  Case(secret, header, request.body, t + TOLERANCE + 1),
                  Case(secret, header, request.body, t - TOLERANCE - 1),
                  Case(secret, header, reserialised, None)]
    assert both(cases, tmp_path) == [True, True, False, False, False, False, False, False, False] * 2

    # What the guide says of the delivery: headers, id = X-ZWC-Delivery = the event's feed cursor, data as in
    # the feed, and handle() copes with repeats and late arrivals.
    feed = (await client.get("/v1/changes", headers=bearer(zzwf))).json()["items"]
    by_cursor = {item["cursor"]: item for item in feed}
    for request, event in ((approved, "submission.approved"), (reopened, "submission.reopened")):
        body = request.json()
        assert request.headers["X-ZWC-Event"] == event
        assert request.headers["User-Agent"] == "zwc-webhooks/1"
        assert request.headers["Content-Type"] == "application/json"
        assert str(body["id"]) == request.headers["X-ZWC-Delivery"]
        item = by_cursor[request.headers["X-ZWC-Delivery"]]
        assert (item["event"], item["data"]) == (event, body["data"])
    assert [item["event"] for item in feed] == ["submission.submitted", "submission.approved",
                                                "submission.reopened"]

    key = ("2.3.01", "2025")
    monkeypatch.setenv("API", "http://127.0.0.1:9")  # the client block reads them; nothing is called here
    monkeypatch.setenv("ZZ_TOKEN", zzwf)
    monkeypatch.setenv("ZZ_CURSOR_FILE", str(tmp_path / "cursor.txt"))
    for order in ((approved, reopened), (reopened, approved), (approved, approved, reopened, reopened)):
        guide = python_namespace("def get(path", "def sync_changes")
        for request in order:
            guide["handle"](request.json())
        assert guide["figures"] == {key: {"version": 4, "value": None, "numerator": None, "denominator": None}}
    guide = python_namespace("def get(path", "def sync_changes")
    guide["handle"](approved.json())
    assert guide["figures"] == {key: {"version": 3, "value": 41.25, "numerator": 31350, "denominator": 76000}}

    # The log reads as the guide shows; after DELETE, the webhook and its log answer 404.
    log = (await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=bearer(zzwf))).json()
    assert [(d["event"], d["status"], d["attempt_count"], d["last_status_code"], d["last_error"])
            for d in log["items"]] == [("submission.reopened", "delivered", 1, 204, None),
                                       ("submission.approved", "delivered", 1, 204, None)]
    deleted = await client.delete(f"/v1/webhooks/{hook['id']}", headers=bearer(zzwf))
    assert deleted.status_code == 204
    assert_problem(await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=bearer(zzwf)), 404,
                   "not_found")


# ------------------------------------------------------------------- the pull and the feed, for real


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Any:
    env = {**os.environ, "ZWC_DATABASE_URL": database_url, "ZWC_FILES_DIR": str(tmp_path / "files"),
           "ZWC_LOG_LEVEL": "WARNING"}
    process, base = start_serve(env, "--no-worker", stdout=tmp_path / "serve.log")
    yield base
    process.terminate()
    process.wait(timeout=30)


async def test_the_guide_s_client_and_feed_loop_against_a_real_server(
        app: Any, server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zzwf = await make_token(app, "zzwf", ["aggregates:read"])
    cgj = await make_token(app, "cgj", ["submissions:write"])
    nyj = await make_token(app, "nyj", ["submissions:write"])
    lead = await make_token(app, "lead", ["submissions:review"])
    cursor_file = tmp_path / "cursor.txt"
    monkeypatch.setenv("API", server)
    monkeypatch.setenv("ZZ_TOKEN", zzwf)
    monkeypatch.setenv("ZZ_CURSOR_FILE", str(cursor_file))
    guide = python_namespace("def combined_rate", "def get(path", "def sync_changes")
    pull, sync, combined_rate = guide["pull"], guide["sync_changes"], guide["combined_rate"]

    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        construction = await create(http, cgj, "2.3.01", "2025", numerator=31350, denominator=76000)
        straw = await create(http, nyj, "2.2.01", "2025", numerator=182400, denominator=200000)
        for writer, submission in ((cgj, construction), (nyj, straw)):
            await acted(http, writer, submission["id"], "submit")
            await acted(http, lead, submission["id"], "approve")

        etag, document = pull("2025")
        assert re.fullmatch(r'"agg-json-[0-9a-f]+"', etag)
        rows = {row["code"]: row for row in document["indicators"]}
        assert len(rows) == 48
        pick = ("value", "numerator", "denominator", "target", "target_year", "score", "status")
        assert {k: rows["2.3.01"][k] for k in pick} == {
            "value": 41.25, "numerator": 31350, "denominator": 76000, "target": 40, "target_year": 2025,
            "score": 100, "status": "achieved"}
        assert {k: rows["2.2.01"][k] for k in pick} == {
            "value": 91.2, "numerator": 182400, "denominator": 200000, "target": 95, "target_year": 2025,
            "score": 96.0, "status": "behind"}
        assert pull("2025", etag) == (etag, None)

        county = {"numerator": 52000, "denominator": 120000}
        assert combined_rate([rows["2.3.01"], county]) == 42.53
        assert combined_rate([rows["2.2.01"]]) == 91.2
        assert combined_rate([rows["2.3.01"], {"numerator": None, "denominator": 120000}]) is None
        assert combined_rate([]) is None

        # The feed: four items, the cursor stored after the last; a second run finds nothing.
        assert sync() == 4
        feed = (await http.get("/v1/changes", headers=bearer(zzwf))).json()["items"]
        assert [item["event"] for item in feed] == ["submission.submitted", "submission.approved"] * 2
        assert cursor_file.read_text() == feed[-1]["cursor"]
        held = {("2.3.01", "2025"): {"version": 3, "value": 41.25, "numerator": 31350, "denominator": 76000},
                ("2.2.01", "2025"): {"version": 3, "value": 91.2, "numerator": 182400, "denominator": 200000}}
        assert guide["figures"] == held
        assert sync() == 0

        # A reopening drops the figure, in the feed and in the pull (a new ETag, 2.2.01 back to no_data).
        await acted(http, lead, straw["id"], "reopen", {"reason": "秸秆可收集资源量口径调整"})
        assert sync() == 1
        held[("2.2.01", "2025")] = {"version": 4, "value": None, "numerator": None, "denominator": None}
        assert guide["figures"] == held
        new_etag, document = pull("2025", etag)
        assert new_etag != etag
        row = next(row for row in document["indicators"] if row["code"] == "2.2.01")
        assert (row["value"], row["numerator"], row["score"], row["status"]) == (None, None, None, "no_data")

        # A crash before the cursor was stored: the items come again and change nothing.
        cursor_file.write_text(feed[0]["cursor"])
        assert sync() == 4
        assert guide["figures"] == held
        last = (await http.get("/v1/changes", params={"after": feed[-1]["cursor"]}, headers=bearer(zzwf))).json()
        assert [item["event"] for item in last["items"]] == ["submission.reopened"]
        assert cursor_file.read_text() == last["items"][0]["cursor"]

        # A quarter's pull: the yearly 2.3.01 is null there, the cell counts are given.
        _etag, quarter = pull("2025Q4")
        rows = {row["code"]: row for row in quarter["indicators"]}
        assert (rows["2.3.01"]["value"], rows["2.3.01"]["status"]) == (None, "no_data")
        assert (rows["1.4.02"]["value"], rows["5.1.04"]["value"]) == (0, 0)

        # Errors come out of get() as HTTPError carrying the problem.
        with pytest.raises(urllib.error.HTTPError) as refused:
            pull("2025Q5")
        assert refused.value.code == 422
        problem = json.loads(refused.value.read())
        assert (problem["code"], problem["errors"][0]["type"]) == ("validation_failed", "invalid_period")


# ---------------------------------------------------------------------------------------- the CSV


async def test_the_csv_as_the_guide_describes_it(app: Any, client: httpx.AsyncClient) -> None:
    zzwf = await make_token(app, "zzwf", ["aggregates:read"])
    cgj = await make_token(app, "cgj", ["submissions:write"])
    lead = await make_token(app, "lead", ["submissions:review"])
    draft = await create(client, cgj, "2.3.01", "2025", numerator=31350, denominator=76000)
    await acted(client, cgj, draft["id"], "submit")
    await acted(client, lead, draft["id"], "approve")
    response = await client.get("/v1/aggregates", params={"period": "2025"},
                                headers=bearer(zzwf, Accept="text/csv"))
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="xinmi-aggregates-2025.csv"'
    text = response.content.decode("utf-8-sig")
    lines = text.split("\r\n")
    assert lines[-1] == ""  # every line ends in CRLF
    assert "\n" not in "".join(lines)
    assert len(lines) == 1 + 48 + 1
    rows = {row["code"]: row for row in csv.DictReader(io.StringIO(text, newline=""))}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", rows["2.3.01"]["approved_at"])
    assert (rows["1.4.04"]["target"], rows["1.4.04"]["value"]) == ("true", "")
    assert "cells" not in text
    assert "agency" not in text
    workbook = await client.get("/v1/aggregates", params={"period": "2025", "format": "xlsx"},
                                headers=bearer(zzwf))
    assert workbook.headers["content-disposition"] == 'attachment; filename="xinmi-aggregates-2025.xlsx"'
