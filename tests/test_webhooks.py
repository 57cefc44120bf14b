"""Webhooks: subscriptions over HTTP (creation, validation, address checks, authorization, deletion) and
delivery from the outbox to real HTTP receivers (signatures, subscriptions, back-off, giving up, leases
under concurrency, unreachable receivers, the in-process worker).

Events are made through the API: `cell.applied` by applying for a school (jyj, the school type's
department); `submission.submitted` / `submission.approved` by cgj submitting 2.3.01 and the lead office
approving it. Delivery passes are run by calling `run_once` directly (the test app runs no lifespan).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import time_machine
from asgi_lifespan import LifespanManager

from app.core.config import Settings
from app.core.db import Database
from app.events.exposure import public_data
from app.events.models import OutboxEvent
from app.main import create_app
from app.webhooks import addresses
from app.webhooks.delivery import fan_out, retry_delay, run_forever, run_once
from tests.factories import assert_problem, bearer, make_token, sql, sql_write
from tests.test_cells import school
from tests.test_submissions import acted, create

SECRET_SHAPE = re.compile(r"^whsec_[A-Za-z0-9_-]{43}$")
ALL_EVENTS = ["submission.submitted", "submission.approved", "submission.returned", "submission.reopened",
              "indicator.revised", "cell.applied", "cell.evaluated", "cell.certified", "cell.revoked",
              "cell.expired", "cell.inspected"]


# ------------------------------------------------------------------------------------- receivers


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


class Receiver:
    """A real HTTP server on 127.0.0.1 that records every request; the first ``fail_first`` answer 500."""

    def __init__(self, *, fail_first: int = 0, ok_status: int = 204, delay: float = 0.0) -> None:
        self.requests: list[Received] = []
        self.fail_first = fail_first
        self.ok_status = ok_status
        self.delay = delay
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.requests.append(Received("POST", self.path, dict(self.headers.items()), body))
                    count = len(receiver.requests)
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = 500 if count <= receiver.fail_first else receiver.ok_status
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/zwc"

    def received(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def flaky() -> Iterator[Receiver]:
    server = Receiver(fail_first=2, ok_status=200)
    yield server
    server.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------------------- helpers


@pytest.fixture
async def zzwf(app: Any) -> str:
    return await make_token(app, "zzwf", ["aggregates:read"], name="zhengzhou platform")


@pytest.fixture
async def sthj(app: Any) -> str:
    return await make_token(app, "sthj", ["aggregates:read"], name="sthj reader")


@pytest.fixture
async def admin(app: Any) -> str:
    return await make_token(app, "lead", ["admin"], name="lead admin")


@pytest.fixture
async def jyj(app: Any) -> str:
    return await make_token(app, "jyj", ["cells:write"], name="education bureau")


async def subscribe(client: httpx.AsyncClient, token: str, url: str, events: list[str], **extra: Any) -> dict[str, Any]:
    response = await client.post("/v1/webhooks", json={"url": url, "events": events, **extra},
                                 headers=bearer(token))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def apply_for_school(client: httpx.AsyncClient, jyj: str, name: str) -> int:
    response = await client.post("/v1/cells", json=school(name=name), headers=bearer(jyj))
    assert response.status_code == 201, response.text
    cell_id: int = response.json()["id"]
    return cell_id


async def event_id_of(app: Any, event: str, entity_id: int) -> int:
    rows = await sql(app, "SELECT id FROM outbox_events WHERE event = :event AND entity_id = :entity_id",
                     event=event, entity_id=str(entity_id))
    assert len(rows) == 1
    return int(rows[0][0])


async def delivery_rows(app: Any, webhook_id: int) -> list[tuple[Any, ...]]:
    rows = await sql(app, "SELECT event_id, status, attempts, last_status_code, last_error FROM webhook_deliveries "
                          "WHERE webhook_id = :id ORDER BY event_id", id=webhook_id)
    return [tuple(row) for row in rows]


async def attempt_rows(app: Any, webhook_id: int) -> list[tuple[Any, ...]]:
    rows = await sql(app, "SELECT d.event_id, a.attempt, a.status_code, a.error FROM webhook_attempts a "
                          "JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.webhook_id = :id "
                          "ORDER BY d.event_id, a.attempt", id=webhook_id)
    return [tuple(row) for row in rows]


async def deliveries(client: httpx.AsyncClient, token: str, webhook_id: int, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=bearer(token), params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def at(value: Any) -> datetime:
    """A timestamp read back from either database, as an aware UTC datetime."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        await asyncio.sleep(0.05)


def with_(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update=changes)


def verify_signature(secret: str, headers: dict[str, str], body: bytes) -> int:
    """Check X-ZWC-Signature the way a receiver would; answers its timestamp."""
    match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", headers["X-ZWC-Signature"])
    assert match is not None, headers["X-ZWC-Signature"]
    timestamp = match.group(1)
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, match.group(2))
    return int(timestamp)


# -------------------------------------------------------------------------------------- creation


