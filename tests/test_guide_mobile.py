"""docs/MOBILE.md and docs/MOBILE.zh-CN.md, the guide for mobile apps.

Every tested block runs against a real `zwc serve` and answers as the guide shows; the offline queue
(outbox.mjs, sync.mjs, run with node) stores exactly one inspection however its answers are lost; and the
guide's claims about idempotency keys, the towns and cell types, and conditional requests hold.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import text

from app.core.db import create_sync_engine
from app.idempotency.repository import _lock_key
from tests.factories import assert_problem, bearer, make_token, serving, sql
from tests.servers import start_serve
from tests.test_cells import applied

DOCS = Path(__file__).resolve().parents[1] / "docs"
GUIDES = {"en": DOCS / "MOBILE.md", "zh": DOCS / "MOBILE.zh-CN.md"}
SWITCH = {"en": "English · [简体中文](MOBILE.zh-CN.md)", "zh": "[English](MOBILE.md) · 简体中文"}
MARK = "<!-- tested: tests/test_guide_mobile.py -->"
GUIDE_NAMES = ("QUICKSTART", "AUTHENTICATION", "SUBMISSIONS", "ZHENGZHOU", "MOBILE", "SCORING", "ERRORS",
               "VERSIONING", "OPERATIONS")
NODE = shutil.which("node") or "/usr/bin/node"
TOKEN_LINE = re.compile(r"^zwc_[A-Za-z0-9_-]{43}$", re.M)
# The guide's photo, IMG_0412.png: a real 1×1 PNG of 69 bytes (SHA-256 552fa54f…).
PHOTO = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c49444154789c63d0ab3502"
                      "0001ba00dec48abf880000000049454e44ae426082")
INSPECTION = {"inspected_at": "2026-12-02T10:30:00+08:00", "inspector": "赵巡查",
              "findings": "分类桶满溢，已要求当日清运", "score": 85.5, "latitude": 34.5391, "longitude": 113.3902}


# ------------------------------------------------------------------------------------------ the guide's blocks


@dataclass(frozen=True)
class Block:
    info: str  # the fence's language: sh, js, json, http, text
    text: str
    tested: bool


FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
COMMENT = {"js": re.compile(r"(^|\s)//.*$", re.M), "sh": re.compile(r"(^|\s)#.*$", re.M)}


def blocks(language: str) -> list[Block]:
    text = GUIDES[language].read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        line_before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        found.append(Block(match.group(1), match.group(2), line_before.strip() == MARK))
    return found


def code_of(block: Block) -> str:
    """The block without its comments (which the Chinese guide translates)."""
    pattern = COMMENT.get(block.info)
    text = pattern.sub("", block.text) if pattern else block.text
    return "\n".join(line.rstrip() for line in text.split("\n"))


def shown_answer(language: str, marker: str) -> str:
    """The one answer block (shown without its command) that contains ``marker``."""
    (block,) = [b for b in blocks(language) if b.info == "http" and marker in b.text and not b.tested]
    return block.text


def table_rows(language: str, first_cell: re.Pattern[str]) -> list[list[str]]:
    """The cells of every Markdown table row whose first cell matches ``first_cell``."""
    rows = []
    for line in GUIDES[language].read_text(encoding="utf-8").splitlines():
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if first_cell.fullmatch(cells[0]):
                rows.append(cells)
    return rows


# ------------------------------------------------------------------------------------------ answers as shown


def normalise(text: str) -> list[str]:
    """Lines, with what differs from run to run masked: ids and request ids (32 hex), server time stamps."""
    text = text.replace("\r\n", "\n").strip("\n")
    text = re.sub(r"\b[0-9a-f]{32}\b", "<hex32>", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "<time>", text)
    return text.split("\n")


def _line_matches(pattern: str, line: str) -> bool:
    return re.fullmatch(".*?".join(re.escape(piece) for piece in pattern.split("…")), line, re.S) is not None


def assert_answers_as_shown(shown: str, actual: str, what: str) -> None:
    """Every shown line is the next actual line; `…` within a line stands for any text, and a line that is
    only `…` for any number of lines (the guide's trimming)."""
    expected, got = normalise(shown), normalise(actual)
    message = f"{what}\n--- shown:\n{shown}\n--- actual:\n{actual}"
    position, skipping = 0, False
    for line in expected:
        if line == "…":
            skipping = True
            continue
        while position < len(got) and not _line_matches(line, got[position]):
            assert skipping, f"line {line!r} does not match {got[position]!r}\n{message}"
            position += 1
        assert position < len(got), f"line {line!r} not found\n{message}"
        position, skipping = position + 1, False
    assert skipping or position == len(got), f"unshown lines after the last shown one\n{message}"


def as_curl_shows(response: httpx.Response) -> str:
    """An answer as `curl -i` prints it."""
    head = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}"]
    head += [f"{name}: {value}" for name, value in response.headers.multi_items()]
    return "\n".join(head) + "\n\n" + response.text


