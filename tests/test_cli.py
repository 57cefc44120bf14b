"""The `zwc` command-line tool: seed, tokens, migrations, and `serve` on an empty database."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from typer.testing import CliRunner

from app.catalogue import loader
from app.cli import cli, prepare_database
from app.core import migrations
from app.core.config import get_settings
from app.core.db import create_sync_engine
from app.core.migrations import head_revisions
from app.indicators.schemas import YearValue
from tests.servers import ZWC, start_serve
from tests.test_webhooks import Receiver

runner = CliRunner()
TOKEN_LINE = re.compile(r"^zwc_[A-Za-z0-9_-]{43}$")


@pytest.fixture
def use_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Point the CLI (which reads ZWC_DATABASE_URL) at a given database."""

    def point(url: str) -> None:
        monkeypatch.setenv("ZWC_DATABASE_URL", url)
        get_settings.cache_clear()

    yield point
    get_settings.cache_clear()


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_sync_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def counts(url: str) -> dict[str, int]:
    tables = ["departments", "towns", "cell_types", "cell_criteria", "cell_type_criteria", "cells", "indicators",
              "indicator_versions", "indicator_cooperators", "audit_events", "api_tokens"]
    return {table: int(query(url, f"SELECT count(*) FROM {table}")[0][0]) for table in tables}


def invoke(*args: str) -> str:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_seed_on_an_empty_database_loads_the_whole_catalogue(empty_database_url: str, use_database) -> None:
    use_database(empty_database_url)
    invoke("db", "upgrade")
    output = invoke("seed")
    assert "indicator.created: 48" in output
    found = counts(empty_database_url)
    # 20 departments, 18 towns, 10 cell types, 7 criteria, every one of which applies to all 10 types: 70 links.
    assert found["departments"] == 20
    assert found["towns"] == 18
    assert found["cell_types"] == 10
    assert found["cell_criteria"] == 7
    assert found["cell_type_criteria"] == 70
    # The plan's three named scenic areas, planned, applied for by wlj (the scenic type's department).
    assert found["cells"] == 3
    assert sorted(query(empty_database_url, "SELECT name, town, type, status, department FROM cells")) == [
        ("三泉湖景区", "chengguan", "scenic", "planned", "wlj"),
        ("伏羲山红石林景区", "fuxishan", "scenic", "planned", "wlj"),
        ("银基国际旅游度假区", "micun", "scenic", "planned", "wlj"),
    ]
    assert found["indicators"] == 48
    assert found["indicator_versions"] == 48
    kinds = dict(query(empty_database_url, "SELECT kind, count(*) FROM indicator_versions GROUP BY kind"))
    assert kinds == {"mandatory": 24, "optional": 22, "self_selected": 2}
    sources = dict(query(empty_database_url, "SELECT source, count(*) FROM indicator_versions GROUP BY source"))
    assert sources == {"submissions": 46, "cells": 2}


def test_seed_twice_changes_nothing(database_url: str, use_database) -> None:
    use_database(database_url)
    before = counts(database_url)
    output = invoke("seed")
    assert output.strip() == "catalogue up to date: nothing changed"
    assert counts(database_url) == before