async def test_create_answers_201_with_location_and_a_generated_secret_shown_once(
        app: Any, client: httpx.AsyncClient, zzwf: str) -> None:
    response = await client.post("/v1/webhooks", headers=bearer(zzwf), json={
        "url": "https://zzwf.example.cn/hooks/xinmi", "events": ["submission.approved", "cell.certified"]})
    assert response.status_code == 201, response.text
    body = response.json()
    token_id = (await client.get("/v1/me", headers=bearer(zzwf))).json()["token_id"]
    assert response.headers["Location"] == f"/v1/webhooks/{body['id']}"
    assert SECRET_SHAPE.match(body["secret"])
    # The template database holds no outbox events: the subscription starts after id 0.
    assert {k: v for k, v in body.items() if k not in ("secret", "created_at")} == {
        "id": body["id"], "url": "https://zzwf.example.cn/hooks/xinmi",
        "events": ["submission.approved", "cell.certified"], "department": "zzwf", "token_id": token_id,
        "after_event_id": 0}
    rows = await sql(app, "SELECT url, events, secret, department, token_id, after_event_id, deleted_at "
                          "FROM webhooks")
    assert len(rows) == 1
    url, events, secret, department, stored_token, after_event_id, deleted_at = rows[0]
    assert (url, department, stored_token, after_event_id, deleted_at) == (
        "https://zzwf.example.cn/hooks/xinmi", "zzwf", token_id, 0, None)
    assert (json.loads(events) if isinstance(events, str) else events) == ["submission.approved", "cell.certified"]
    assert secret == body["secret"]

    # Reads never show the secret.
    shown = (await client.get(f"/v1/webhooks/{body['id']}", headers=bearer(zzwf))).json()
    assert shown == {k: v for k, v in body.items() if k != "secret"}
    listed = (await client.get("/v1/webhooks", headers=bearer(zzwf))).json()
    assert listed == {"items": [shown], "next_cursor": None}
    assert body["secret"] not in (await client.get("/v1/webhooks", headers=bearer(zzwf))).text

    audit = await sql(app, "SELECT action, department, token_id, after FROM audit_events WHERE entity = 'webhook'")
    assert len(audit) == 1
    assert audit[0][:3] == ("webhook.created", "zzwf", token_id)
    after = json.loads(audit[0][3]) if isinstance(audit[0][3], str) else audit[0][3]
    assert "secret" not in after
    assert after["url"] == "https://zzwf.example.cn/hooks/xinmi"


async def test_a_given_secret_is_kept_and_the_scheme_is_stored_in_lower_case(
        app: Any, client: httpx.AsyncClient, admin: str) -> None:
    body = await subscribe(client, admin, "HTTPS://Hooks.Example.com/Path?q=1", ["cell.applied"],
                           secret="sixteen-chars-ok")
    assert body["secret"] == "sixteen-chars-ok"
    assert body["url"] == "https://Hooks.Example.com/Path?q=1"
    assert body["department"] == "lead"
    assert await sql(app, "SELECT secret FROM webhooks") == [("sixteen-chars-ok",)]


async def test_the_subscription_starts_after_the_last_event(app: Any, client: httpx.AsyncClient, zzwf: str,
                                                            jyj: str) -> None:
    first = await apply_for_school(client, jyj, "一中")
    second = await apply_for_school(client, jyj, "二中")
    body = await subscribe(client, zzwf, "https://example.com/h", ["cell.applied"])
    assert body["after_event_id"] == await event_id_of(app, "cell.applied", second)
    assert body["after_event_id"] == await event_id_of(app, "cell.applied", first) + 1