# ------------------------------------------------------------------------------------------ a real service


@dataclass
class Service:
    base: str
    admin: str
    workdir: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def mint(self, department: str, name: str, scopes: list[str]) -> str:
        minted = httpx.post(f"{self.base}/v1/departments/{department}/tokens", json={"name": name, "scopes": scopes},
                            headers=bearer(self.admin), timeout=10)
        assert minted.status_code == 201, minted.text
        return str(minted.json()["token"])

    def shell(self, command: str, **env: str) -> str:
        environment = {"PATH": os.environ["PATH"], "HOME": str(self.workdir), "API": self.base, **self.tokens, **env}
        result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", command], cwd=self.workdir, env=environment,
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        return result.stdout


@pytest.fixture
def service(empty_database_url: str, tmp_path: Path) -> Iterator[Service]:
    """`zwc serve` on an empty database (SQLite and PostgreSQL), as the guide's reader starts it, with the
    field app's token ($TOKEN, jyj, cells:write) and a reporting one ($REPORT_TOKEN, cgj), minted over HTTP,
    and a working directory holding the guide's files."""
    env = {**os.environ, "ZWC_DATABASE_URL": empty_database_url, "ZWC_FILES_DIR": str(tmp_path / "files"),
           "ZWC_LOG_LEVEL": "WARNING"}
    log = tmp_path / "serve.log"
    process, base = start_serve(env, "--no-worker", stdout=log)
    try:
        (admin,) = TOKEN_LINE.findall(log.read_text())
        workdir = tmp_path / "app"
        workdir.mkdir()
        (workdir / "IMG_0412.png").write_bytes(PHOTO)
        (workdir / "notes.txt").write_text("巡查笔记：明天复查\n", encoding="utf-8")
        with (workdir / "site-video.mp4").open("wb") as video:
            video.truncate(22_000_000)  # over the 20 MiB limit
        running = Service(base, admin, workdir)
        running.tokens["TOKEN"] = running.mint("jyj", "教育局巡查 App", ["cells:write"])
        running.tokens["REPORT_TOKEN"] = running.mint("cgj", "城管局填报 App", ["submissions:write"])
        yield running
    finally:
        process.terminate()
        process.wait(timeout=20)


def write_scripts(language: str, workdir: Path) -> None:
    """outbox.mjs and sync.mjs, as the guide in ``language`` gives them."""
    for block in blocks(language):
        if block.info == "js":
            name = re.match(r"// (\S+\.mjs) ", block.text)
            assert name is not None, block.text[:80]
            (workdir / name.group(1)).write_text(block.text, encoding="utf-8")


