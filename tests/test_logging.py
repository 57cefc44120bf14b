"""Structured JSON logs with request ids, and no token or secret in any log line (SPEC §5 Security)."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from app.core.config import Settings
from app.core.logging import JsonFormatter, RedactingFilter, log_config, redact
from tests.factories import bearer, make_token, serving
from tests.servers import start_serve
from tests.test_files import png_bytes

BASE_FIELDS = {"ts", "level", "logger", "msg"}
REQUEST_FIELDS = {"request_id", "method", "path", "status", "duration_ms"}
SIGNATURE = "t=1700000000,v1=" + "ab12" * 16
MALFORMED = "zwc_notreallyatoken-but-long-enough"


def records(text: str) -> list[dict[str, Any]]:
    """Every line parsed as one JSON object with the base fields (a line that is not fails the test)."""
    parsed = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"a log line is not JSON: {line!r}")
        assert isinstance(entry, dict), line
        assert entry.keys() >= BASE_FIELDS, line
        assert datetime.fromisoformat(entry["ts"]).utcoffset() is not None
        assert entry["ts"].endswith("+00:00")
        parsed.append(entry)
    return parsed


def request_record(entries: list[dict[str, Any]], request_id: str) -> dict[str, Any]:
    (record,) = [e for e in entries if e["logger"] == "zwc.access" and e.get("request_id") == request_id]
    assert record.keys() >= REQUEST_FIELDS, record
    assert "?" not in record["path"]
    assert isinstance(record["duration_ms"], int | float)
    assert record["duration_ms"] >= 0
    return record


def assert_no_secrets(output: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in output, f"a secret reached the logs: {secret[:12]}…"
    # Nothing shaped like a token, a generated webhook secret or a signature, whoever it belongs to.
    assert not re.search(r"zwc_[A-Za-z0-9_-]{8,}", output)
    assert not re.search(r"whsec_[A-Za-z0-9_-]+", output)
    assert not re.search(r"v1=[0-9a-fA-F]{8,}", output)


async def test_every_log_line_is_json_with_request_ids_and_no_secrets(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets: list[str] = []
    async with serving(settings, raise_app_exceptions=False) as (application, http):
        admin = await make_token(application, "lead", ["admin"], name="admin")
        secrets.append(admin)

        async def boom() -> dict[str, str]:
            # An exception message carrying secrets: its traceback is logged, and must be masked.
            raise RuntimeError(f"failed with Authorization: Bearer {admin} and X-ZWC-Signature: {SIGNATURE}")

        async def unavailable() -> dict[str, str]:
            raise OperationalError("SELECT 1", {}, ConnectionError("connection refused"))

        application.add_api_route("/v1/boom", boom, methods=["GET"])
        application.add_api_route("/v1/unavailable", unavailable, methods=["GET"])
        capsys.readouterr()
        logging.getLogger("zwc.test").setLevel(logging.DEBUG)
        calls: list[tuple[str, int, httpx.Response]] = []

        async def call(label: str, status: int, method: str, url: str, **kwargs: Any) -> httpx.Response:
            response = await http.request(method, url, **kwargs)
            assert response.status_code == status, (label, response.text)
            calls.append((label, status, response))
            return response

        minted = await call("mint", 201, "POST", "/v1/departments/jyj/tokens", json={"scopes": ["cells:write"]},
                            headers=bearer(admin))
        secrets.append(minted.json()["token"])
        hook = await call("webhook", 201, "POST", "/v1/webhooks",
                          json={"url": "http://127.0.0.1:9/hook", "events": ["cell.applied"]}, headers=bearer(admin))
        secrets.append(hook.json()["secret"])
        assert hook.json()["secret"].startswith("whsec_")
        await call("authenticated", 200, "GET", "/v1/departments?limit=5&token=" + admin, headers=bearer(admin))
        await call("malformed", 401, "GET", "/v1/departments", headers=bearer(MALFORMED))
        await call("missing", 401, "GET", "/v1/departments")
        await call("not found", 404, "GET", "/v1/departments/nosuchdepartment", headers=bearer(admin))
        await call("invalid", 422, "POST", "/v1/departments", json={"code": "x", "unknown": 1},
                   headers=bearer(admin))
        await call("upload", 201, "POST", "/v1/files", files={"file": ("a.png", png_bytes(b"log-test"))},
                   headers={**bearer(await make_token(application, "sthj", ["submissions:write"])),
                            "X-Request-ID": "upload-1"})
        await call("boom", 500, "GET", "/v1/boom", headers={**bearer(admin), "X-ZWC-Signature": SIGNATURE})
        await call("unavailable", 503, "GET", "/v1/unavailable", headers=bearer(admin))
        # Straight from application code, the filter masks what a careless message would carry.
        logging.getLogger("zwc.test").warning("headers %s", {"Authorization": f"Bearer {admin}"})

    output = capsys.readouterr().err
    entries = records(output)
    assert_no_secrets(output, [*secrets, MALFORMED, SIGNATURE.split("v1=")[1]])

    for label, status, response in calls:
        record = request_record(entries, response.headers["x-request-id"])
        assert record["status"] == status, label
        assert record["method"] == response.request.method
        assert record["path"] == response.request.url.path
    by_label = {label: request_record(entries, response.headers["x-request-id"]) for label, _, response in calls}
    assert by_label["upload"]["request_id"] == "upload-1"
    assert by_label["authenticated"]["department"] == "lead"
    assert isinstance(by_label["authenticated"]["token_id"], int)
    for label in ("malformed", "missing"):
        assert "department" not in by_label[label]
        assert "token_id" not in by_label[label]
    assert by_label["boom"]["level"] == "ERROR"
    assert by_label["boom"]["exc_type"] == "RuntimeError"
    assert by_label["mint"]["level"] == "INFO"
    assert by_label["unavailable"]["level"] == "WARNING"  # the database away is not a fault of this service

    # The 500's traceback is logged once, at ERROR, with its request id; no other record carries one.
    boom_id = by_label["boom"]["request_id"]
    (error,) = [e for e in entries if "exc" in e]
    assert error["level"] == "ERROR"
    assert error["request_id"] == boom_id
    assert error["exc_type"] == "RuntimeError"
    assert "Traceback" in error["exc"]
    assert "Bearer ***" in error["exc"]
    assert "v1=***" in error["exc"]
    (careless,) = [e for e in entries if e["logger"] == "zwc.test"]
    assert "Bearer ***" in careless["msg"]


def test_redaction_masks_each_kind_of_secret() -> None:
    token = "zwc_" + "Ab9_-" * 8 + "xyz"
    cases = {
        f"Bearer {token}": "Bearer ***",
        f"got {token}.": "got zwc_***.",
        "secret whsec_0123456789abcdefABCDEF-_x": "secret whsec_***",
        "Authorization: Basic dXNlcjpwYXNz": "Authorization: Basic ***",
        "{'authorization': 'opaque-value'}": "{'authorization': '***'}",
        f"X-ZWC-Signature: {SIGNATURE}": "X-ZWC-Signature: t=1700000000,v1=***",
        "nothing secret here: v1 of /v1/departments": "nothing secret here: v1 of /v1/departments",
    }
    for raw, expected in cases.items():
        assert redact(raw) == expected


def test_filter_masks_arguments_extras_and_tracebacks() -> None:
    token = "zwc_abcdefghijklmnop"
    try:
        raise ValueError(f"bad {token}")
    except ValueError:
        record = logging.LogRecord("zwc.x", logging.ERROR, __file__, 1, "token %s sig %s", (token, SIGNATURE),
                                   sys.exc_info())
    record.path = f"/v1/x/{token}"
    assert RedactingFilter().filter(record)
    line = JsonFormatter().format(record)
    assert token not in line
    assert SIGNATURE not in line
    entry = json.loads(line)
    assert entry["msg"] == "token zwc_*** sig t=1700000000,v1=***"
    assert entry["path"] == "/v1/x/zwc_***"
    assert entry["exc_type"] == "ValueError"
    assert "bad zwc_***" in entry["exc"]


def test_log_level_setting_and_uvicorn_config() -> None:
    assert Settings(_env_file=None).log_level == "INFO"  # type: ignore[call-arg]
    config = log_config("WARNING")
    assert config["root"]["level"] == "WARNING"
    assert config["loggers"]["uvicorn.access"]["propagate"] is False
    assert config["loggers"]["uvicorn.error"]["propagate"] is True


def test_zwc_serve_writes_only_json_lines_without_secrets(tmp_path: Path) -> None:
    """The real server: uvicorn's own lines are JSON too, its access log is replaced by ours."""
    env = {**os.environ, "ZWC_DATABASE_URL": f"sqlite:///{tmp_path / 'zwc.db'}",
           "ZWC_FILES_DIR": str(tmp_path / "files"), "ZWC_LOG_LEVEL": "INFO"}
    stdout, stderr = tmp_path / "serve.out", tmp_path / "serve.err"
    process, base = start_serve(env, "--no-worker", stdout=stdout, stderr=stderr)
    try:
        admin = stdout.read_text().split("keep it safe:\n")[1].splitlines()[0]
        assert admin.startswith("zwc_")
        minted = httpx.post(f"{base}/v1/departments/jyj/tokens", json={"scopes": ["cells:write"]},
                            headers=bearer(admin), timeout=10)
        assert minted.status_code == 201
        listed = httpx.get(f"{base}/v1/departments?token={admin}", headers=bearer(admin), timeout=10)
        refused = httpx.get(f"{base}/v1/departments", headers=bearer(MALFORMED), timeout=10)
        assert (listed.status_code, refused.status_code) == (200, 401)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
    output = stderr.read_text()
    entries = records(output)
    assert_no_secrets(output, [admin, minted.json()["token"], MALFORMED])
    assert any(e["logger"].startswith("uvicorn") for e in entries), output
    assert not any(e["logger"] == "uvicorn.access" for e in entries)
    record = request_record(entries, listed.headers["x-request-id"])
    assert (record["status"], record["path"], record["department"]) == (200, "/v1/departments", "lead")
    assert request_record(entries, refused.headers["x-request-id"])["status"] == 401
