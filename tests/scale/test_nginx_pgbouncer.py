"""Scale-out on real components (issue 8, item 4): nginx load-balancing two `zwc serve` processes, both
reaching PostgreSQL through PgBouncer in transaction pooling, and the webhook worker as a process of its
own, the topology of docker/compose.yaml with the same PgBouncer and nginx settings files. The main
flows run through nginx and their results are checked exactly, in the API and in the database.

Needs the `pgbouncer` and `nginx` binaries (Debian packages, installed by `scripts/test-scale`, which
`.ci/run` calls); a plain `pytest` does not collect it (ZWC_SCALE=1 does). ZWC_SCALE_POSTGRES_URL names
the PostgreSQL server (default the machine's).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.factories import bearer
from tests.servers import ZWC, free_port, run_checked, start_serve
from tests.test_cells import PASSING
from tests.test_webhooks import Receiver, verify_signature

ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get("ZWC_SCALE_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Stack:
    base: str  # nginx
    database_url: str  # PostgreSQL itself, for checks
    server_logs: list[Path]
    pgbouncer_port: int
    tokens: dict[str, str] = field(default_factory=dict)

    def sql(self, query: str, **params: Any) -> list[Any]:
        engine = create_engine(make_url(self.database_url).set(drivername="postgresql+psycopg"))
        try:
            with engine.connect() as connection:
                return list(connection.execute(text(query), params).all())
        finally:
            engine.dispose()

    def served_by(self, request_id: str) -> list[int]:
        """Which of the two servers logged the request."""
        marker = f'"request_id": "{request_id}"'
        return [index for index, log in enumerate(self.server_logs) if marker in log.read_text()]


def wait_until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not true within {seconds} s")
        time.sleep(0.05)


def _start_pgbouncer(directory: Path, database: str) -> tuple[subprocess.Popen[bytes], int]:
    """PgBouncer with the shared settings file. Assembled, not `%include`d: PgBouncer 1.18 resets a
    section's settings when its header appears a second time, so the file holds one `[pgbouncer]` header,
    the shared file's, and the local settings follow it. Started as root it switches to `postgres`
    (it refuses to run as root), so its directory is open to both."""
    port = free_port()
    directory.chmod(0o777)
    (directory / "userlist.txt").write_text('"postgres" ""\n')
    server = make_url(ADMIN_URL)
    shared = (ROOT / "docker" / "pgbouncer" / "pgbouncer.ini").read_text()
    (directory / "pgbouncer.ini").write_text(
        f"[databases]\n{database} = host={server.host} port={server.port or 5432} dbname={database} user=postgres\n"
        f"{shared}\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\nauth_type = trust\n"
        f"auth_file = {directory / 'userlist.txt'}\nadmin_users = postgres\npidfile = {directory / 'pgbouncer.pid'}\n"
        f"logfile = {directory / 'pgbouncer.log'}\n")
    user = ["-u", "postgres"] if os.geteuid() == 0 else []
    process = subprocess.Popen(["pgbouncer", *user, str(directory / "pgbouncer.ini")],
                               stdout=subprocess.DEVNULL, stderr=(directory / "pgbouncer.err").open("w"))
    wait_until(lambda: subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)]).returncode == 0)
    return process, port


def _start_nginx(directory: Path, upstreams: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / name).mkdir(mode=0o777)
        (directory / name).chmod(0o777)
    servers = "\n".join(f"        server {upstream.removeprefix('http://')};" for upstream in upstreams)
    (directory / "nginx.conf").write_text(f"""
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    map $http_x_request_id $request_id_or_generated {{
        default $http_x_request_id;
        ""      $request_id;
    }}
    upstream zwc_api {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://zwc_api;
            include {ROOT / 'docker' / 'nginx' / 'zwc-proxy.conf'};
        }}
    }}
}}
""")
    process = subprocess.Popen(["nginx", "-p", str(directory), "-c", str(directory / "nginx.conf"),
                                "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                               stderr=(directory / "nginx.err").open("w"))
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(answers)
    return process, base


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Under /tmp itself: pytest's own temporary root is closed to other users, and PgBouncer runs as postgres.
    directory = Path(tempfile.mkdtemp(prefix="zwc-scale-"))
    directory.chmod(0o755)
    admin = create_engine(make_url(ADMIN_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    database = f"zwc_scale_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    direct = make_url(ADMIN_URL).set(database=database).render_as_string(hide_password=False)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        env = {**os.environ, "ZWC_DATABASE_URL": direct, "ZWC_LOG_LEVEL": "INFO"}
        run_checked([ZWC, "db", "upgrade"], env)
        run_checked([ZWC, "seed"], env)
        tokens = {}
        for name, department, scopes in (("zzwf", "zzwf", ["aggregates:read"]), ("nyj", "nyj", ["submissions:write"]),
                                         ("lead", "lead", ["submissions:review"]), ("jyj", "jyj", ["cells:write"]),
                                         ("sthj", "sthj", ["cells:review"])):
            scope_args = [arg for scope in scopes for arg in ("--scope", scope)]
            tokens[name] = run_checked([ZWC, "token", "create", "--department", department, *scope_args],
                                       env).split()[-1]
        pgbouncer, pgbouncer_port = _start_pgbouncer(_made(directory, "pgbouncer"), database)
        processes.append(pgbouncer)
        pooled = make_url(direct).set(host="127.0.0.1", port=pgbouncer_port).render_as_string(hide_password=False)
        files = _made(directory, "files")
        served = {**env, "ZWC_DATABASE_URL": pooled, "ZWC_DATABASE_LISTEN_URL": direct, "ZWC_FILES_DIR": str(files),
                  "ZWC_WEBHOOK_ALLOW_PRIVATE": "1", "ZWC_WEBHOOK_POLL_SECONDS": "0.2", "ZWC_DB_POOL_SIZE": "5",
                  "ZWC_RATE_LIMIT": "100000/minute"}
        logs, upstreams = [], []
        for index in range(2):
            log = directory / f"serve-{index}.log"
            server, base = start_serve(served, "--no-worker", stdout=log)
            processes.append(server)
            logs.append(log)
            upstreams.append(base)
        with (directory / "worker.log").open("w") as out:
            processes.append(subprocess.Popen([ZWC, "worker"], env=served, stdout=out, stderr=subprocess.STDOUT))
        nginx, base = _start_nginx(_made(directory, "nginx"), upstreams)
        processes.append(nginx)
        yield Stack(base=base, database_url=direct, server_logs=logs, pgbouncer_port=pgbouncer_port, tokens=tokens)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(directory, ignore_errors=True)


def _made(directory: Path, name: str) -> Path:
    path = directory / name
    path.mkdir()
    path.chmod(0o755)
    return path


@pytest.fixture
def http(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base, timeout=30) as client:
        yield client


# ------------------------------------------------------------------------------------------------- tests


def test_idempotent_retries_land_on_both_processes_and_create_once(stack: Stack, http: httpx.Client) -> None:
    key = f"scale-{uuid.uuid4().hex}"
    body = {"type": "school", "name": f"扩容测试学校 {key}", "town": "qingpingjie", "address": "青屏大街 2 号"}
    request_ids = [f"scale-retry-{index}-{uuid.uuid4().hex[:8]}" for index in range(8)]
    answers = [http.post("/v1/cells", json=body, headers=bearer(stack.tokens["jyj"], **{
        "Idempotency-Key": key, "X-Request-ID": request_id})) for request_id in request_ids]
    assert [answer.status_code for answer in answers] == [201] * 8, [answer.text for answer in answers]
    assert "Idempotent-Replayed" not in answers[0].headers
    assert all(answer.headers["Idempotent-Replayed"] == "true" for answer in answers[1:])
    assert all(answer.json() == answers[0].json() for answer in answers[1:])
    # nginx spread the retries over both processes. (A server logs a request just after answering it.)
    wait_until(lambda: all(stack.served_by(request_id) for request_id in request_ids), seconds=5)
    served = [stack.served_by(request_id) for request_id in request_ids]
    assert all(len(where) == 1 for where in served), served
    assert {where[0] for where in served} == {0, 1}
    cell_id = answers[0].json()["id"]
    assert stack.sql("SELECT count(*) FROM cells WHERE name = :name", name=body["name"]) == [(1,)]
    assert stack.sql("SELECT count(*) FROM audit_events WHERE entity = 'cell' AND entity_id = :id",
                     id=str(cell_id)) == [(1,)]
    assert stack.sql("SELECT event FROM outbox_events WHERE entity = 'cell' AND entity_id = :id",
                     id=str(cell_id)) == [("cell.applied",)]


def test_an_approval_reaches_the_pull_on_both_processes(stack: Stack, http: httpx.Client) -> None:
    puller, writer, reviewer = stack.tokens["zzwf"], stack.tokens["nyj"], stack.tokens["lead"]

    def pull(**headers: str) -> httpx.Response:
        return http.get("/v1/aggregates", params={"period": "2024"}, headers=bearer(puller, **headers))

    first = pull()
    assert first.status_code == 200, first.text
    etag = first.headers["ETag"]
    (row,) = [item for item in first.json()["indicators"] if item["code"] == "2.2.01"]
    assert row["value"] is None
    # Both processes answer 304 to the unchanged figures (several pulls, round-robin).
    assert [pull(**{"If-None-Match": etag}).status_code for _ in range(6)] == [304] * 6

    created = http.post("/v1/submissions", json={"indicator": "2.2.01", "period": "2024", "numerator": 90,
                                                 "denominator": 100}, headers=bearer(writer))
    assert created.status_code == 201, created.text
    submission = created.json()["id"]
    assert http.post(f"/v1/submissions/{submission}/submit", headers=bearer(writer)).status_code == 200
    approved = http.post(f"/v1/submissions/{submission}/approve", headers=bearer(reviewer))
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["value"]) == ("approved", 90)

    # Each process learns of the approval when PostgreSQL notifies it, a moment after the commit: then
    # every pull, on either process, has the new figures.
    wait_until(lambda: pull(**{"If-None-Match": etag}).status_code == 200, seconds=5)
    for _ in range(6):
        again = pull(**{"If-None-Match": etag})
        assert again.status_code == 200
        assert again.headers["ETag"] != etag
        (row,) = [item for item in again.json()["indicators"] if item["code"] == "2.2.01"]
        # By hand (tests/test_aggregates.py, RATE_2024): 90 / 100 → 90; 100 × 90 / 95 = 94.74, on track.
        assert {key: row[key] for key in ("value", "numerator", "denominator", "score", "status")} == {
            "value": 90, "numerator": 90, "denominator": 100, "score": 94.74, "status": "on_track"}
    assert stack.sql("SELECT status FROM submissions WHERE id = :id", id=submission) == [("approved",)]


def test_a_certified_cell_is_delivered_once_by_the_worker_process(stack: Stack, http: httpx.Client) -> None:
    receiver = Receiver()
    try:
        subscribed = http.post("/v1/webhooks", json={"url": receiver.url, "events": ["cell.certified"]},
                               headers=bearer(stack.tokens["zzwf"]))
        assert subscribed.status_code == 201, subscribed.text
        secret = subscribed.json()["secret"]
        body = {"type": "school", "name": f"认证学校 {uuid.uuid4().hex[:8]}", "town": "qingpingjie",
                "address": "青屏大街 3 号"}
        cell = http.post("/v1/cells", json=body, headers=bearer(stack.tokens["jyj"]))
        assert cell.status_code == 201, cell.text
        cell_id = cell.json()["id"]
        evaluation = http.post(f"/v1/cells/{cell_id}/evaluations", headers=bearer(stack.tokens["sthj"]), json={
            "date": time.strftime("%Y-%m-%d"), "evaluator": "王评审", "items": PASSING})
        assert evaluation.status_code == 201, evaluation.text
        certified = http.post(f"/v1/cells/{cell_id}/certify", headers=bearer(stack.tokens["sthj"]))
        assert certified.status_code == 200, certified.text
        assert certified.json()["status"] == "certified"

        wait_until(lambda: len(receiver.received()) >= 1, seconds=15)
        time.sleep(1.5)  # a second delivery, from any process, would arrive within this
        (delivery,) = receiver.received()
        verify_signature(secret, delivery.headers, delivery.body)
        payload = json.loads(delivery.body)
        assert payload["event"] == "cell.certified"
        assert str(payload["data"]["id"]) == str(cell_id)
        assert stack.sql("SELECT status, attempts FROM webhook_deliveries WHERE webhook_id = :id",
                         id=subscribed.json()["id"]) == [("delivered", 1)]
    finally:
        receiver.close()
    counted = http.get("/v1/aggregates", params={"period": time.strftime("%Y")},
                       headers=bearer(stack.tokens["zzwf"]))
    assert counted.status_code == 200
    (schools,) = [item for item in counted.json()["cells"] if item["type"] == "school"]
    assert schools["certified"] == 1


def test_the_transactions_went_through_pgbouncer(stack: Stack) -> None:
    result = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(stack.pgbouncer_port), "-U", "postgres",
                             "-d", "pgbouncer", "-At", "-c", "SHOW STATS"], capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    database = make_url(stack.database_url).database
    (row,) = [line.split("|") for line in result.stdout.splitlines() if line.split("|")[0] == database]
    assert int(row[1]) > 50, row  # total_xact_count: the requests of the tests above, and more
    # And the servers' own pools hold no direct session besides each worker process's listener.
    direct = stack.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND application_name = 'zwc-data-version'")
    assert direct == [(2,)]