def run_walkthrough(service: Service, language: str) -> list[tuple[str, str, str]]:
    """Run the guide's tested blocks in order: (command, shown answer, actual answer) for each command."""
    found = blocks(language)
    ran = []
    guide_photo = real_photo = None
    for index, block in enumerate(found):
        if not block.tested:
            continue
        if block.info == "js":
            write_scripts(language, service.workdir)
            continue
        assert block.info == "sh", block.text
        shown = found[index + 1]
        assert not shown.tested, shown.text
        assert shown.info in ("json", "http", "text"), shown.text
        command = block.text if guide_photo is None else block.text.replace(guide_photo, real_photo or "")
        actual = service.shell(command)
        ran.append((command, shown.text, actual))
        if guide_photo is None and "/v1/files" in command and "Idempotency-Key" in command:
            guide_photo, real_photo = json.loads(shown.text)["id"], json.loads(actual)["id"]
    return ran


# ------------------------------------------------------------------------------------------ the two languages


def test_both_languages_have_the_same_sections_and_the_same_code() -> None:
    texts = {language: path.read_text(encoding="utf-8") for language, path in GUIDES.items()}
    for language, guide in texts.items():
        assert guide.split("\n")[2] == SWITCH[language]  # the line after the title
    # The same headings, level for level, numbered alike.
    headings = {language: [(level, re.match(r"[\d.]*", title).group())  # type: ignore[union-attr]
                           for level, title in re.findall(r"^(#+) (.*)$", FENCE.sub("", guide), re.M)]
                for language, guide in texts.items()}
    assert headings["en"] == headings["zh"]
    assert len(headings["en"]) >= 20
    english, chinese = blocks("en"), blocks("zh")
    assert [(b.info, b.tested, code_of(b)) for b in english] == [(b.info, b.tested, code_of(b)) for b in chinese]
    # Everything executable is run here.
    assert all(b.tested for b in english if b.info in ("sh", "js", "python"))
    assert sum(b.tested for b in english) >= 20


@pytest.mark.parametrize("language", ["en", "zh"])
def test_links_lead_to_guides_and_to_headings_that_exist(language: str) -> None:
    text = GUIDES[language].read_text(encoding="utf-8")
    prose = FENCE.sub("", text)
    slugs = {re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
             for title in re.findall(r"^#+ (.*)$", prose, re.M)}
    links = re.findall(r"\]\(([^)]+)\)", prose)
    assert links
    for link in links:
        page, _, anchor = link.partition("#")
        if page:
            assert re.fullmatch(rf"({'|'.join(GUIDE_NAMES)})(\.zh-CN)?\.md", page), link
            if language == "zh" and page != "MOBILE.md":
                assert page.endswith(".zh-CN.md") or page in ("ERRORS.md", "VERSIONING.md", "OPERATIONS.md"), link
        else:
            assert anchor in slugs, (link, sorted(slugs))


# ------------------------------------------------------------------------------------------ the walkthrough


def test_every_command_answers_as_the_guide_shows(service: Service) -> None:
    ran = run_walkthrough(service, "en")
    assert len(ran) >= 18
    for command, shown, actual in ran:
        assert_answers_as_shown(shown, actual, command)


# ------------------------------------------------------------------------------------------ the offline queue