def test_a_changed_catalogue_entry_becomes_a_new_version(
    database_url: str, use_database, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(database_url)
    original = loader.indicators

    def changed() -> list[loader.CatalogueIndicator]:
        entries = original()
        result = []
        for entry in entries:
            if entry.body.code == "1.4.03":
                body = entry.body.model_copy(update={"targets": [YearValue(year=2030, value=100.0)]})
                entry = loader.CatalogueIndicator(body=body, digest=loader.digest_of(body))
            result.append(entry)
        return result

    monkeypatch.setattr(loader, "indicators", changed)
    assert "indicator.revised: 1" in invoke("seed")
    versions = query(database_url, """
        SELECT v.version, m.year, m.value FROM indicator_versions v JOIN indicators i ON i.id = v.indicator_id
        LEFT JOIN indicator_milestones m ON m.version_id = v.id WHERE i.code = '1.4.03' ORDER BY v.version""")
    assert versions == [(1, 2025, 99.5), (2, 2030, 100.0)]
    assert query(database_url, "SELECT latest_version FROM indicators WHERE code = '1.4.03'") == [(2,)]
    # Idempotent again with the changed catalogue.
    assert invoke("seed").strip() == "catalogue up to date: nothing changed"


def test_seed_loads_the_english_town_names(empty_database_url: str, use_database) -> None:
    use_database(empty_database_url)
    invoke("db", "upgrade")
    invoke("seed")
    towns = query(empty_database_url, "SELECT code, name_zh, name_en, kind FROM towns ORDER BY code")
    assert len(towns) == 18
    assert [town for town in towns if town[0] in ("fuxishan", "qingpingjie", "yuanzhuang", "micun")] == [
        ("fuxishan", "伏羲山旅游开发区", "Fuxishan Tourism Development Zone", "district"),
        ("micun", "米村镇", "Micun Town", "town"),
        ("qingpingjie", "青屏街街道", "Qingpingjie Subdistrict", "subdistrict"),
        ("yuanzhuang", "袁庄乡", "Yuanzhuang Township", "township"),
    ]
    assert [town for town in towns if not town[2]] == []


def test_towns_seeded_before_the_english_names_get_them_on_the_next_seed(empty_database_url: str,
                                                                         use_database) -> None:
    """The migration adds `name_en` empty (null); the next `zwc seed` fills it in, and the one after changes
    nothing."""
    use_database(empty_database_url)
    head = next(iter(head_revisions()))
    before_names = ScriptDirectory.from_config(migrations.alembic_config(empty_database_url)).get_revision(head)
    assert before_names is not None
    invoke("db", "upgrade", str(before_names.down_revision))
    engine = create_sync_engine(empty_database_url)
    with engine.begin() as connection:  # as an earlier seed left them
        connection.execute(text("INSERT INTO towns (code, name_zh, kind) VALUES ('micun', '米村镇', 'town'), "
                                "('fuxishan', '伏羲山旅游开发区', 'district')"))
    engine.dispose()
    invoke("db", "upgrade")
    assert query(empty_database_url, "SELECT code, name_en FROM towns ORDER BY code") == [("fuxishan", None),
                                                                                         ("micun", None)]
    output = invoke("seed")
    assert "town.created: 16" in output
    assert "town.updated: 2" in output
    assert query(empty_database_url, "SELECT code, name_en FROM towns WHERE code IN ('micun', 'fuxishan') "
                                     "ORDER BY code") == [("fuxishan", "Fuxishan Tourism Development Zone"),
                                                          ("micun", "Micun Town")]
    updated = query(empty_database_url, "SELECT entity_id FROM audit_events WHERE action = 'town.updated' "
                                        "ORDER BY entity_id")
    assert updated == [("fuxishan",), ("micun",)]
    assert invoke("seed").strip() == "catalogue up to date: nothing changed"


def test_seed_keeps_revisions_made_through_the_api(database_url: str, use_database) -> None:
    use_database(database_url)
    engine = create_sync_engine(database_url)
    # Simulate the lead office's revision: a version 2 without a catalogue digest.
    with engine.begin() as connection:
        connection.execute(text("""
            INSERT INTO indicator_versions (indicator_id, version, valid_from, name_zh, name_en, category,
                group_name, kind, unit, value_type, direction, frequency, baseline_year, baseline_value,
                min_value, max_value, lead_department, weight, definition, source, numerator_label,
                denominator_label, provenance, catalogue_digest, created_at, created_by_token_id)
            SELECT indicator_id, 2, valid_from, name_zh, name_en, category, group_name, kind, unit, value_type,
                direction, frequency, baseline_year, baseline_value, min_value, max_value, lead_department, weight,
                definition, source, numerator_label, denominator_label, provenance, NULL, created_at, NULL
            FROM indicator_versions WHERE indicator_id = (SELECT id FROM indicators WHERE code = '2.3.01')"""))
        connection.execute(text("""
            INSERT INTO indicator_milestones (version_id, year, value)
            SELECT v.id, 2030, 42 FROM indicator_versions v JOIN indicators i ON i.id = v.indicator_id
            WHERE i.code = '2.3.01' AND v.version = 2"""))
        connection.execute(text("UPDATE indicators SET latest_version = 2 WHERE code = '2.3.01'"))
    engine.dispose()
    assert invoke("seed").strip() == "catalogue up to date: nothing changed"
    assert query(database_url, "SELECT latest_version FROM indicators WHERE code = '2.3.01'") == [(2,)]


def test_token_create_prints_the_token_alone_on_the_last_line(database_url: str, use_database) -> None:
    use_database(database_url)
    output = invoke("token", "create", "--department", "sthj", "--scope", "submissions:write",
                    "--scope", "cells:write", "--name", "field app", "--expires-in", "10")
    secret = output.strip().splitlines()[-1]
    assert TOKEN_LINE.match(secret)
    rows = query(database_url, "SELECT department, token_hash, name, prefix FROM api_tokens")
    assert rows == [("sthj", hashlib.sha256(secret.encode()).hexdigest(), "field app", secret[:12])]
    listed = invoke("token", "list")
    assert secret[:12] in listed
    assert secret not in listed


def test_token_create_refuses_unknown_scopes_and_departments(database_url: str, use_database) -> None:
    use_database(database_url)
    result = runner.invoke(cli, ["token", "create", "--department", "sthj", "--scope", "root"])
    assert result.exit_code != 0
    result = runner.invoke(cli, ["token", "create", "--department", "nowhere", "--scope", "admin"])
    assert result.exit_code != 0
    assert query(database_url, "SELECT count(*) FROM api_tokens") == [(0,)]


def test_token_revoke(database_url: str, use_database) -> None:
    use_database(database_url)
    invoke("token", "create", "--department", "sthj", "--scope", "submissions:write")
    assert "token 1 revoked" in invoke("token", "revoke", "1")
    assert query(database_url, "SELECT revoked_at IS NOT NULL FROM api_tokens") in ([(True,)], [(1,)])
    result = runner.invoke(cli, ["token", "revoke", "999"])
    assert result.exit_code == 1


def test_db_commands(empty_database_url: str, use_database) -> None:
    use_database(empty_database_url)
    invoke("db", "upgrade")
    (head,) = head_revisions()
    assert query(empty_database_url, "SELECT version_num FROM alembic_version") == [(head,)]
    invoke("db", "current")
    invoke("db", "downgrade", "base")
    assert query(empty_database_url, "SELECT count(*) FROM alembic_version") == [(0,)]


def test_prepare_database_mints_the_bootstrap_token_once(empty_database_url: str, use_database) -> None:
    use_database(empty_database_url)
    secret = prepare_database()
    assert secret is not None
    assert TOKEN_LINE.match(secret)
    assert prepare_database() is None
    assert query(empty_database_url, "SELECT department, name FROM api_tokens") == [("lead", "bootstrap admin")]
    assert counts(empty_database_url)["indicators"] == 48


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_replicas_preparing_an_empty_database_at_once_upgrade_seed_and_mint_once(empty_database_url: str) -> None:
    """Several `zwc serve` replicas starting together (docker/compose.yaml without its migrate service):
    migrations and the preparation each take an advisory lock, so one does the work and the rest find it
    done."""
    script = "from app.cli import prepare_database; print(prepare_database() is not None)"
    env = {**os.environ, "ZWC_DATABASE_URL": empty_database_url, "ZWC_LOG_LEVEL": "WARNING"}
    python = str(Path(ZWC).parent / "python")
    replicas = [subprocess.Popen([python, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(3)]
    outcomes = [replica.communicate(timeout=120) for replica in replicas]
    assert [replica.returncode for replica in replicas] == [0, 0, 0], [err[-2000:] for _, err in outcomes]
    assert sorted(out.strip() for out, _ in outcomes) == ["False", "False", "True"]  # one minted the token
    (head,) = head_revisions()
    assert query(empty_database_url, "SELECT version_num FROM alembic_version") == [(head,)]
    assert query(empty_database_url, "SELECT department, name FROM api_tokens") == [("lead", "bootstrap admin")]
    assert counts(empty_database_url)["indicators"] == 48


def test_serve_on_an_empty_database_prints_a_working_admin_token(empty_database_url: str, tmp_path: Path) -> None:
    """The README's flow: start on an empty database, read the token, read indicators with it."""
    env = {**os.environ, "ZWC_DATABASE_URL": empty_database_url, "ZWC_FILES_DIR": str(tmp_path / "files")}
    log = tmp_path / "serve.log"
    process, base = start_serve(env, stdout=log)
    try:
        tokens = [line for line in log.read_text().splitlines() if TOKEN_LINE.match(line)]
        assert len(tokens) == 1
        response = httpx.get(f"{base}/v1/indicators?limit=500",
                             headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=5)
        assert response.status_code == 200
        assert len(response.json()["items"]) == 48
    finally:
        process.terminate()
        process.wait(timeout=20)


# ------------------------------------------------------------------------------------------ webhooks


def test_worker_help() -> None:
    output = invoke("worker", "--help")
    assert "Deliver webhooks from the outbox until interrupted" in output


def _start_serve(tmp_path: Path, database_url: str, *args: str) -> tuple[subprocess.Popen[bytes], str, str, Path]:
    """`zwc serve` on a fresh database; answers the process, its base URL, the bootstrap token and its log."""
    env = {**os.environ, "ZWC_DATABASE_URL": database_url, "ZWC_FILES_DIR": str(tmp_path / "files"),
           "ZWC_WEBHOOK_ALLOW_PRIVATE": "1"}
    log = tmp_path / "serve.log"
    process, base = start_serve(env, *args, stdout=log)
    (token,) = [line for line in log.read_text().splitlines() if TOKEN_LINE.match(line)]
    return process, base, token, log


def _subscribe_and_apply(base: str, admin: str, receiver_url: str) -> float:
    """Subscribe to `cell.applied`, then apply for a school with a jyj token minted over HTTP; answers the
    moment the application was committed (its 201 received)."""
    auth = {"Authorization": f"Bearer {admin}"}
    hook = httpx.post(f"{base}/v1/webhooks", json={"url": receiver_url, "events": ["cell.applied"]}, headers=auth,
                      timeout=10)
    assert hook.status_code == 201, hook.text
    minted = httpx.post(f"{base}/v1/departments/jyj/tokens", json={"scopes": ["cells:write"]}, headers=auth,
                        timeout=10)
    assert minted.status_code == 201, minted.text
    cell = httpx.post(f"{base}/v1/cells", json={"type": "school", "name": "新密市第一高级中学", "town": "qingpingjie"},
                      headers={"Authorization": f"Bearer {minted.json()['token']}"}, timeout=10)
    assert cell.status_code == 201, cell.text
    return time.monotonic()


def _wait_for(receiver: Receiver, count: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while len(receiver.received()) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_serve_delivers_webhooks_in_process_within_five_seconds(tmp_path: Path) -> None:
    receiver = Receiver()
    process, base, admin, log = _start_serve(tmp_path, f"sqlite:///{tmp_path / 'zwc.db'}")
    try:
        committed = _subscribe_and_apply(base, admin, receiver.url)
        _wait_for(receiver, 1, 5)
        assert time.monotonic() - committed < 5, log.read_text()
        (request,) = receiver.received()
        assert request.headers["X-ZWC-Event"] == "cell.applied"
        body = request.json()
        assert (body["event"], body["data"]["name"], body["data"]["status"]) == (
            "cell.applied", "新密市第一高级中学", "applied")
        assert request.headers["X-ZWC-Delivery"] == str(body["id"])
    finally:
        process.terminate()
        process.wait(timeout=20)
        receiver.close()
    assert log.read_text().count(admin) == 1  # the bootstrap token is printed once, never logged


def test_serve_without_worker_leaves_delivery_to_zwc_worker(tmp_path: Path) -> None:
    receiver = Receiver()
    database_url = f"sqlite:///{tmp_path / 'zwc.db'}"
    process, base, admin, _log = _start_serve(tmp_path, database_url, "--no-worker")
    worker: subprocess.Popen[bytes] | None = None
    worker_log = tmp_path / "worker.log"
    try:
        _subscribe_and_apply(base, admin, receiver.url)
        time.sleep(2.5)  # the in-process worker would have delivered within ~1 s
        assert receiver.received() == []
        env = {**os.environ, "ZWC_DATABASE_URL": database_url, "ZWC_WEBHOOK_ALLOW_PRIVATE": "1"}
        with worker_log.open("w") as out:
            worker = subprocess.Popen([ZWC, "worker"], env=env, stdout=out,
                                      stderr=subprocess.STDOUT)
        _wait_for(receiver, 1, 10)
        assert [r.headers["X-ZWC-Event"] for r in receiver.received()] == ["cell.applied"]
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0
        text_log = worker_log.read_text()
        assert "webhook worker started" in text_log
        assert "webhook worker stopped" in text_log
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
        process.terminate()
        process.wait(timeout=20)
        receiver.close()


# ------------------------------------------------------------------------------------------ shutdown


def test_sigterm_lets_a_request_in_flight_finish_then_exits_cleanly(empty_database_url: str, tmp_path: Path) -> None:
    """`docker stop` (SIGTERM): the server stops taking connections, finishes the request it is reading,
    answers it, and exits with status 0 (issue 8, item 3)."""
    import json
    import socket

    process, base, admin, _ = _start_serve(tmp_path, empty_database_url, "--no-worker")
    port = int(base.rsplit(":", 1)[1])
    minted = httpx.post(f"{base}/v1/departments/jyj/tokens", json={"scopes": ["cells:write"]},
                        headers={"Authorization": f"Bearer {admin}"}, timeout=10)
    assert minted.status_code == 201, minted.text
    body = json.dumps({"type": "school", "name": "停机测试学校", "town": "qingpingjie",
                       "address": "青屏大街 8 号"}, ensure_ascii=False).encode()
    head = (f"POST /v1/cells HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {minted.json()['token']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(head + body[:10])  # the request is in flight: half its body sent
            time.sleep(0.3)
            process.send_signal(signal.SIGTERM)
            time.sleep(1.0)
            assert process.poll() is None  # still running: waiting for the request to finish
            with pytest.raises(httpx.ConnectError):  # and no longer taking new connections
                httpx.get(f"{base}/healthz", timeout=2)
            connection.sendall(body[10:])
            answer = b""
            while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < 2:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 201 "), answer[:200]
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert query(empty_database_url, "SELECT status FROM cells WHERE name = '停机测试学校'") == [("applied",)]