async def test_idempotency_key_replays_the_creation(app: Any, client: httpx.AsyncClient, zzwf: str) -> None:
    payload = {"url": "https://example.com/h", "events": ["cell.applied"]}
    headers = bearer(zzwf, **{"Idempotency-Key": "webhook-1"})
    first = await client.post("/v1/webhooks", json=payload, headers=headers)
    again = await client.post("/v1/webhooks", json=payload, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await sql(app, "SELECT COUNT(*) FROM webhooks") == [(1,)]
    other = await client.post("/v1/webhooks", json={**payload, "events": ["cell.revoked"]}, headers=headers)
    assert_problem(other, 422, "idempotency_key_reused")


async def test_list_pages_with_a_cursor(client: httpx.AsyncClient, zzwf: str) -> None:
    ids = [(await subscribe(client, zzwf, f"https://example.com/{n}", ["cell.applied"]))["id"] for n in range(3)]
    first = (await client.get("/v1/webhooks", params={"limit": 2}, headers=bearer(zzwf))).json()
    assert [w["id"] for w in first["items"]] == ids[:2]
    assert first["next_cursor"] is not None
    second = (await client.get("/v1/webhooks", params={"limit": 2, "cursor": first["next_cursor"]},
                               headers=bearer(zzwf))).json()
    assert [w["id"] for w in second["items"]] == ids[2:]
    assert second["next_cursor"] is None


# ------------------------------------------------------------------------------------ validation


def issues(response: httpx.Response) -> list[tuple[list[Any], str]]:
    body = assert_problem(response, 422, "validation_failed")
    return [(error["loc"], error["type"]) for error in body["errors"]]


# (payload, expected (loc, type) issues)
INVALID_SUBSCRIPTIONS: list[tuple[dict[str, Any], list[tuple[list[Any], str]]]] = [
    ({"url": "ftp://example.com/x", "events": ["cell.applied"]}, [(["url"], "url_scheme")]),
    ({"url": "/relative/path", "events": ["cell.applied"]}, [(["url"], "url_scheme")]),
    ({"url": "javascript:alert(1)", "events": ["cell.applied"]}, [(["url"], "url_scheme")]),
    ({"url": "http://", "events": ["cell.applied"]}, [(["url"], "url_invalid")]),
    ({"url": "https://exa mple.com/", "events": ["cell.applied"]}, [(["url"], "url_invalid")]),
    ({"url": "https://example.com:99999/", "events": ["cell.applied"]}, [(["url"], "url_invalid")]),
    ({"url": "http://127.0.0.1\\@example.com/", "events": ["cell.applied"]}, [(["url"], "url_invalid")]),
    ({"url": "https://example.com/" + "a" * 1981, "events": ["cell.applied"]}, [(["url"], "string_too_long")]),
    ({"url": "https://example.com/h", "events": []}, [(["events"], "too_short")]),
    ({"url": "https://example.com/h"}, [(["events"], "missing")]),
    ({"url": "https://example.com/h", "events": ["cell.applied", "cell.exploded"]},
     [(["events", 1], "unknown_event")]),
    ({"url": "https://example.com/h", "events": ["cell.applied", "cell.revoked", "cell.applied"]},
     [(["events", 2], "duplicate_event")]),
    ({"url": "https://example.com/h", "events": ["cell.applied"], "secret": "fifteen-chars.."},
     [(["secret"], "string_too_short")]),
    ({"url": "https://example.com/h", "events": ["cell.applied"], "secret": "s" * 201},
     [(["secret"], "string_too_long")]),
    ({"url": "https://example.com/h", "events": ["cell.applied"], "active": True},
     [(["active"], "extra_forbidden")]),
    ({"url": "mailto:x@example.com", "events": ["nope"]}, [(["events", 0], "unknown_event"), (["url"], "url_scheme")]),
]


async def test_invalid_subscriptions_get_422_and_store_nothing(
        app: Any, client: httpx.AsyncClient, zzwf: str, subtests: pytest.Subtests) -> None:
    """Every case on one database: each is refused, and there is still no webhook nor audit event of one."""
    for index, (payload, expected) in enumerate(INVALID_SUBSCRIPTIONS):
        with subtests.test(msg=f"payload{index}-{expected[0][1]}", payload=payload):
            response = await client.post("/v1/webhooks", json=payload, headers=bearer(zzwf))
            assert issues(response) == expected
            assert await sql(app, "SELECT COUNT(*) FROM webhooks") == [(0,)]
            assert await sql(app, "SELECT COUNT(*) FROM audit_events WHERE entity = 'webhook'") == [(0,)]


async def test_the_longest_url_and_secret_are_accepted(client: httpx.AsyncClient, zzwf: str) -> None:
    url = "https://example.com/" + "a" * 1980  # 2000 characters
    body = await subscribe(client, zzwf, url, ALL_EVENTS, secret="s" * 200)
    assert len(body["url"]) == 2000
    assert body["events"] == ALL_EVENTS


async def test_validation_messages_follow_accept_language(client: httpx.AsyncClient, zzwf: str) -> None:
    payload = {"url": "ftp://example.com/x", "events": ["cell.applied", "cell.applied"]}
    response = await client.post("/v1/webhooks", json=payload, headers=bearer(zzwf, **{"Accept-Language": "zh-CN"}))
    body = assert_problem(response, 422, "validation_failed")
    assert [error["msg"] for error in body["errors"]] == [
        "事件“cell.applied”重复出现。", "必须是以 http 或 https 开头的完整网址。"]
    english = (await client.post("/v1/webhooks", json=payload, headers=bearer(zzwf))).json()
    assert [error["msg"] for error in english["errors"]] == [
        "'cell.applied' is listed more than once.", "Must be an absolute http or https URL."]


# ------------------------------------------------------------------------ addresses (no private)


@pytest.fixture
async def strict_app(settings: Settings) -> Any:
    application = create_app(with_(settings, webhook_allow_private=False))
    yield application
    await application.state.database.dispose()


@pytest.fixture
async def strict_client(strict_app: Any) -> Any:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=strict_app), base_url="http://testserver") as http:
        yield http


def fake_resolver(monkeypatch: pytest.MonkeyPatch, answers: dict[str, Any]) -> None:
    """Make host names in ``answers`` resolve to an address (or raise, or hang) in this event loop."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        answer = answers.get(host)
        if answer is None:
            return await real(host, port, *args, **kwargs)
        if answer == "hang":
            await asyncio.sleep(30)
        if isinstance(answer, BaseException):
            raise answer
        family = socket.AF_INET6 if ":" in answer else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (answer, port))]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)


NON_PUBLIC_URLS = [
    "http://127.0.0.1:8080/x", "http://localhost/x", "http://LOCALHOST./x", "http://api.localhost/x",
    "http://10.1.2.3/x", "http://172.16.0.1/x", "http://192.168.1.1/x", "http://[::1]/x",
    "http://169.254.169.254/latest/meta-data", "http://0.0.0.0/x", "http://224.0.0.1/x", "http://240.0.0.1/x",
    "http://[::ffff:127.0.0.1]/x", "http://100.64.0.1/x", "http://[fd00::1]/x", "http://[fe80::1]/x",
    # Not IP literals to Python, but the resolver reads them as 127.0.0.1 (inet_aton forms).
    "http://2130706433/x", "http://127.1/x",
    # Resolved (by the fake resolver below) to non-public addresses.
    "https://intranet.example.com/x", "https://v6.intranet.example.com/x",
]


async def test_non_public_addresses_are_refused(strict_app: Any, strict_client: httpx.AsyncClient,
                                                monkeypatch: pytest.MonkeyPatch, subtests: pytest.Subtests) -> None:
    """Every address on one database: each is refused and there is still no webhook."""
    fake_resolver(monkeypatch, {"intranet.example.com": "10.20.30.40", "v6.intranet.example.com": "::1"})
    token = await make_token(strict_app, "zzwf", ["aggregates:read"])
    for url in NON_PUBLIC_URLS:
        with subtests.test(msg=url):
            response = await strict_client.post("/v1/webhooks", json={"url": url, "events": ["cell.applied"]},
                                                headers=bearer(token))
            body = assert_problem(response, 422, "validation_failed")
            assert [(e["loc"], e["type"]) for e in body["errors"]] == [(["url"], "url_not_public")]
            assert body["errors"][0]["msg"].startswith("Webhooks go to public addresses only: ")
            assert await sql(strict_app, "SELECT COUNT(*) FROM webhooks") == [(0,)]


async def test_public_addresses_and_unresolvable_names_are_accepted(
        strict_app: Any, strict_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(addresses, "RESOLVE_TIMEOUT_SECONDS", 0.2)
    fake_resolver(monkeypatch, {"hooks.example.com": "93.184.216.34", "nowhere.example.com":
                                socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
                                "slow.example.com": "hang"})
    token = await make_token(strict_app, "zzwf", ["aggregates:read"])
    for url in ("https://93.184.216.34/hook", "https://[2606:2800:220:1:248:1893:25c8:1946]/hook",
                "https://hooks.example.com/hook", "https://nowhere.example.com/hook", "https://slow.example.com/h"):
        response = await strict_client.post("/v1/webhooks", json={"url": url, "events": ["cell.applied"]},
                                            headers=bearer(token))
        assert response.status_code == 201, (url, response.text)
    assert await sql(strict_app, "SELECT COUNT(*) FROM webhooks") == [(5,)]


async def test_private_addresses_are_accepted_when_allowed(client: httpx.AsyncClient, zzwf: str) -> None:
    body = await subscribe(client, zzwf, "http://127.0.0.1:9/x", ["cell.applied"])
    assert body["url"] == "http://127.0.0.1:9/x"


async def test_delivery_checks_the_address_again(strict_app: Any, strict_client: httpx.AsyncClient,
                                                 settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name that was public when subscribed and now resolves to loopback is not sent to."""
    answers: dict[str, Any] = {"rebind.example.com": "93.184.216.34"}
    fake_resolver(monkeypatch, answers)
    token = await make_token(strict_app, "zzwf", ["aggregates:read"])
    writer = await make_token(strict_app, "jyj", ["cells:write"])
    hook = (await strict_client.post("/v1/webhooks", json={"url": "http://rebind.example.com:1/h",
                                                           "events": ["cell.applied"]}, headers=bearer(token))).json()
    cell_id = await apply_for_school(strict_client, writer, "一中")
    answers["rebind.example.com"] = "127.0.0.1"
    strict = with_(settings, webhook_allow_private=False)
    assert await run_once(strict_app.state.database, strict) == 1
    event_id = await event_id_of(strict_app, "cell.applied", cell_id)
    reason = "not sent: rebind.example.com resolves to 127.0.0.1, not a public address"
    assert await delivery_rows(strict_app, hook["id"]) == [(event_id, "pending", 1, None, reason)]
    assert await attempt_rows(strict_app, hook["id"]) == [(event_id, 1, None, reason)]