class FlakyProxy:
    """An HTTP proxy in front of the service. For the n-th request to a method and path, ``plan`` says
    `pass`, `lose` (forward it, let the service do it, then close the connection without an answer) or
    `unavailable` (answer 503 with Retry-After: 1 without forwarding it)."""

    HOP: ClassVar[set[str]] = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "date",
                               "server"}

    def __init__(self, upstream: str, plan: Callable[[str, str, int], str]) -> None:
        self.seen: list[dict[str, Any]] = []
        lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.handle_any()

            def do_POST(self) -> None:
                self.handle_any()

            def _body(self) -> bytes:
                if self.headers.get("Content-Length") is not None:
                    return self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    return b""
                body = b""
                while size := int(self.rfile.readline().split(b";")[0].strip(), 16):
                    body += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
                return body

            def handle_any(self) -> None:
                body = self._body()
                path = self.path.split("?")[0]
                seen: dict[str, Any] = {"method": self.command, "path": path, "body": body,
                                        "key": self.headers.get("Idempotency-Key")}
                with lock:
                    proxy.seen.append(seen)
                    count = sum(1 for s in proxy.seen if (s["method"], s["path"]) == (self.command, path))
                action = plan(self.command, path, count)
                seen["action"] = action
                if action == "unavailable":
                    problem = json.dumps({"type": "urn:zwc:problem:database_unavailable", "status": 503,
                                          "code": "database_unavailable"}).encode()
                    self.send_response(503)
                    self.send_header("Content-Type", "application/problem+json")
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", str(len(problem)))
                    self.end_headers()
                    self.wfile.write(problem)
                    return
                headers = {name: value for name, value in self.headers.items() if name.lower() not in FlakyProxy.HOP}
                answer = httpx.request(self.command, upstream + self.path, headers=headers, content=body, timeout=30)
                seen["status"], seen["replayed"] = answer.status_code, answer.headers.get("Idempotent-Replayed")
                if action == "lose":
                    self.close_connection = True
                    return
                self.send_response(answer.status_code)
                for name, value in answer.headers.multi_items():
                    if name.lower() not in FlakyProxy.HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def requests(self, method: str, path: str) -> list[dict[str, Any]]:
        return [s for s in self.seen if (s["method"], s["path"]) == (method, path)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def queue_commands(language: str) -> list[str]:
    """The guide's two commands: queue an inspection (`… node sync.mjs save`), then sync (`node sync.mjs`)."""
    (block,) = [b for b in blocks(language) if b.info == "sh" and "node sync.mjs" in b.text]
    lines = [line for line in code_of(block).split("\n") if line.strip()]
    assert len(lines) == 2, lines
    assert lines[0].endswith("node sync.mjs save"), lines
    assert lines[1] == "node sync.mjs", lines
    return lines


def database(url: str, statement: str) -> list[tuple[Any, ...]]:
    """Rows of a statement run (and committed) against the service's database."""
    engine = create_sync_engine(url)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(statement))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def test_lost_answers_and_a_503_still_store_one_inspection_and_one_photo(
        service: Service, empty_database_url: str) -> None:
    """The guide's scenario: the first answer to the photo upload is lost, the first answer to the inspection
    is lost (the service stored it), the second attempt meets a 503; the third is answered with the replay."""
    cell = httpx.post(f"{service.base}/v1/cells", json={"type": "school", "name": "新密市实验小学",
                                                        "town": "qingpingjie"},
                      headers=bearer(service.tokens["TOKEN"]), timeout=10).json()
    inspections = f"/v1/cells/{cell['id']}/inspections"

    def plan(method: str, path: str, n: int) -> str:
        if (method, path, n) in (("POST", "/v1/files", 1), ("POST", inspections, 1)):
            return "lose"
        return "unavailable" if (method, path, n) == ("POST", inspections, 2) else "pass"

    proxy = FlakyProxy(service.base, plan)
    try:
        write_scripts("en", service.workdir)
        save, sync = queue_commands("en")
        assert service.shell(save.replace("CELL=4", f"CELL={cell['id']}"), API=proxy.url) == ""
        assert service.shell(sync, API=proxy.url) == "inspection 1 stored\n", proxy.seen
    finally:
        proxy.close()

    uploads, posts = proxy.requests("POST", "/v1/files"), proxy.requests("POST", inspections)
    assert [(u["action"], u["status"], u["replayed"]) for u in uploads] == [("lose", 201, None), ("pass", 201, "true")]
    assert [(p["action"], p.get("status"), p.get("replayed")) for p in posts] == [
        ("lose", 201, None), ("unavailable", None, None), ("pass", 201, "true")]
    assert len({u["key"] for u in uploads}) == len({p["key"] for p in posts}) == 1
    assert uploads[0]["key"] != posts[0]["key"]
    assert len({p["body"] for p in posts}) == 1  # the stored text, byte for byte
    rows = database(empty_database_url, "SELECT id, photos FROM cell_inspections")
    assert len(rows) == 1
    (file_id,) = [row[0] for row in database(empty_database_url, "SELECT id FROM files")]
    photos = rows[0][1] if isinstance(rows[0][1], list) else json.loads(rows[0][1])
    assert photos == [file_id]
    assert database(empty_database_url, "SELECT state, response_status FROM idempotency_keys") == [
        ("done", 201), ("done", 201)]
    (job,) = json.loads((service.workdir / "outbox.json").read_text(encoding="utf-8"))
    assert (job["result"]["id"], job["result"]["photos"], job["photos"][0]["fileId"]) == (rows[0][0], [file_id],
                                                                                          file_id)


