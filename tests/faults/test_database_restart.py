"""PostgreSQL stops and starts under a running server (SPEC §5 "Database unavailable").

While the database is down every API call answers 503 problem+json with `Retry-After` (never 500,
never a hang), `/readyz` answers 503 and `/healthz` 200; when it is back the service recovers by
itself. This stops the PostgreSQL cluster, so it never runs inside the parallel suite: `.ci/run`
runs it afterwards, alone (`scripts/test-faults`), and a plain `pytest` does not collect it.

ZWC_FAULTS_POSTGRES_URL names the server (default the machine's, 127.0.0.1:5432) and
ZWC_FAULTS_PG_CLUSTER its cluster as `<version> <name>` (default the first version's `main`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.servers import ZWC, start_serve

ADMIN_URL = os.environ.get("ZWC_FAULTS_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RETRY_AFTER = "3"
CELL = {"type": "school", "town": "qingpingjie", "address": "青屏大街 9 号"}


def cluster() -> list[str]:
    named = os.environ.get("ZWC_FAULTS_PG_CLUSTER")
    if named:
        return named.split()
    return [sorted(os.listdir("/etc/postgresql"))[0], "main"]


def pg_ctl(action: str) -> None:
    mode = ["-m", "fast"] if action in ("stop", "restart") else []
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *cluster(), action, *mode], check=True,
                   capture_output=True, timeout=120)


def ensure_running() -> None:
    status = subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *cluster(), "status"], capture_output=True)
    if status.returncode != 0:  # 3: not running
        pg_ctl("start")


def wait_until(check: object, seconds: float) -> float:
    """Poll ``check`` until it answers true; answers the seconds it took, or fails the test."""
    assert callable(check)
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            if check():
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"not true within {seconds} s")


@pytest.fixture
def database() -> Iterator[str]:
    admin = create_engine(make_url(ADMIN_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT",
                          pool_pre_ping=True)
    name = f"zwc_faults_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        ensure_running()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Hammer(threading.Thread):
    """Requests one after another (reads and idempotent creating POSTs) until stopped; counts statuses."""

    def __init__(self, base: str, token: str) -> None:
        super().__init__(daemon=True)
        self.base, self.token = base, token
        self.stopping = threading.Event()
        self.statuses: Counter[str] = Counter()
        self.slowest = 0.0

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base, timeout=30) as client:
            number = 0
            while not self.stopping.is_set():
                number += 1
                for method, path, body in (("GET", "/v1/me", None), ("GET", "/v1/indicators/1.1.01", None),
                                           ("POST", "/v1/cells", {**CELL, "name": f"负载学校{number}"})):
                    extra = {"Idempotency-Key": f"hammer-{number}"} if body else {}
                    started = time.monotonic()
                    try:
                        response = client.request(method, path, json=body, headers={**headers, **extra})
                        self.statuses[f"{method} {response.status_code}"] += 1
                    except httpx.HTTPError as exc:
                        self.statuses[f"{method} {type(exc).__name__}"] += 1
                    self.slowest = max(self.slowest, time.monotonic() - started)


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == RETRY_AFTER
    assert response.headers["x-request-id"]


def test_the_service_answers_503_while_postgresql_is_down_and_recovers_by_itself(database: str,
                                                                                   tmp_path: Path) -> None:
    env = {**os.environ, "ZWC_DATABASE_URL": database, "ZWC_FILES_DIR": str(tmp_path / "files"),
           "ZWC_RETRY_AFTER_SECONDS": RETRY_AFTER, "ZWC_LOG_LEVEL": "INFO"}
    for command in (["db", "upgrade"], ["seed"]):
        subprocess.run([ZWC, *command], env=env, check=True, capture_output=True)
    token = subprocess.run([ZWC, "token", "create", "--department", "jyj", "--scope", "cells:write"], env=env,
                           check=True, capture_output=True, text=True).stdout.split()[-1]
    log = tmp_path / "serve.log"
    server, base = start_serve(env, stdout=log)
    headers = {"Authorization": f"Bearer {token}"}
    hammer = Hammer(base, token)
    try:
        hammer.start()
        wait_until(lambda: hammer.statuses["POST 201"] >= 3, 30)

        pg_ctl("stop")
        try:
            with httpx.Client(base_url=base, timeout=30) as client:
                started = time.monotonic()
                assert_unavailable(client.get("/v1/me", headers=headers))
                body = client.get("/v1/indicators/1.1.01", headers=headers)
                assert_unavailable(body)
                assert body.json()["code"] == "database_unavailable"
                assert_unavailable(client.post("/v1/cells", headers={**headers, "Idempotency-Key": "while-down"},
                                               json={**CELL, "name": "停机时的学校"}))
                assert_unavailable(client.get("/readyz"))
                assert client.get("/healthz").status_code == 200
                assert time.monotonic() - started < 10, "503s must come at once, not after a hang"
                wait_until(lambda: hammer.statuses["POST 503"] >= 2 and hammer.statuses["GET 503"] >= 2, 30)
        finally:
            pg_ctl("start")

        recovered = wait_until(lambda: httpx.get(f"{base}/v1/me", headers=headers, timeout=5).status_code == 200, 60)
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        created = httpx.post(f"{base}/v1/cells", headers={**headers, "Idempotency-Key": "after"},
                             json={**CELL, "name": "恢复后的学校"}, timeout=10)
        assert created.status_code == 201, created.text
        # A key whose request was refused while the database was down runs again afterwards.
        retried = httpx.post(f"{base}/v1/cells", headers={**headers, "Idempotency-Key": "while-down"},
                             json={**CELL, "name": "停机时的学校"}, timeout=10)
        assert retried.status_code == 201, retried.text
        before = sum(hammer.statuses.values())
        wait_until(lambda: sum(hammer.statuses.values()) >= before + 30, 30)
    finally:
        hammer.stopping.set()
        hammer.join(timeout=60)
        server.terminate()
        server.wait(timeout=30)

    seen = dict(hammer.statuses)
    print(f"statuses {seen}; recovered {recovered:.2f} s after the start; slowest answer {hammer.slowest:.2f} s")
    assert set(seen) <= {"GET 200", "GET 503", "POST 201", "POST 503"}, seen
    assert hammer.slowest < 15
    assert server.returncode in (0, -signal.SIGTERM), log.read_text()[-4000:]  # uvicorn re-raises the signal
    output = log.read_text()
    assert " 500" not in "".join(line for line in output.splitlines() if '"zwc.access"' in line)
    assert "Traceback" not in output, output[-4000:]