# --------------------------------------------------------------------------------- authorization


async def test_scope_and_token_are_required(app: Any, client: httpx.AsyncClient, zzwf: str) -> None:
    hook = await subscribe(client, zzwf, "https://example.com/h", ["cell.applied"])
    writer = await make_token(app, "zzwf", ["cells:write", "submissions:review"])
    calls = [("POST", "/v1/webhooks", {"url": "https://example.com/h", "events": ["cell.applied"]}),
             ("GET", "/v1/webhooks", None), ("GET", f"/v1/webhooks/{hook['id']}", None),
             ("DELETE", f"/v1/webhooks/{hook['id']}", None), ("GET", f"/v1/webhooks/{hook['id']}/deliveries", None)]
    for method, path, body in calls:
        forbidden = await client.request(method, path, json=body, headers=bearer(writer))
        problem = assert_problem(forbidden, 403, "scope_required")
        assert problem["detail"] == "This needs one of the scopes: admin, aggregates:read."
        assert_problem(await client.request(method, path, json=body), 401, "token_missing")
    assert await sql(app, "SELECT COUNT(*), MIN(deleted_at) FROM webhooks") == [(1, None)]


async def test_departments_see_only_their_own_and_admin_sees_all(
        app: Any, client: httpx.AsyncClient, zzwf: str, sthj: str, admin: str) -> None:
    theirs = await subscribe(client, zzwf, "https://zzwf.example.cn/h", ["cell.applied"])
    mine = await subscribe(client, sthj, "https://sthj.example.cn/h", ["cell.certified"])
    listed = (await client.get("/v1/webhooks", headers=bearer(sthj))).json()
    assert [w["id"] for w in listed["items"]] == [mine["id"]]
    for method, path in (("GET", f"/v1/webhooks/{theirs['id']}"), ("DELETE", f"/v1/webhooks/{theirs['id']}"),
                         ("GET", f"/v1/webhooks/{theirs['id']}/deliveries"), ("GET", "/v1/webhooks/999999")):
        problem = assert_problem(await client.request(method, path, headers=bearer(sthj)), 404, "not_found")
        assert problem["detail"].startswith("No webhook '")
    assert await sql(app, "SELECT COUNT(*) FROM webhooks WHERE deleted_at IS NULL") == [(2,)]

    everything = (await client.get("/v1/webhooks", headers=bearer(admin))).json()
    assert [w["id"] for w in everything["items"]] == [theirs["id"], mine["id"]]
    assert (await client.get(f"/v1/webhooks/{theirs['id']}", headers=bearer(admin))).json()["department"] == "zzwf"
    assert (await client.get(f"/v1/webhooks/{theirs['id']}/deliveries", headers=bearer(admin))).json() == {
        "items": [], "next_cursor": None}
    assert (await client.delete(f"/v1/webhooks/{theirs['id']}", headers=bearer(admin))).status_code == 204
    rows = await sql(app, "SELECT department, action FROM audit_events WHERE entity = 'webhook' ORDER BY id")
    assert [tuple(r) for r in rows] == [("zzwf", "webhook.created"), ("sthj", "webhook.created"),
                                        ("lead", "webhook.deleted")]


# -------------------------------------------------------------------------------------- delivery