def test_a_job_whose_key_has_expired_is_looked_up_not_posted_twice(
        service: Service, empty_database_url: str) -> None:
    """The Chinese guide's code this time. Every answer to the inspection is lost until the attempts run out
    (the first attempt stored it); a day later, its key forgotten, the next sync finds it instead of posting."""
    cell = httpx.post(f"{service.base}/v1/cells", json={"type": "school", "name": "新密市实验小学",
                                                        "town": "qingpingjie"},
                      headers=bearer(service.tokens["TOKEN"]), timeout=10).json()
    inspections = f"/v1/cells/{cell['id']}/inspections"
    network = {"losing": True}
    proxy = FlakyProxy(service.base, lambda method, path, _n: "lose" if network["losing"] and (method, path) == (
        "POST", inspections) else "pass")
    try:
        write_scripts("zh", service.workdir)
        save, sync = queue_commands("zh")
        service.shell(save.replace("CELL=4", f"CELL={cell['id']}"), API=proxy.url)
        assert service.shell(sync, API=proxy.url) == "no answer: the job stays queued for the next sync\n"
        posts = proxy.requests("POST", inspections)
        assert [p["action"] for p in posts] == ["lose"] * 4
        assert [p["replayed"] for p in posts] == [None, "true", "true", "true"]
        assert len(database(empty_database_url, "SELECT id FROM cell_inspections")) == 1
        queue_file = service.workdir / "outbox.json"
        (job,) = json.loads(queue_file.read_text(encoding="utf-8"))
        assert job["result"] is None
        assert job["firstSentAt"] is not None

        # A day passes: the job's first attempt is 25 hours old, and so is the service's record of its key.
        job["firstSentAt"] = (datetime.now(UTC) - timedelta(hours=25)).isoformat().replace("+00:00", "Z")
        queue_file.write_text(json.dumps([job]), encoding="utf-8")
        shift = ("created_at = created_at - interval '25 hours', expires_at = expires_at - interval '25 hours'"
                 if empty_database_url.startswith("postgresql") else
                 "created_at = datetime(created_at, '-25 hours'), expires_at = datetime(expires_at, '-25 hours')")
        database(empty_database_url, f"UPDATE idempotency_keys SET {shift}")
        proxy.seen.clear()
        network["losing"] = False  # and the network is good again
        assert service.shell(sync, API=proxy.url) == "inspection 1 stored\n"
        assert proxy.requests("POST", inspections) == []
        assert [s["method"] for s in proxy.requests("GET", inspections)] == ["GET"]
    finally:
        proxy.close()
    (stored,) = database(empty_database_url, "SELECT id FROM cell_inspections")
    (job,) = json.loads(queue_file.read_text(encoding="utf-8"))
    assert job["result"]["id"] == stored[0]

    # What the lookup avoided: past its 24 hours, the same key and body are a new request.
    again = httpx.post(f"{service.base}{inspections}", content=job["body"].encode(), timeout=10,
                       headers=bearer(service.tokens["TOKEN"], **{"Idempotency-Key": job["key"],
                                                                  "Content-Type": "application/json"}))
    assert again.status_code == 201, again.text
    assert "Idempotent-Replayed" not in again.headers
    assert len(database(empty_database_url, "SELECT id FROM cell_inspections")) == 2


# ------------------------------------------------------------------------------------------ the guide's claims


