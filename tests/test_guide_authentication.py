"""docs/AUTHENTICATION.md and docs/AUTHENTICATION.zh-CN.md run as written.

The two languages carry the same code blocks. The blocks marked `<!-- tested: tests/test_guide_authentication.py -->`
are taken from both files (they must be identical) and run by one `bash`, in order, from the repository's root,
with `API` and `TOKEN` (the bootstrap admin token) set, against a real `zwc serve` on a fresh SQLite database
started with `ZWC_CORS_ORIGINS=https://wfcs.xinmi.gov.cn`, as the guide says; the rate-limit block runs against
a second fresh service started with `ZWC_RATE_LIMIT=5/minute`. Each block's output is checked against what the
guide says comes back, from SPEC §4–§5 and the catalogue (2.3.01 is led by cgj with zjj cooperating; nyj neither
leads nor cooperates on it).

Token ids on the fresh database: bootstrap 1; the `mint` block's cgj 2, cgj (review) 3, nyj 4, lead (review) 5;
sthj 6 (minted with 180 days); zzwf 7 (by `zwc token create`). The draft made by cgj is submission 1.
Also checked here, beyond the blocks: the 401 codes of section 7 that no block shows (`token_unknown`,
`token_expired`), the `WWW-Authenticate` header, the audit trail of minting and revoking, and the default
lifetime of 365 days.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy.orm import Session

from app.auth.models import ApiToken
from app.core.db import create_sync_engine
from tests.test_guide_quickstart import (
    ROOT,
    TOKEN_LINE,
    all_blocks_identical,
    bash_env,
    json_values,
    marked_blocks,
    near,
    run_blocks,
    start,
    stop,
)

GUIDE = "AUTHENTICATION"
ORIGIN = "https://wfcs.xinmi.gov.cn"
RATE_LIMIT_BLOCK = 7


def blocks() -> list[str]:
    found = marked_blocks(GUIDE, "tests/test_guide_authentication.py")
    assert len(found) == 14, "a tested block was added or removed: check it below"
    assert found[RATE_LIMIT_BLOCK].startswith("for i in 1 2 3 4 5 6;")
    return found


def problem(value: object, status: int, code: str, instance: str) -> None:
    assert isinstance(value, dict)
    assert (value["status"], value["code"], value["instance"]) == (status, code, instance), value
    assert {"type", "title", "detail", "request_id"} <= set(value)


def test_the_two_languages_carry_the_same_code_blocks() -> None:
    all_blocks_identical(GUIDE)
    english = (ROOT / "docs" / f"{GUIDE}.md").read_text(encoding="utf-8").splitlines()
    chinese = (ROOT / "docs" / f"{GUIDE}.zh-CN.md").read_text(encoding="utf-8").splitlines()
    assert english[2] == "English · [简体中文](AUTHENTICATION.zh-CN.md)"
    assert chinese[2] == "[English](AUTHENTICATION.md) · 简体中文"


def test_the_guide_runs_as_written(tmp_path: Path) -> None:
    tested = blocks()
    process, base, token, database_url, _log = start(tmp_path, ZWC_CORS_ORIGINS=ORIGIN)
    started = datetime.now(UTC)
    try:
        run = tested[:RATE_LIMIT_BLOCK] + tested[RATE_LIMIT_BLOCK + 1:]
        out = run_blocks(run, bash_env(base, token, database_url), ROOT)
        admin = {"Authorization": f"Bearer {token}"}

        # 0, 1: the helpers; the four tokens minted.
        assert out[0] == out[1] == ""
        listed = httpx.get(f"{base}/v1/tokens", headers=admin, timeout=10).json()["items"]
        assert [(t["id"], t["department"], t["scopes"]) for t in listed][:5] == [
            (1, "lead", ["admin", "indicators:admin"]), (2, "cgj", ["submissions:write"]),
            (3, "cgj", ["submissions:review"]), (4, "nyj", ["submissions:write"]), (5, "lead", ["submissions:review"])]
        # Minted without expires_in_days: a year.
        assert near(listed[1]["expires_at"], started + timedelta(days=365))
        # 2: nyj neither leads nor cooperates on 2.3.01.
        (answer,) = json_values(out[2])
        problem(answer, 403, "not_responsible", "/v1/submissions")
        # 3: cgj's draft is invisible to the lead office's reviewer.
        (answer,) = json_values(out[3])
        problem(answer, 404, "not_found", "/v1/submissions/1")
        assert answer["detail"] == "No submission '1' exists or it is not visible to you."
        # 4: submitted; cgj's own reviewer refused; the lead office approves.
        first, second, third = out[4].splitlines()
        assert first == "submitted"
        (answer,) = json_values(second)
        problem(answer, 403, "self_review", "/v1/submissions/1/approve")
        assert third == "approved"
        # 5: a reporting token cannot pull; Chinese texts.
        (answer,) = json_values(out[5])
        problem(answer, 403, "scope_required", "/v1/aggregates")
        assert (answer["title"], answer["detail"]) == ("权限不足", "此操作需要以下权限之一：aggregates:read。")
        # 6: a malformed token; a token in the URL is no token at all.
        malformed, in_url = json_values(out[6])
        problem(malformed, 401, "token_malformed", "/v1/me")
        problem(in_url, 401, "token_missing", "/v1/me")
        # 7: minted with 180 days.
        (minted,) = json_values(out[7])
        assert (minted["id"], minted["department"], minted["scopes"]) == (6, "sthj", ["submissions:write",
                                                                                     "cells:write"])
        assert TOKEN_LINE.match(minted["token"])
        assert near(minted["expires_at"], started + timedelta(days=180))
        # 8: a department's token lists its own department's tokens only, without secrets.
        (page,) = json_values(out[8])
        assert page["next_cursor"] is None
        (own,) = page["items"]
        assert (own["id"], own["name"], own["department"], own["revoked_at"]) == (6, "生态环境分局填报系统", "sthj",
                                                                                   None)
        assert own["prefix"] == minted["token"][:12]
        assert own["last_used_at"] is not None
        assert minted["token"] not in out[8]
        # 9: the token revokes itself; then it is refused.
        status, after = out[9].splitlines()
        assert status == "204"
        problem(json_values(after)[0], 401, "token_revoked", "/v1/me")
        audit = httpx.get(f"{base}/v1/audit-events", params={"entity": "token", "limit": 500}, headers=admin,
                          timeout=10).json()["items"]
        assert [(e["action"], e["department"], e["token_id"]) for e in audit if e["entity_id"] == "6"] == [
            ("token.created", "lead", 1), ("token.revoked", "sthj", 6)]
        # 10: the CLI mints on the service's database and lists every token.
        lines = out[10].rstrip("\n").splitlines()
        assert re.fullmatch(r"token 7 for zzwf scopes=aggregates:read expires_at=\S+", lines[0]), lines[0]
        assert TOKEN_LINE.match(lines[1])
        assert lines[2] == "id\tprefix\tdepartment\tscopes\texpires_at\trevoked_at\tname"
        rows = [line.split("\t") for line in lines[3:]]
        assert [row[0] for row in rows] == [str(n) for n in range(1, 8)]
        assert rows[5][2:4] == ["sthj", "submissions:write,cells:write"]
        assert rows[5][5] != "-"
        assert rows[6][1:4] + rows[6][5:] == [lines[1][:12], "zzwf", "aggregates:read", "-", "郑州市平台"]
        assert lines[1] not in "\n".join(lines[2:])  # the list never shows a secret
        zz = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {lines[1]}"}, timeout=10).json()
        assert (zz["department"]["kind"], zz["scopes"]) == ("external", ["aggregates:read"])
        # 11: the listed origin's preflight.
        assert out[11].lower().splitlines() == [
            "http/1.1 200 ok",
            "access-control-allow-methods: get, post, patch, put, delete",
            "access-control-allow-headers: accept, accept-language, authorization, content-language, content-type, "
            "idempotency-key, if-match, if-none-match, x-request-id",
            f"access-control-allow-origin: {ORIGIN}",
        ]
        # ... and what its answers expose to the page's script.
        exposed = httpx.get(f"{base}/healthz", headers={"Origin": ORIGIN}, timeout=10).headers
        assert exposed["access-control-allow-origin"] == ORIGIN
        assert exposed["access-control-expose-headers"] == ("ETag, Location, X-Request-ID, Retry-After, "
                                                            "Idempotent-Replayed")
        # 12: any other origin's preflight is refused.
        (refused,) = json_values(out[12])
        assert (refused["status"], refused["code"]) == (400, "cors_refused")

        # Section 7's other 401s.
        unknown = httpx.get(f"{base}/v1/me", headers={"Authorization": "Bearer zwc_" + "A" * 43}, timeout=10)
        assert (unknown.status_code, unknown.json()["code"]) == (401, "token_unknown")
        assert unknown.headers["www-authenticate"] == 'Bearer realm="zwc"'
        expiring = httpx.post(f"{base}/v1/departments/gxj/tokens", json={"scopes": ["submissions:write"]},
                              headers=admin, timeout=10).json()
        engine = create_sync_engine(database_url)
        try:
            with Session(engine) as session:
                row = session.get(ApiToken, expiring["id"])
                assert row is not None
                row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
                session.commit()
        finally:
            engine.dispose()
        expired = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {expiring['token']}"}, timeout=10)
        assert (expired.status_code, expired.json()["code"]) == (401, "token_expired")
    finally:
        stop(process)


def test_the_rate_limit_example(tmp_path: Path) -> None:
    tested = blocks()
    process, base, token, database_url, _log = start(tmp_path, ZWC_RATE_LIMIT="5/minute")
    try:
        (out,) = run_blocks([tested[RATE_LIMIT_BLOCK]], bash_env(base, token, database_url), ROOT)
    finally:
        stop(process)
    statuses, status_line, retry_after, body = out.splitlines()
    assert statuses.split() == ["200"] * 5 + ["429"]
    assert status_line == "HTTP/1.1 429 Too Many Requests"
    seconds = re.fullmatch(r"retry-after: (\d+)", retry_after.lower())
    assert seconds is not None
    assert 1 <= int(seconds.group(1)) <= 60
    (answer,) = json_values(body)
    problem(answer, 429, "rate_limited", "/v1/me")