async def test_an_approval_is_delivered_signed_and_only_subscribed_events_are(
        app: Any, client: httpx.AsyncClient, settings: Settings, receiver: Receiver, zzwf: str) -> None:
    writer = await make_token(app, "cgj", ["submissions:write"])
    reviewer = await make_token(app, "lead", ["submissions:review"])
    hook = await subscribe(client, zzwf, receiver.url, ["submission.approved"])
    draft = await create(client, writer, "2.3.01", "2024", value=72.5, note="按台账")
    await acted(client, writer, draft["id"], "submit")
    await acted(client, reviewer, draft["id"], "approve")
    approved_id = await event_id_of(app, "submission.approved", draft["id"])
    submitted_id = await event_id_of(app, "submission.submitted", draft["id"])
    assert submitted_id == approved_id - 1

    before = int(time.time())
    assert await run_once(app.state.database, settings) == 1
    (request,) = receiver.received()
    assert (request.method, request.path) == ("POST", "/hooks/zwc")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-ZWC-Event"] == "submission.approved"
    assert request.headers["X-ZWC-Delivery"] == str(approved_id)
    timestamp = verify_signature(hook["secret"], request.headers, request.body)
    assert before <= timestamp <= int(time.time())

    body = request.json()
    assert request.body == json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    assert set(body) == {"id", "event", "at", "data"}
    assert (body["id"], body["event"]) == (approved_id, "submission.approved")
    data = body["data"]
    assert (data["id"], data["indicator"], data["period"], data["department"], data["status"], data["value"],
            data["version"]) == (draft["id"], "2.3.01", "2024", "cgj", "approved", 72.5, 3)
    assert "note" not in data  # drafts' notes are not for subscribers
    stored = await sql(app, "SELECT id, event, entity, entity_id, at, data FROM outbox_events WHERE id = :id",
                       id=approved_id)
    event_id, event, entity, entity_id, event_at, event_data = stored[0]
    outbox = OutboxEvent(id=event_id, event=event, entity=entity, entity_id=entity_id, at=at(event_at),
                         data=json.loads(event_data) if isinstance(event_data, str) else event_data)
    assert data == public_data(outbox)
    assert at(body["at"].replace("Z", "+00:00")) == outbox.at

    assert await delivery_rows(app, hook["id"]) == [(approved_id, "delivered", 1, 204, None)]
    log = await deliveries(client, zzwf, hook["id"])
    (item,) = log["items"]
    assert log["next_cursor"] is None
    assert {k: v for k, v in item.items() if k not in ("id", "delivered_at", "created_at", "attempts")} == {
        "event_id": approved_id, "event": "submission.approved", "status": "delivered", "attempt_count": 1,
        "next_attempt_at": None, "last_status_code": 204, "last_error": None}
    assert item["delivered_at"] is not None
    (attempt,) = item["attempts"]
    assert (attempt["attempt"], attempt["status_code"], attempt["error"]) == (1, 204, None)
    assert attempt["duration_ms"] >= 0
    # Nothing more to do: the submitted event made no delivery, and the approval is not sent twice.
    assert await run_once(app.state.database, settings) == 0
    assert len(receiver.received()) == 1


async def test_time_stamps_are_sent_in_utc_with_z_and_the_signature_covers_them(
        app: Any, client: httpx.AsyncClient, settings: Settings, receiver: Receiver, zzwf: str) -> None:
    """The body writes its instants as every other answer does (`…Z`): `at`, and `data.at` and
    `data.approved_at`; the signature is over exactly the bytes sent."""
    hook = await subscribe(client, zzwf, receiver.url, ["submission.approved"])
    with time_machine.travel(datetime(2026, 11, 20, 2, 37, 0, 500000, tzinfo=UTC), tick=False):
        writer = await make_token(app, "cgj", ["submissions:write"])
        reviewer = await make_token(app, "lead", ["submissions:review"])
        draft = await create(client, writer, "2.3.01", "2025", value=42.5)
        await acted(client, writer, draft["id"], "submit")
        approved = await acted(client, reviewer, draft["id"], "approve")
    assert await run_once(app.state.database, settings) == 1
    (request,) = receiver.received()
    verify_signature(hook["secret"], request.headers, request.body)
    body = request.json()
    assert (body["at"], body["data"]["at"], body["data"]["approved_at"], approved["approved_at"]) == (
        "2026-11-20T02:37:00.500000Z", "2026-11-20T02:37:00.500000Z", "2026-11-20T02:37:00.500000Z",
        "2026-11-20T02:37:00.500000Z")
    assert b'"at":"2026-11-20T02:37:00.500000Z"' in request.body
    assert b"+00:00" not in request.body


async def test_events_from_before_the_subscription_are_not_delivered(
        app: Any, client: httpx.AsyncClient, settings: Settings, receiver: Receiver, zzwf: str, jyj: str) -> None:
    await apply_for_school(client, jyj, "一中")
    hook = await subscribe(client, zzwf, receiver.url, ["cell.applied"])
    later = await apply_for_school(client, jyj, "二中")
    assert await run_once(app.state.database, settings) == 1
    later_id = await event_id_of(app, "cell.applied", later)
    assert [r.headers["X-ZWC-Delivery"] for r in receiver.received()] == [str(later_id)]
    assert receiver.received()[0].json()["data"]["name"] == "二中"
    assert await delivery_rows(app, hook["id"]) == [(later_id, "delivered", 1, 204, None)]


async def test_each_webhook_gets_the_events_it_subscribed_to(
        app: Any, client: httpx.AsyncClient, settings: Settings, receiver: Receiver, zzwf: str, sthj: str,
        jyj: str) -> None:
    cells = await subscribe(client, zzwf, receiver.url + "?who=zzwf", ["cell.applied", "cell.evaluated"])
    other = await subscribe(client, sthj, receiver.url + "?who=sthj", ["cell.certified"])
    cell_id = await apply_for_school(client, jyj, "一中")
    assert await run_once(app.state.database, settings) == 1
    assert [(r.path, r.headers["X-ZWC-Event"]) for r in receiver.received()] == [
        ("/hooks/zwc?who=zzwf", "cell.applied")]
    assert await delivery_rows(app, cells["id"]) == [
        (await event_id_of(app, "cell.applied", cell_id), "delivered", 1, 204, None)]
    assert await delivery_rows(app, other["id"]) == []