def test_the_requests_that_take_a_key_are_those_the_guide_lists(app: Any) -> None:
    keyed = sorted(
        (operation["operationId"], f"{method.upper()} {path}")
        for path, operations in app.openapi()["paths"].items()
        for method, operation in operations.items()
        if any(p["in"] == "header" and p["name"].lower() == "idempotency-key" for p in operation.get("parameters", []))
    )
    request = re.compile(r"`(POST|PUT|PATCH|GET|DELETE) /\S+`")
    for language in GUIDES:
        rows = table_rows(language, re.compile(r"`[a-z][A-Za-z]+`"))
        listed = sorted((op.strip("`"), cells[0].strip("`")) for op, *cells in rows if request.fullmatch(cells[0]))
        assert listed == keyed


async def test_the_cell_type_table_is_the_catalogue_and_the_towns_come_from_the_api(
        app: Any, client: httpx.AsyncClient) -> None:
    towns = {row[0] for row in await sql(app, "SELECT code FROM towns")}
    departments = dict(tuple(row) for row in await sql(app, "SELECT code, name_zh FROM departments"))
    token = await make_token(app, "jyj", ["cells:write"])
    types = (await client.get("/v1/cell-types?limit=500", headers=bearer(token))).json()["items"]
    listed = (await client.get("/v1/towns?limit=500", headers=bearer(token))).json()
    assert (len(listed["items"]), listed["next_cursor"]) == (18, None)
    assert {town["code"] for town in listed["items"]} == towns
    for language in GUIDES:
        rows = table_rows(language, re.compile(r"`[a-z]+`"))
        # No copy of the towns to go stale: the app reads them from the service (the walkthrough runs the call).
        assert [row for row in rows if {cell.strip("`") for cell in row} & towns] == []
        assert [b for b in blocks(language) if b.tested and "/v1/towns?limit=500" in b.text]
        listed_types = {row[0].strip("`"): (row[1], *row[2].split(" ", 1)) for row in rows
                        if len(row) == 3 and row[2].startswith("`")}
        assert sorted(listed_types) == sorted(t["code"] for t in types)
        for cell_type in types:
            name_zh, department, department_name = listed_types[cell_type["code"]]
            assert (name_zh, department.strip("`")) == (cell_type["name_zh"], cell_type["responsible_department"])
            assert departments[cell_type["responsible_department"]] == "新密市" + department_name


async def test_a_retry_must_send_the_same_bytes_to_the_same_path(app: Any, client: httpx.AsyncClient) -> None:
    token = await make_token(app, "jyj", ["cells:write"])
    cell, other = await applied(client, token), await applied(client, token, name="另一所学校")
    url = f"/v1/cells/{cell['id']}/inspections"
    headers = bearer(token, **{"Idempotency-Key": "7c1d2e3f", "Content-Type": "application/json"})
    text = json.dumps(INSPECTION, ensure_ascii=False)
    first = await client.post(url, content=text.encode(), headers=headers)
    assert first.status_code == 201, first.text
    # The same object, serialised with other spacing, or its keys in another order: another request.
    for variant in (json.dumps(INSPECTION, ensure_ascii=False, indent=2),
                    json.dumps(dict(reversed(list(INSPECTION.items()))), ensure_ascii=False)):
        assert_problem(await client.post(url, content=variant.encode(), headers=headers), 422, "idempotency_key_reused")
    # The same bytes for another cell: another request too.
    assert_problem(await client.post(f"/v1/cells/{other['id']}/inspections", content=text.encode(), headers=headers),
                   422, "idempotency_key_reused")
    again = await client.post(url, content=text.encode(), headers=headers)
    assert (again.status_code, again.headers["Idempotent-Replayed"], again.headers["Location"]) == (
        201, "true", f"{url}/{first.json()['id']}")
    assert again.json() == first.json()
    assert (await sql(app, "SELECT COUNT(*) FROM cell_inspections"))[0][0] == 1


