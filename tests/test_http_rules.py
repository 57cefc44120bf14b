"""Rules every endpoint keeps (SPEC §5): problem+json errors, body limits, languages, request ids,
security headers, CORS, 500s without internals, 503s when the database is away, one unit of work."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import migrations
from app.core.config import Settings
from app.main import create_app
from tests.factories import PROBLEM, assert_problem, bearer, make_token, serving, sql, sql_write

SEEDED_DEPARTMENTS = 20
NEW_DEPARTMENT = {"code": "newdep", "name_zh": "新部门", "name_en": "New department"}
UNREACHABLE_POSTGRES = "postgresql://postgres@127.0.0.1:1/zwc"
WELL_SHAPED_TOKEN = "zwc_" + "Ab9_-" * 8 + "xyz"  # 43 URL-safe characters after the prefix




@pytest.fixture
async def admin(app: Any) -> str:
    return await make_token(app, "lead", ["admin"], name="admin")


async def department_count(app: Any) -> int:
    return int((await sql(app, "SELECT count(*) FROM departments"))[0][0])


async def audit_count(app: Any) -> int:
    return int((await sql(app, "SELECT count(*) FROM audit_events"))[0][0])


def standalone_settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, files_dir=tmp_path / "files", _env_file=None)  # type: ignore[call-arg]


# --- Unknown routes and wrong methods -------------------------------------------------------------


async def test_unknown_route_under_v1_is_404_problem(client: httpx.AsyncClient, admin: str) -> None:
    response = await client.get("/v1/no-such-thing", headers=bearer(admin))
    body = assert_problem(response, 404, "route_not_found")
    assert body["detail"] == "There is no such route: /v1/no-such-thing."


async def test_unknown_route_outside_v1_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/no-such-thing")
    body = assert_problem(response, 404, "route_not_found")
    assert body["detail"] == "There is no such route: /no-such-thing."


async def test_wrong_method_is_405_problem_with_allow(app: Any, client: httpx.AsyncClient, admin: str) -> None:
    response = await client.delete("/v1/departments", headers=bearer(admin))
    body = assert_problem(response, 405, "method_not_allowed")
    assert body["detail"] == "DELETE is not allowed on /v1/departments."
    allowed = {method.strip() for method in response.headers["allow"].split(",")}
    # /v1/departments takes GET (list) and POST (create): Allow names every method the resource supports.
    assert {"GET", "POST"} <= allowed
    assert "DELETE" not in allowed
    assert await department_count(app) == SEEDED_DEPARTMENTS


# --- Bad bodies ---------------------------------------------------------------------------------


MALFORMED_JSON = [b"{", b'{"code": "newdep",', b"not json", b'{"code": }', b"[1, 2", b"{'code': 'newdep'}"]


async def test_malformed_json_is_400(app: Any, client: httpx.AsyncClient, admin: str,
                                     subtests: pytest.Subtests) -> None:
    """Every body on one database: each is refused and writes nothing."""
    for raw in MALFORMED_JSON:
        with subtests.test(msg=repr(raw)):
            before = await audit_count(app)
            response = await client.post("/v1/departments", content=raw,
                                         headers=bearer(admin, **{"Content-Type": "application/json"}))
            body = assert_problem(response, 400, "malformed_json")
            assert body["detail"] == "The request body is not valid JSON."
            assert await department_count(app) == SEEDED_DEPARTMENTS
            assert await audit_count(app) == before


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("text/plain", json.dumps(NEW_DEPARTMENT).encode()),
        ("application/x-www-form-urlencoded", b"code=newdep&name_zh=x&name_en=y"),
        ("text/csv", b"code,name_zh,name_en\nnewdep,x,y\n"),
        (None, json.dumps(NEW_DEPARTMENT).encode()),
    ],
)
async def test_wrong_content_type_is_415(app: Any, client: httpx.AsyncClient, admin: str,
                                         content_type: str | None, content: bytes) -> None:
    headers = bearer(admin)
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = await client.post("/v1/departments", content=content, headers=headers)
    body = assert_problem(response, 415, "unsupported_media_type")
    assert "application/json" in body["detail"]
    assert await department_count(app) == SEEDED_DEPARTMENTS
    assert await sql(app, "SELECT code FROM departments WHERE code = 'newdep'") == []


async def test_json_with_charset_is_accepted(app: Any, client: httpx.AsyncClient, admin: str) -> None:
    response = await client.post("/v1/departments", content=json.dumps(NEW_DEPARTMENT).encode(),
                                 headers=bearer(admin, **{"Content-Type": "application/json; charset=utf-8"}))
    assert response.status_code == 201
    assert await department_count(app) == SEEDED_DEPARTMENTS + 1


async def test_unknown_field_is_422_at_body_root(app: Any, client: httpx.AsyncClient, admin: str) -> None:
    before = await audit_count(app)
    response = await client.post("/v1/departments", headers=bearer(admin), json={**NEW_DEPARTMENT, "colour": "red"})
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"] == [{"loc": ["colour"], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}]
    assert await department_count(app) == SEEDED_DEPARTMENTS
    assert await audit_count(app) == before


async def test_validation_errors_have_loc_msg_type(client: httpx.AsyncClient, admin: str) -> None:
    response = await client.post("/v1/departments", headers=bearer(admin), json={"code": "newdep", "kind": "club"})
    body = assert_problem(response, 422, "validation_failed")
    assert all(set(issue) == {"loc", "msg", "type"} for issue in body["errors"])
    by_loc = {tuple(issue["loc"]): issue["type"] for issue in body["errors"]}
    assert by_loc == {("name_zh",): "missing", ("name_en",): "missing", ("kind",): "literal_error"}


async def test_query_validation_loc_names_the_query(client: httpx.AsyncClient, admin: str) -> None:
    response = await client.get("/v1/departments?limit=0", headers=bearer(admin))
    body = assert_problem(response, 422, "validation_failed")
    assert [issue["loc"] for issue in body["errors"]] == [["query", "limit"]]


# --- Body limits (413) ----------------------------------------------------------------------------


def big_department_body(size: int) -> bytes:
    """A valid department creation body of at least ``size`` bytes (padding is JSON whitespace)."""
    payload = json.dumps(NEW_DEPARTMENT).encode()
    return payload[:-1] + b" " * max(0, size - len(payload)) + b"}"


async def test_content_length_over_limit_is_413(app: Any, settings: Settings) -> None:
    admin = await make_token(app, "lead", ["admin"])
    async with serving(settings, max_json_bytes=256) as (small_app, http):
        response = await http.post("/v1/departments", content=big_department_body(1000),
                                   headers=bearer(admin, **{"Content-Type": "application/json"}))
        body = assert_problem(response, 413, "payload_too_large")
        assert body["detail"] == "The body is larger than the limit of 256 bytes."
        assert response.headers["x-request-id"]
        assert await department_count(small_app) == SEEDED_DEPARTMENTS


async def test_body_at_the_limit_is_accepted(app: Any, settings: Settings) -> None:
    admin = await make_token(app, "lead", ["admin"])
    async with serving(settings, max_json_bytes=256) as (small_app, http):
        response = await http.post("/v1/departments", content=big_department_body(256),
                                   headers=bearer(admin, **{"Content-Type": "application/json"}))
        assert response.status_code == 201
        assert await department_count(small_app) == SEEDED_DEPARTMENTS + 1


async def test_content_length_over_limit_is_refused_before_reading_the_body(app: Any, settings: Settings) -> None:
    admin = await make_token(app, "lead", ["admin"])
    small_app = create_app(settings.model_copy(update={"max_json_bytes": 256}))
    body = big_department_body(10_000)
    reads: list[int] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        reads.append(len(body))
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/departments", "raw_path": b"/v1/departments", "root_path": "",
        "query_string": b"", "server": ("testserver", 80), "client": ("127.0.0.1", 40000),
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"authorization", f"Bearer {admin}".encode())],
    }
    try:
        await small_app(scope, receive, send)
    finally:
        await small_app.state.database.dispose()
    assert reads == []
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 413
    assert (b"content-type", PROBLEM.encode()) in sent[0]["headers"]
    answer = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    assert answer["code"] == "payload_too_large"
    assert await department_count(app) == SEEDED_DEPARTMENTS


async def test_streamed_body_over_limit_without_content_length_is_413(app: Any, settings: Settings) -> None:
    admin = await make_token(app, "lead", ["admin"])
    body = big_department_body(4000)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 100):
            yield body[start:start + 100]

    async with serving(settings, max_json_bytes=256) as (small_app, http):
        request = http.build_request("POST", "/v1/departments", content=chunks(),
                                     headers=bearer(admin, **{"Content-Type": "application/json"}))
        assert "content-length" not in request.headers
        response = await http.send(request)
        assert_problem(response, 413, "payload_too_large")
        assert await department_count(small_app) == SEEDED_DEPARTMENTS
        assert await sql(small_app, "SELECT code FROM departments WHERE code = 'newdep'") == []


# --- Languages ------------------------------------------------------------------------------------


# (method, path, extra, status, code, title_zh, detail_zh)
PROBLEMS_IN_CHINESE: list[tuple[str, str, dict[str, Any], int, str, str, str]] = [
    ("GET", "/v1/me", {}, 401, "token_missing", "需要认证",
     "请在请求头中提供 'Authorization: Bearer <token>'。"),
    ("GET", "/nowhere", {}, 404, "route_not_found", "未找到", "不存在该路径：/nowhere。"),
    ("DELETE", "/v1/departments", {}, 405, "method_not_allowed", "方法不被允许",
     "/v1/departments 不支持 DELETE 方法。"),
    ("POST", "/v1/departments", {"content": b"{", "headers": {"Content-Type": "application/json"}},
     400, "malformed_json", "JSON 格式错误", "请求体不是合法的 JSON。"),
    ("POST", "/v1/departments", {"content": b"x", "headers": {"Content-Type": "text/plain"}},
     415, "unsupported_media_type", "不支持的内容类型", "该接口接受 application/json，而不是 text/plain。"),
]


async def test_problems_in_chinese(client: httpx.AsyncClient, subtests: pytest.Subtests) -> None:
    for method, path, extra, status, code, title_zh, detail_zh in PROBLEMS_IN_CHINESE:
        with subtests.test(msg=f"{method}-{path}-{status}-{code}"):
            headers = {"Accept-Language": "zh-CN", **extra.get("headers", {})}
            response = await client.request(method, path, headers=headers, content=extra.get("content"))
            body = assert_problem(response, status, code)
            assert body["title"] == title_zh
            assert body["detail"] == detail_zh


async def test_payload_too_large_in_chinese(app: Any, settings: Settings) -> None:
    admin = await make_token(app, "lead", ["admin"])
    async with serving(settings, max_json_bytes=256) as (_small_app, http):
        response = await http.post("/v1/departments", content=big_department_body(1000),
                                   headers=bearer(admin, **{"Content-Type": "application/json",
                                                            "Accept-Language": "zh-CN"}))
    body = assert_problem(response, 413, "payload_too_large")
    assert body["title"] == "请求体过大"
    assert body["detail"] == "请求体超过了 256 字节的上限。"


ACCEPT_LANGUAGES: list[tuple[str | None, str]] = [
    (None, "Authentication required"),
    ("en", "Authentication required"),
    ("en-US,en;q=0.9", "Authentication required"),
    ("en;q=0.9, zh;q=0.8", "Authentication required"),
    ("zh;q=0.8, en;q=0.9", "Authentication required"),
    ("zh;q=0", "Authentication required"),
    ("fr-FR", "Authentication required"),
    ("*", "Authentication required"),
    ("zh-CN", "需要认证"),
    ("zh", "需要认证"),
    ("zh-TW", "需要认证"),
    ("zh-CN,zh;q=0.9,en;q=0.8", "需要认证"),
    ("en;q=0.5, zh-CN", "需要认证"),
    ("fr, zh;q=0.7, en;q=0.3", "需要认证"),
]


async def test_accept_language_negotiation(client: httpx.AsyncClient, subtests: pytest.Subtests) -> None:
    for accept_language, title in ACCEPT_LANGUAGES:
        with subtests.test(msg=f"{accept_language}-{title}"):
            headers = {} if accept_language is None else {"Accept-Language": accept_language}
            body = assert_problem(await client.get("/v1/me", headers=headers), 401, "token_missing")
            assert body["title"] == title


@pytest.mark.parametrize(
    ("accept_language", "title", "missing_msg", "extra_msg"),
    [
        ("zh-CN", "校验失败", "缺少必填字段：name_zh（中文名称）", "不允许的字段"),
        ("en", "Validation failed", "Field required: name_zh", "Extra inputs are not permitted"),
        (None, "Validation failed", "Field required: name_zh", "Extra inputs are not permitted"),
    ],
)
async def test_validation_messages_follow_the_language(
    client: httpx.AsyncClient, admin: str, accept_language: str | None, title: str, missing_msg: str,
    extra_msg: str,
) -> None:
    headers = bearer(admin) if accept_language is None else bearer(admin, **{"Accept-Language": accept_language})
    response = await client.post("/v1/departments", headers=headers,
                                 json={"code": "newdep", "name_en": "New", "colour": "red"})
    body = assert_problem(response, 422, "validation_failed")
    assert body["title"] == title
    assert sorted(body["errors"], key=lambda issue: issue["loc"]) == [
        {"loc": ["colour"], "msg": extra_msg, "type": "extra_forbidden"},
        {"loc": ["name_zh"], "msg": missing_msg, "type": "missing"},
    ]


# --- 500 without internals ------------------------------------------------------------------------


async def test_unexpected_failure_is_500_without_internals(settings: Settings) -> None:
    async def boom() -> dict[str, str]:
        raise RuntimeError("secret detail")

    async with serving(settings, raise_app_exceptions=False) as (application, http):
        application.add_api_route("/boom", boom, methods=["GET"])
        response = await http.get("/boom", headers={"X-Request-ID": "boom-1"})
    body = assert_problem(response, 500, "internal_error")
    assert body["title"] == "Internal server error"
    for leak in ("secret detail", "Traceback", "RuntimeError", "boom()"):
        assert leak not in response.text
    assert response.headers["x-request-id"] == "boom-1"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" in response.headers


async def test_unexpected_failure_under_v1_is_500_problem(settings: Settings) -> None:
    async def boom() -> dict[str, str]:
        raise RuntimeError("secret detail")

    async with serving(settings, raise_app_exceptions=False) as (application, http):
        application.add_api_route("/v1/boom", boom, methods=["GET"])
        response = await http.get("/v1/boom", headers={"Accept-Language": "zh-CN"})
    body = assert_problem(response, 500, "internal_error")
    assert body["title"] == "服务器内部错误"
    assert "secret detail" not in response.text
    assert response.headers["cache-control"] == "no-store"
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


# --- Database unavailable and readiness -----------------------------------------------------------


async def test_unreachable_database_answers_503_with_retry_after(tmp_path: Path) -> None:
    settings = standalone_settings(UNREACHABLE_POSTGRES, tmp_path)
    async with serving(settings) as (_application, http):
        response = await http.get("/v1/me", headers=bearer(WELL_SHAPED_TOKEN))
        body = assert_problem(response, 503, "database_unavailable")
        assert response.headers["retry-after"] == str(settings.retry_after_seconds)
        assert body["detail"] == f"The database is unavailable; retry after {settings.retry_after_seconds} seconds."
        assert "127.0.0.1" not in response.text
        assert response.headers["x-request-id"]


async def test_unreachable_database_read_endpoint_answers_503(tmp_path: Path) -> None:
    settings = standalone_settings(UNREACHABLE_POSTGRES, tmp_path)
    async with serving(settings) as (_application, http):
        response = await http.get("/v1/departments", headers=bearer(WELL_SHAPED_TOKEN, **{"Accept-Language": "zh"}))
    body = assert_problem(response, 503, "database_unavailable")
    assert body["title"] == "服务暂不可用"
    assert response.headers["retry-after"] == str(settings.retry_after_seconds)


async def test_unreachable_database_fails_readiness_not_liveness(tmp_path: Path) -> None:
    settings = standalone_settings(UNREACHABLE_POSTGRES, tmp_path)
    async with serving(settings) as (_application, http):
        ready = await http.get("/readyz")
        alive = await http.get("/healthz")
    assert_problem(ready, 503, "database_unavailable")
    assert ready.headers["retry-after"] == str(settings.retry_after_seconds)
    assert alive.status_code == 200
    assert alive.json() == {"status": "ok"}


async def test_readiness_on_a_database_without_tables_is_not_ready(empty_database_url: str,
                                                                   tmp_path: Path) -> None:
    # SQLite: a fresh file path; PostgreSQL: a new, empty database. Reachable, but never migrated.
    settings = standalone_settings(empty_database_url, tmp_path)
    async with serving(settings) as (_application, http):
        ready = await http.get("/readyz")
        alive = await http.get("/healthz")
    assert_problem(ready, 503, "not_ready")
    assert ready.headers["retry-after"] == str(settings.retry_after_seconds)
    assert alive.status_code == 200


async def test_ready_on_a_migrated_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_after_downgrade_to_base_is_not_ready(settings: Settings) -> None:
    migrations.downgrade(settings.database_url, "base")
    async with serving(settings) as (_application, http):
        ready = await http.get("/readyz")
    body = assert_problem(ready, 503, "not_ready")
    assert "zwc db upgrade" in body["detail"]


async def test_readiness_with_unknown_revision_is_not_ready(app: Any, client: httpx.AsyncClient) -> None:
    await sql_write(app, "UPDATE alembic_version SET version_num = 'ffffffffffff'")
    response = await client.get("/readyz", headers={"Accept-Language": "zh-CN"})
    body = assert_problem(response, 503, "not_ready")
    assert body["title"] == "服务未就绪"
    assert response.headers["retry-after"] == "5"


# --- Security headers and request ids -------------------------------------------------------------


ANSWERS: list[tuple[str, str, bool, int]] = [
    ("GET", "/healthz", False, 200),
    ("GET", "/readyz", False, 200),
    ("GET", "/v1/departments", True, 200),
    ("GET", "/v1/me", False, 401),
    ("GET", "/v1/departments/nope", True, 404),
    ("GET", "/nowhere", False, 404),
    ("DELETE", "/v1/departments", True, 405),
]


async def test_security_headers_on_every_answer(client: httpx.AsyncClient, admin: str,
                                                subtests: pytest.Subtests) -> None:
    for method, path, authorized, status in ANSWERS:
        with subtests.test(msg=f"{method}-{path}-{authorized}-{status}"):
            response = await client.request(method, path, headers=bearer(admin) if authorized else {})
            assert response.status_code == status
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["x-frame-options"] == "DENY"
            assert "default-src 'none'" in response.headers["content-security-policy"]
            assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
            if path.startswith("/v1"):
                assert response.headers["cache-control"] == "no-store"


async def test_request_id_is_echoed_in_header_and_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/me", headers={"X-Request-ID": "client-req.42:a_b-c"})
    assert response.headers["x-request-id"] == "client-req.42:a_b-c"
    assert response.json()["request_id"] == "client-req.42:a_b-c"


async def test_request_id_is_echoed_on_success(client: httpx.AsyncClient, admin: str) -> None:
    response = await client.get("/v1/departments", headers=bearer(admin, **{"X-Request-ID": "abc-123"}))
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "abc-123"


async def test_request_ids_differ_between_requests(client: httpx.AsyncClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


INVALID_REQUEST_IDS = ["has space", "x" * 129, "<script>", "a/b", "ünïcode"]


async def test_invalid_request_id_is_replaced(client: httpx.AsyncClient, subtests: pytest.Subtests) -> None:
    for incoming in INVALID_REQUEST_IDS:
        with subtests.test(msg=incoming):
            response = await client.get("/healthz", headers={"X-Request-ID": incoming.encode()})
            assert response.status_code == 200
            assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


# --- CORS -----------------------------------------------------------------------------------------


async def test_no_cors_by_default(client: httpx.AsyncClient, admin: str) -> None:
    preflight = await client.options("/v1/departments", headers={
        "Origin": "https://dash.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "Authorization"})
    assert_problem(preflight, 405, "method_not_allowed")
    assert "access-control-allow-origin" not in preflight.headers
    simple = await client.get("/v1/departments", headers=bearer(admin, Origin="https://dash.example"))
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


async def test_cors_for_configured_origin(app: Any, settings: Settings) -> None:
    admin = await make_token(app, "lead", ["admin"])
    async with serving(settings, cors_origins=["https://dash.example"]) as (_cors_app, http):
        preflight = await http.options("/v1/departments", headers={
            "Origin": "https://dash.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type"})
        simple = await http.get("/v1/departments", headers=bearer(admin, Origin="https://dash.example"))
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://dash.example"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["x-content-type-options"] == "nosniff"
    assert simple.status_code == 200
    assert simple.headers["access-control-allow-origin"] == "https://dash.example"
    assert "X-Request-ID" in simple.headers["access-control-expose-headers"]


async def test_cors_refuses_other_origins(app: Any, settings: Settings) -> None:
    admin = await make_token(app, "lead", ["admin"])
    async with serving(settings, cors_origins=["https://dash.example"]) as (_cors_app, http):
        preflight = await http.options("/v1/departments", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        simple = await http.get("/v1/departments", headers=bearer(admin, Origin="https://evil.example"))
    problem = assert_problem(preflight, 400, "cors_refused")
    assert problem["detail"] == "Disallowed CORS origin."
    assert "access-control-allow-origin" not in preflight.headers
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


# --- Unit of work ---------------------------------------------------------------------------------


async def test_failed_commit_never_answers_2xx(app: Any, client: httpx.AsyncClient, admin: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    audits_before = await audit_count(app)

    async def failing_commit(self: AsyncSession) -> None:
        raise OperationalError("COMMIT", {}, Exception("down"))

    monkeypatch.setattr(AsyncSession, "commit", failing_commit)
    response = await client.post("/v1/departments", headers=bearer(admin), json=NEW_DEPARTMENT)
    monkeypatch.undo()

    assert_problem(response, 503, "database_unavailable")
    assert response.headers["retry-after"] == "5"
    assert "location" not in response.headers
    assert await sql(app, "SELECT code FROM departments WHERE code = 'newdep'") == []
    assert await audit_count(app) == audits_before
    # Once commits work again, the same request succeeds.
    assert (await client.post("/v1/departments", headers=bearer(admin), json=NEW_DEPARTMENT)).status_code == 201


async def test_nul_characters_in_any_input_are_refused_not_a_500(app: Any, client: httpx.AsyncClient) -> None:
    """Found by the fuzz suite: PostgreSQL stores no NUL in text, and a NUL anywhere in the input answered 500."""
    token = await make_token(app, "lead", ["admin", "submissions:write"])
    before = await sql(app, "SELECT COUNT(*) FROM submissions")
    answers = [
        await client.get("/v1/departments/a%00", headers=bearer(token)),
        await client.get("/v1/submissions", params={"indicator": "a\x00"}, headers=bearer(token)),
        await client.post("/v1/submissions", json={"indicator": "a\x00", "period": "2024", "value": 1},
                          headers=bearer(token)),
        await client.post("/v1/submissions", json={"indicator": "2.3.01", "period": "2024", "value": 1,
                                                   "note": "x\x00"}, headers=bearer(token)),
    ]
    # The same answer on both databases (SQLite would store the NUL, or cut text at it: a webhook secret
    # with one failed a length CHECK and answered 409 — found by the fuzz suite on SQLite).
    for answer, place in zip(answers, ["path", "query", "body", "body"], strict=True):
        body = assert_problem(answer, 422, "validation_failed")
        assert [(e["loc"], e["type"]) for e in body["errors"]] == [([place], "nul_character")]
    secret = await client.post("/v1/webhooks", json={"url": "https://zzwf.example.cn/h", "events": ["cell.applied"],
                                                     "secret": "s" * 8 + "\x00" + "s" * 8}, headers=bearer(token))
    assert assert_problem(secret, 422, "validation_failed")["errors"][0]["type"] == "nul_character"
    # A literal backslash-u in text is no NUL.
    cgj = await make_token(app, "cgj", ["submissions:write"])
    literal = await client.post("/v1/submissions", json={"indicator": "2.3.01", "period": "2024", "value": 1,
                                                         "note": "\\u0000 in a note"}, headers=bearer(cgj))
    assert literal.status_code == 201, literal.text
    assert await sql(app, "SELECT COUNT(*) FROM submissions") == [(before[0][0] + 1,)]
    assert await sql(app, "SELECT COUNT(*) FROM webhooks") == [(0,)]


# --- The interactive docs pages -------------------------------------------------------------------


def _inline_script_hashes(html: str) -> set[str]:
    scripts = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    return {"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'" for s in scripts}


async def test_the_docs_pages_allow_only_their_own_scripts(client: httpx.AsyncClient,
                                                           subtests: pytest.Subtests) -> None:
    for path, inline_scripts in (("/docs", 1), ("/redoc", 0)):
        with subtests.test(msg=path):
            response = await client.get(path)
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            assert response.headers["x-content-type-options"] == "nosniff"
            policy = dict(d.strip().split(" ", 1) for d in response.headers["content-security-policy"].split(";"))
            assert policy["default-src"] == "'none'"
            assert policy["frame-ancestors"] == "'none'"
            assert policy["base-uri"] == "'none'"
            script_src = policy["script-src"].split()
            assert "'unsafe-inline'" not in script_src
            assert "'unsafe-eval'" not in script_src
            hashes = _inline_script_hashes(response.text)
            assert len(hashes) == inline_scripts
            assert set(script_src) == {"https://cdn.jsdelivr.net", *hashes}
            for source in re.findall(r'<script src="([^"]+)"', response.text):
                assert source.startswith("https://cdn.jsdelivr.net/npm/")
            assert "fonts.googleapis.com" not in response.text  # unreachable from much of mainland China
            assert "/openapi.json" in response.text
    assert (await client.get("/docs/oauth2-redirect")).status_code == 404


# --- An exhausted connection pool -----------------------------------------------------------------


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_an_exhausted_pool_answers_503_after_the_pool_timeout_not_a_hang(settings: Settings, backend: str,
                                                                               app: Any) -> None:
    """The pool size is a PostgreSQL setting (SQLite has one writer and its own pool)."""
    token = await make_token(app, "sthj", ["submissions:write"])
    async with serving(settings, db_pool_size=1, db_max_overflow=0, db_pool_timeout_seconds=0.5,
                       retry_after_seconds=2) as (application, http):
        assert (await http.get("/v1/me", headers=bearer(token))).status_code == 200
        async with application.state.database.engine.connect() as held:  # the pool's only connection
            await held.execute(text("SELECT 1"))
            started = time.monotonic()
            response = await http.get("/v1/me", headers=bearer(token))
            waited = time.monotonic() - started
        assert_problem(response, 503, "database_unavailable")
        assert response.headers["retry-after"] == "2"
        assert 0.5 <= waited < 5
        assert (await http.get("/v1/me", headers=bearer(token))).status_code == 200


# --- The serving process's garbage collector ------------------------------------------------------


@pytest.mark.parametrize("tuning", [True, False])
async def test_start_up_tunes_the_garbage_collector_unless_told_not_to(settings: Settings, tuning: bool) -> None:
    import gc

    from asgi_lifespan import LifespanManager

    from app.core.runtime import THRESHOLDS

    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    application = create_app(settings.model_copy(update={"gc_tuning": tuning}))
    try:
        async with LifespanManager(application):
            if tuning:
                assert gc.get_threshold() == THRESHOLDS
                assert gc.get_freeze_count() > frozen
            else:
                assert gc.get_threshold() == before
                assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


VERSIONING_GUIDE = (Path(__file__).resolve().parents[1] / "docs" / "VERSIONING.md").read_text(encoding="utf-8")


async def test_the_guides_are_served_as_markdown_and_linked_from_the_docs(client: httpx.AsyncClient) -> None:
    policy = await client.get("/guides/VERSIONING.md")
    assert policy.status_code == 200
    assert policy.headers["content-type"] == "text/markdown; charset=utf-8"
    assert policy.text.startswith("# Versioning policy / 版本策略")
    assert policy.text == VERSIONING_GUIDE
    description = (await client.get("/openapi.json")).json()["info"]["description"]
    for name in ("VERSIONING.md", "OPERATIONS.md"):
        assert f"(/guides/{name})" in description
        assert (await client.get(f"/guides/{name}")).status_code == 200
    # Only the files of docs/ itself, by name: no other path, no traversal.
    assert_problem(await client.get("/guides/NOPE.md"), 404, "not_found")
    for name in ("..%2FREADME.md", "decisions%2F0001-psycopg3-driver.md", "%2Fetc%2Fpasswd"):
        assert_problem(await client.get(f"/guides/{name}"), 404, "route_not_found")