async def test_a_failing_receiver_is_retried_with_back_off_until_it_succeeds(
        app: Any, client: httpx.AsyncClient, settings: Settings, flaky: Receiver, zzwf: str, jyj: str) -> None:
    fast = with_(settings, webhook_retry_base_seconds=1.0, webhook_retry_max_seconds=60)
    hook = await subscribe(client, zzwf, flaky.url, ["cell.applied"])
    event_id = await event_id_of(app, "cell.applied", await apply_for_school(client, jyj, "一中"))
    database = app.state.database

    async def schedule() -> tuple[datetime, float]:
        """When the next attempt is due, and how long after the last attempt started."""
        rows = await sql(app, "SELECT d.next_attempt_at, a.started_at FROM webhook_deliveries d "
                              "JOIN webhook_attempts a ON a.delivery_id = d.id ORDER BY a.attempt DESC")
        return at(rows[0][0]), (at(rows[0][0]) - at(rows[0][1])).total_seconds()

    async def until(moment: datetime) -> None:
        await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()) + 0.05)

    assert await run_once(database, fast) == 1  # attempt 1: 500
    assert await delivery_rows(app, hook["id"]) == [(event_id, "pending", 1, 500, "HTTP 500")]
    due, delay = await schedule()
    assert 1.0 <= delay < 2.0  # base × 2^0 after the attempt
    assert await run_once(database, fast) == 0  # not due yet
    await until(due)
    assert await run_once(database, fast) == 1  # attempt 2: 500
    assert await delivery_rows(app, hook["id"]) == [(event_id, "pending", 2, 500, "HTTP 500")]
    due, delay = await schedule()
    assert 2.0 <= delay < 3.0  # base × 2^1
    assert await run_once(database, fast) == 0
    await until(due)
    assert await run_once(database, fast) == 1  # attempt 3: 200
    assert await delivery_rows(app, hook["id"]) == [(event_id, "delivered", 3, 200, None)]
    assert await attempt_rows(app, hook["id"]) == [(event_id, 1, 500, "HTTP 500"), (event_id, 2, 500, "HTTP 500"),
                                                   (event_id, 3, 200, None)]
    assert [r.headers["X-ZWC-Delivery"] for r in flaky.received()] == [str(event_id)] * 3
    # Each attempt is signed afresh, with the same body.
    assert len({r.body for r in flaky.received()}) == 1
    for request in flaky.received():
        verify_signature(hook["secret"], request.headers, request.body)

    (item,) = (await deliveries(client, zzwf, hook["id"]))["items"]
    assert (item["status"], item["attempt_count"], item["next_attempt_at"]) == ("delivered", 3, None)
    assert [(a["attempt"], a["status_code"], a["error"]) for a in item["attempts"]] == [
        (1, 500, "HTTP 500"), (2, 500, "HTTP 500"), (3, 200, None)]


def test_the_retry_delay_doubles_up_to_the_cap() -> None:
    settings = Settings(database_url="sqlite://", webhook_retry_base_seconds=10, webhook_retry_max_seconds=3600,
                        _env_file=None)  # type: ignore[call-arg]
    delays = [retry_delay(settings, attempts).total_seconds() for attempts in range(1, 11)]
    assert delays == [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]
    assert retry_delay(settings, 1000) == timedelta(seconds=3600)


async def test_delivery_gives_up_after_the_last_attempt(
        app: Any, client: httpx.AsyncClient, settings: Settings, zzwf: str, jyj: str) -> None:
    always = Receiver(fail_first=1000)
    try:
        quick = with_(settings, webhook_retry_base_seconds=0.01, webhook_max_attempts=3)
        hook = await subscribe(client, zzwf, always.url, ["cell.applied"])
        event_id = await event_id_of(app, "cell.applied", await apply_for_school(client, jyj, "一中"))
        attempted = 0
        for _ in range(100):
            attempted += await run_once(app.state.database, quick)
            if attempted == 3:
                break
            await asyncio.sleep(0.02)
        assert attempted == 3
        assert await delivery_rows(app, hook["id"]) == [(event_id, "failed", 3, 500, "HTTP 500")]
        assert await sql(app, "SELECT next_attempt_at, delivered_at, locked_until FROM webhook_deliveries") == [
            (None, None, None)]
        await asyncio.sleep(0.05)
        assert await run_once(app.state.database, quick) == 0
        assert len(always.received()) == 3
        (item,) = (await deliveries(client, zzwf, hook["id"]))["items"]
        assert (item["status"], item["attempt_count"], len(item["attempts"])) == ("failed", 3, 3)
    finally:
        always.close()


async def test_an_unreachable_receiver_is_a_failed_attempt(
        app: Any, client: httpx.AsyncClient, settings: Settings, zzwf: str, jyj: str) -> None:
    hook = await subscribe(client, zzwf, f"http://127.0.0.1:{closed_port()}/h", ["cell.applied"])
    event_id = await event_id_of(app, "cell.applied", await apply_for_school(client, jyj, "一中"))
    assert await run_once(app.state.database, settings) == 1
    ((stored_event, status, attempts, code, error),) = await delivery_rows(app, hook["id"])
    assert (stored_event, status, attempts, code) == (event_id, "pending", 1, None)
    assert error.startswith("ConnectError")
    assert await attempt_rows(app, hook["id"]) == [(event_id, 1, None, error)]