async def test_a_refused_request_leaves_its_key_unused(app: Any, client: httpx.AsyncClient) -> None:
    token = await make_token(app, "jyj", ["cells:write"])
    cell = await applied(client, token)
    url = f"/v1/cells/{cell['id']}/inspections"
    headers = bearer(token, **{"Idempotency-Key": "form-3"})
    assert_problem(await client.post(url, json={**INSPECTION, "latitude": 134.5}, headers=headers), 422,
                   "validation_failed")
    refused = assert_problem(await client.post(url, json={**INSPECTION, "photos": ["0" * 32]}, headers=headers), 422,
                             "validation_failed")
    assert [(e["loc"], e["type"]) for e in refused["errors"]] == [(["photos", 0], "unknown_file")]
    assert await sql(app, "SELECT key FROM idempotency_keys") == []
    fixed = await client.post(url, json=INSPECTION, headers=headers)
    assert fixed.status_code == 201, fixed.text
    assert "Idempotent-Replayed" not in fixed.headers
    assert (await client.post(url, json=INSPECTION, headers=headers)).headers["Idempotent-Replayed"] == "true"
    assert (await sql(app, "SELECT COUNT(*) FROM cell_inspections"))[0][0] == 1


async def test_a_key_belongs_to_its_token(app: Any, client: httpx.AsyncClient) -> None:
    """Another device's token (or a new token after the old one expired) with the same key and body: a
    second inspection, which is why the guide says to drain the queue before switching tokens."""
    phone, new_token = await make_token(app, "jyj", ["cells:write"]), await make_token(app, "jyj", ["cells:write"])
    cell = await applied(client, phone)
    url = f"/v1/cells/{cell['id']}/inspections"
    first = await client.post(url, json=INSPECTION, headers=bearer(phone, **{"Idempotency-Key": "job-1"}))
    second = await client.post(url, json=INSPECTION, headers=bearer(new_token, **{"Idempotency-Key": "job-1"}))
    assert (first.status_code, second.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in second.headers
    assert second.json()["id"] != first.json()["id"]
    assert (await sql(app, "SELECT COUNT(*) FROM cell_inspections"))[0][0] == 2


async def test_a_retried_upload_is_the_same_file_unless_its_name_changed(app: Any, client: httpx.AsyncClient) -> None:
    token = await make_token(app, "jyj", ["cells:write"])
    headers = bearer(token, **{"Idempotency-Key": "photo-1"})

    async def send(name: str) -> httpx.Response:  # httpx draws a new multipart boundary for each request
        return await client.post("/v1/files", files={"file": (name, PHOTO, "image/jpeg")}, headers=headers)

    first, again = await send("IMG_0412.png"), await send("IMG_0412.png")
    assert (first.status_code, again.status_code, again.headers["Idempotent-Replayed"]) == (201, 201, "true")
    assert again.json() == first.json()
    assert first.json()["media_type"] == "image/png"  # from the content, not the declared type
    assert_problem(await send("IMG_0413.png"), 422, "idempotency_key_reused")
    assert (await sql(app, "SELECT COUNT(*) FROM files"))[0][0] == 1


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite makes the second request wait for the one writer
async def test_a_request_still_running_answers_409_with_retry_after(app: Any, client: httpx.AsyncClient,
                                                                   backend: str) -> None:
    """On PostgreSQL, while a request holds its key (an advisory lock for its transaction), the same key
    answers 409 at once, as the guide shows; afterwards the retry is carried out. (On SQLite the second
    request waits for the one writer instead, decision 0009.)"""
    token = await make_token(app, "jyj", ["cells:write"])
    token_id = (await client.get("/v1/me", headers=bearer(token))).json()["token_id"]
    cell = await applied(client, token)
    assert cell["id"] == 4  # the three planned cells come first, as in the guide
    url, key = f"/v1/cells/{cell['id']}/inspections", "7c1d2e3f-4a5b-4c6d-8e9f-a0b1c2d3e4f5"
    headers = bearer(token, **{"Idempotency-Key": key})
    async with app.state.database.engine.connect() as first_request:
        await first_request.begin()
        await first_request.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _lock_key(token_id, key)})
        busy = await client.post(url, json=INSPECTION, headers=headers)
        assert_problem(busy, 409, "idempotency_key_in_progress")
        assert busy.headers["Retry-After"] == "1"
        assert_answers_as_shown(shown_answer("en", "idempotency_key_in_progress"), as_curl_shows(busy), "409")
        await first_request.rollback()
    retried = await client.post(url, json=INSPECTION, headers=headers)
    assert retried.status_code == 201, retried.text
    assert (await sql(app, "SELECT COUNT(*) FROM cell_inspections"))[0][0] == 1


async def test_the_rate_limit_answers_as_shown(app: Any, settings: Any) -> None:
    async with serving(settings, rate_limit="3/minute") as (limited, http):
        token = await make_token(limited, "jyj", ["cells:write"])
        cell = await applied(http, token)
        url = f"/v1/cells/{cell['id']}/inspections"
        assert [(await http.get(url, headers=bearer(token))).status_code for _ in range(2)] == [200, 200]
        over = await http.get(url, headers=bearer(token))  # the fourth request of the minute (applying was one)
        assert_problem(over, 429, "rate_limited")
        seconds = over.headers["Retry-After"]
        assert 55 <= int(seconds) <= 60
        shown = shown_answer("en", "rate_limited").replace("retry-after: 60", f"retry-after: {seconds}")
        assert_answers_as_shown(shown.replace("after 60 seconds", f"after {seconds} seconds"), as_curl_shows(over),
                                "429")


async def test_files_and_the_aggregates_answer_304(app: Any, client: httpx.AsyncClient) -> None:
    token = await make_token(app, "jyj", ["cells:write"])
    zz = await make_token(app, "zzwf", ["aggregates:read"])
    photo = (await client.post("/v1/files", files={"file": ("IMG_0412.png", PHOTO, "image/png")},
                               headers=bearer(token))).json()
    cell = await applied(client, token, evidence=[photo["id"]])
    url = f"/v1/cells/{cell['id']}"
    first = await client.get(url, headers=bearer(token))
    again = await client.get(url, headers=bearer(token, **{"If-None-Match": first.headers["ETag"]}))
    assert (again.status_code, again.content) == (200, first.content)
    photo_url = f"/v1/files/{photo['id']}"
    downloaded = await client.get(photo_url, headers=bearer(token))
    assert (downloaded.status_code, downloaded.headers["ETag"]) == (
        200, '"552fa54fd23f1a4750e7e9ba2db9d266c0458189f913235ec9f82937697d6d37"')
    revalidated = await client.get(photo_url, headers=bearer(token, **{"If-None-Match": downloaded.headers["ETag"]}))
    assert (revalidated.status_code, revalidated.content, revalidated.headers["ETag"]) == (
        304, b"", downloaded.headers["ETag"])
    pulled = await client.get("/v1/aggregates?period=2025", headers=bearer(zz))
    conditional = await client.get("/v1/aggregates?period=2025",
                                   headers=bearer(zz, **{"If-None-Match": pulled.headers["ETag"]}))
    assert conditional.status_code == 304


async def test_time_stamps_need_an_offset_and_come_back_in_utc(app: Any, client: httpx.AsyncClient) -> None:
    token = await make_token(app, "jyj", ["cells:write"])
    cell = await applied(client, token)
    url = f"/v1/cells/{cell['id']}/inspections"
    naive = assert_problem(await client.post(url, json={**INSPECTION, "inspected_at": "2026-12-02T10:30:00"},
                                             headers=bearer(token)), 422, "validation_failed")
    assert [(e["loc"], e["type"]) for e in naive["errors"]] == [(["inspected_at"], "timezone_aware")]
    stored = await client.post(url, json=INSPECTION, headers=bearer(token))
    assert stored.json()["inspected_at"] == "2026-12-02T02:30:00Z"
    assert stored.json()["created_at"].endswith("Z")