async def test_redirects_are_not_followed(app: Any, client: httpx.AsyncClient, settings: Settings, zzwf: str,
                                          jyj: str) -> None:
    redirecting = Receiver(ok_status=307)
    try:
        hook = await subscribe(client, zzwf, redirecting.url, ["cell.applied"])
        event_id = await event_id_of(app, "cell.applied", await apply_for_school(client, jyj, "一中"))
        assert await run_once(app.state.database, settings) == 1
        assert await delivery_rows(app, hook["id"]) == [(event_id, "pending", 1, 307, "HTTP 307")]
        assert len(redirecting.received()) == 1
    finally:
        redirecting.close()


async def test_a_slow_receiver_times_out(app: Any, client: httpx.AsyncClient, settings: Settings, zzwf: str,
                                         jyj: str) -> None:
    slow = Receiver(delay=2.0)
    try:
        hook = await subscribe(client, zzwf, slow.url, ["cell.applied"])
        event_id = await event_id_of(app, "cell.applied", await apply_for_school(client, jyj, "一中"))
        assert await run_once(app.state.database, with_(settings, webhook_timeout_seconds=0.3)) == 1
        assert await delivery_rows(app, hook["id"]) == [(event_id, "pending", 1, None, "timed out")]
    finally:
        slow.close()


# -------------------------------------------------------------------------------------- deletion


async def test_delete_stops_delivery_and_keeps_the_log(
        app: Any, client: httpx.AsyncClient, settings: Settings, receiver: Receiver, zzwf: str, jyj: str) -> None:
    hook = await subscribe(client, zzwf, receiver.url, ["cell.applied"])
    first = await event_id_of(app, "cell.applied", await apply_for_school(client, jyj, "一中"))
    assert await run_once(app.state.database, settings) == 1
    second = await event_id_of(app, "cell.applied", await apply_for_school(client, jyj, "二中"))
    assert await fan_out(app.state.database) == 1  # a delivery waits for the next pass

    response = await client.delete(f"/v1/webhooks/{hook['id']}", headers=bearer(zzwf))
    assert response.status_code == 204
    assert response.content == b""
    assert await delivery_rows(app, hook["id"]) == [(first, "delivered", 1, 204, None),
                                                    (second, "failed", 0, None, "webhook deleted; not sent")]
    third = await event_id_of(app, "cell.applied", await apply_for_school(client, jyj, "三中"))
    assert await run_once(app.state.database, settings) == 0
    assert [r.headers["X-ZWC-Delivery"] for r in receiver.received()] == [str(first)]
    assert third > second
    assert len(await delivery_rows(app, hook["id"])) == 2  # none for the third event

    rows = await sql(app, "SELECT COUNT(*) FROM webhooks WHERE id = :id AND deleted_at IS NOT NULL", id=hook["id"])
    assert rows == [(1,)]
    assert_problem(await client.get(f"/v1/webhooks/{hook['id']}", headers=bearer(zzwf)), 404, "not_found")
    assert_problem(await client.delete(f"/v1/webhooks/{hook['id']}", headers=bearer(zzwf)), 404, "not_found")
    assert (await client.get("/v1/webhooks", headers=bearer(zzwf))).json() == {"items": [], "next_cursor": None}
    audit = await sql(app, "SELECT action, before, after FROM audit_events WHERE entity = 'webhook' ORDER BY id")
    assert [row[0] for row in audit] == ["webhook.created", "webhook.deleted"]
    after = json.loads(audit[1][2]) if isinstance(audit[1][2], str) else audit[1][2]
    assert after["abandoned_deliveries"] == 1
    assert after["deleted_at"] is not None


async def test_a_claimed_delivery_of_a_deleted_webhook_is_not_sent(
        app: Any, client: httpx.AsyncClient, settings: Settings, receiver: Receiver, zzwf: str, jyj: str) -> None:
    """A webhook deleted while one of its deliveries was leased: the worker fails it without sending."""
    hook = await subscribe(client, zzwf, receiver.url, ["cell.applied"])
    event_id = await event_id_of(app, "cell.applied", await apply_for_school(client, jyj, "一中"))
    await fan_out(app.state.database)
    await sql_write(app, "UPDATE webhooks SET deleted_at = created_at WHERE id = :id", id=hook["id"])
    assert await run_once(app.state.database, settings) == 0
    assert receiver.received() == []
    assert await delivery_rows(app, hook["id"]) == [(event_id, "failed", 0, None, "webhook deleted; not sent")]
    assert await attempt_rows(app, hook["id"]) == []


async def test_fan_out_walks_the_outbox_in_batches(app: Any, client: httpx.AsyncClient, zzwf: str) -> None:
    applied_only = await subscribe(client, zzwf, "https://example.com/a", ["cell.applied"])
    both = await subscribe(client, zzwf, "https://example.com/b", ["cell.inspected", "cell.applied"])
    # 1201 events straight into the outbox: even numbers cell.applied (600), odd ones cell.inspected (601).
    await sql_write(app, """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1201)
        INSERT INTO outbox_events (event, entity, entity_id, at, data)
        SELECT CASE WHEN i % 2 = 0 THEN 'cell.applied' ELSE 'cell.inspected' END, 'cell', '1',
               CURRENT_TIMESTAMP, '{}' FROM n""")
    assert [await fan_out(app.state.database) for _ in range(4)] == [500, 500, 201, 0]
    counts = await sql(app, "SELECT webhook_id, COUNT(*), MIN(status), MAX(status) FROM webhook_deliveries "
                            "GROUP BY webhook_id ORDER BY webhook_id")
    assert [tuple(row) for row in counts] == [(applied_only["id"], 600, "pending", "pending"),
                                              (both["id"], 1201, "pending", "pending")]
    assert await sql(app, "SELECT last_event_id FROM webhook_dispatch_cursor") == await sql(
        app, "SELECT MAX(id) FROM outbox_events")


# ----------------------------------------------------------------------------------- concurrency


async def test_concurrent_passes_deliver_each_event_once(
        app: Any, client: httpx.AsyncClient, settings: Settings, zzwf: str, jyj: str) -> None:
    """Two passes in one process (one pool) and two more through their own pools, like two processes."""
    slow = Receiver(delay=0.05)
    other_pools = [Database.from_settings(settings) for _ in range(2)]
    try:
        small = with_(settings, webhook_batch_size=2)
        hook = await subscribe(client, zzwf, slow.url, ["cell.applied"])
        expected = [await event_id_of(app, "cell.applied", await apply_for_school(client, jyj, f"学校{n}"))
                    for n in range(8)]
        databases = [app.state.database, app.state.database, *other_pools]
        attempted = 0
        for _ in range(20):
            results = await asyncio.gather(*(run_once(database, small) for database in databases))
            attempted += sum(results)
            if attempted >= 8:
                break
        assert attempted == 8
        received = [int(r.headers["X-ZWC-Delivery"]) for r in slow.received()]
        assert sorted(received) == expected
        assert len(received) == len(set(received))
        assert await delivery_rows(app, hook["id"]) == [(e, "delivered", 1, 204, None) for e in expected]
    finally:
        slow.close()
        for database in other_pools:
            await database.dispose()


async def test_an_expired_lease_is_taken_over(
        app: Any, client: httpx.AsyncClient, settings: Settings, receiver: Receiver, zzwf: str, jyj: str) -> None:
    """A worker that died after claiming leaves a lease; once it expires another pass sends the delivery."""
    hook = await subscribe(client, zzwf, receiver.url, ["cell.applied"])
    event_id = await event_id_of(app, "cell.applied", await apply_for_school(client, jyj, "一中"))
    await fan_out(app.state.database)
    future = datetime.now(UTC) + timedelta(minutes=5)
    await sql_write(app, "UPDATE webhook_deliveries SET locked_until = :until", until=future)
    assert await run_once(app.state.database, settings) == 0  # leased by the "dead" worker
    past = datetime.now(UTC) - timedelta(seconds=1)
    await sql_write(app, "UPDATE webhook_deliveries SET locked_until = :until", until=past)
    assert await run_once(app.state.database, settings) == 1
    assert await delivery_rows(app, hook["id"]) == [(event_id, "delivered", 1, 204, None)]
    assert len(receiver.received()) == 1


# ----------------------------------------------------------------------------------- the workers


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def webhook_log() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("zwc.webhooks")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


async def test_the_worker_survives_an_unreachable_receiver_and_stops_cleanly(
        app: Any, client: httpx.AsyncClient, settings: Settings, zzwf: str, jyj: str, webhook_log: Records) -> None:
    loop_settings = with_(settings, webhook_poll_seconds=0.05, webhook_retry_base_seconds=0.05)
    hook = await subscribe(client, zzwf, f"http://127.0.0.1:{closed_port()}/h", ["cell.applied"])
    secret = hook["secret"]
    await apply_for_school(client, jyj, "一中")
    stop = asyncio.Event()
    worker = asyncio.create_task(run_forever(app.state.database, loop_settings, stop))

    async def retried() -> bool:
        return (await sql(app, "SELECT attempts FROM webhook_deliveries"))[0][0] >= 3 if (
            await sql(app, "SELECT COUNT(*) FROM webhook_deliveries"))[0][0] else False

    await eventually(retried)
    assert not worker.done()
    stop.set()
    await asyncio.wait_for(worker, 5)
    assert worker.exception() is None
    assert any("attempt 1 failed: ConnectError" in line for line in webhook_log.lines)
    assert not any(secret in line or "v1=" in line for line in webhook_log.lines)


async def test_the_worker_survives_an_unavailable_database(webhook_log: Records) -> None:
    down = Settings(database_url="postgresql://postgres@127.0.0.1:1/nowhere", webhook_poll_seconds=0.05,
                    _env_file=None)  # type: ignore[call-arg]
    database = Database.from_settings(down)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_forever(database, down, stop))
    try:
        async def failed_twice() -> bool:
            return sum("webhook delivery pass failed" in line for line in webhook_log.lines) >= 2

        await eventually(failed_twice)
        assert not worker.done()
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)
        await database.dispose()
    assert worker.exception() is None
    assert "OperationalError" in next(line for line in webhook_log.lines if "pass failed" in line)


async def test_the_app_lifespan_runs_the_worker(settings: Settings, receiver: Receiver) -> None:
    application = create_app(with_(settings, webhook_worker=True, webhook_poll_seconds=0.1))
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            zzwf = await make_token(application, "zzwf", ["aggregates:read"])
            jyj = await make_token(application, "jyj", ["cells:write"])
            await subscribe(http, zzwf, receiver.url, ["cell.applied"])
            committed = time.monotonic()
            await apply_for_school(http, jyj, "一中")

            async def arrived() -> bool:
                return len(receiver.received()) == 1

            await eventually(arrived, within=5)
            assert time.monotonic() - committed < 5
    # Shut down: the worker stopped with the app and the pool is closed.
    assert receiver.received()[0].headers["X-ZWC-Event"] == "cell.applied"


async def test_without_the_setting_the_app_runs_no_worker(settings: Settings, receiver: Receiver) -> None:
    application = create_app(with_(settings, webhook_poll_seconds=0.05))
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            zzwf = await make_token(application, "zzwf", ["aggregates:read"])
            jyj = await make_token(application, "jyj", ["cells:write"])
            await subscribe(http, zzwf, receiver.url, ["cell.applied"])
            await apply_for_school(http, jyj, "一中")
            await asyncio.sleep(0.5)
            assert receiver.received() == []
            assert await sql(application, "SELECT COUNT(*) FROM webhook_deliveries") == [(0,)]
