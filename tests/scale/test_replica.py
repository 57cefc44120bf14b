"""Read replica (issue 8, item 5): with ZWC_DATABASE_READ_URL naming a real streaming replica (a second
PostgreSQL cluster made with `pg_basebackup`), the scores, aggregates and change feed are read from it,
everything else from the primary; an approval reaches Zhengzhou's pull once the replica has replayed it.

The test makes its own primary and standby clusters (initdb, pg_basebackup -R, pg_ctl) in a temporary
directory on free ports, so it needs the PostgreSQL server binaries, not the machine's cluster; run by
`scripts/test-scale` (ZWC_SCALE=1).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.main import create_app
from tests.servers import ZWC, free_port, run_checked

PG_BIN = Path("/usr/lib/postgresql") / sorted(os.listdir("/usr/lib/postgresql"))[-1] / "bin"


@dataclass
class Replication:
    primary: str
    standby: str
    directory: Path


def _as_postgres(*command: str) -> list[str]:
    """The server binaries refuse to run as root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


def _query(url: str, sql: str) -> Any:
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            result = connection.execute(text(sql))
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


def _start(data: Path, port: int, log: Path, socket_dir: Path) -> None:
    options = f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1"
    run_checked(_as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"))


@pytest.fixture(scope="module")
def replication() -> Iterator[Replication]:
    directory = Path(tempfile.mkdtemp(prefix="zwc-replica-"))
    directory.chmod(0o777)
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
    primary, standby = directory / "primary", directory / "standby"
    primary_port, standby_port = free_port(), free_port()
    started: list[Path] = []
    try:
        run_checked(_as_postgres(str(PG_BIN / "initdb"), "-D", str(primary), "--auth=trust", "-U", "postgres"))
        _start(primary, primary_port, directory / "primary.log", directory)
        started.append(primary)
        run_checked(_as_postgres(str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary_port),
                                 "-U", "postgres", "-D", str(standby), "-R", "-X", "stream"))
        _start(standby, standby_port, directory / "standby.log", directory)
        started.append(standby)
        primary_url = f"postgresql://postgres@127.0.0.1:{primary_port}/zwc"
        standby_url = f"postgresql://postgres@127.0.0.1:{standby_port}/zwc"
        _query(f"postgresql://postgres@127.0.0.1:{primary_port}/postgres", "CREATE DATABASE zwc")
        env = {**os.environ, "ZWC_DATABASE_URL": primary_url}
        run_checked([ZWC, "db", "upgrade"], env)
        run_checked([ZWC, "seed"], env)
        yield Replication(primary=primary_url, standby=standby_url, directory=directory)
    finally:
        for data in reversed(started):
            subprocess.run(_as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"),
                           capture_output=True, timeout=60, check=False)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def client(replication: Replication) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=replication.primary, database_read_url=replication.standby,
                        files_dir=replication.directory / "files", rate_limit="", log_level="WARNING",
                        _env_file=None)  # type: ignore[call-arg]
    application = create_app(settings)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application),
                                     base_url="http://testserver") as http:
            yield http
    finally:
        await application.state.database.dispose()


def token(replication: Replication, department: str, scope: str) -> str:
    env = {**os.environ, "ZWC_DATABASE_URL": replication.primary}
    return run_checked([ZWC, "token", "create", "--department", department, "--scope", scope], env).split()[-1]


async def test_an_approval_reaches_the_aggregates_through_the_replica(replication: Replication,
                                                                     client: httpx.AsyncClient) -> None:
    assert _query(replication.standby, "SELECT pg_is_in_recovery()") is True
    puller, writer, reviewer = (token(replication, "zzwf", "aggregates:read"),
                                token(replication, "nyj", "submissions:write"),
                                token(replication, "lead", "submissions:review"))

    async def rate_row() -> dict[str, Any]:
        response = await client.get("/v1/aggregates", params={"period": "2024"},
                                    headers={"Authorization": f"Bearer {puller}"})
        assert response.status_code == 200, response.text
        (row,) = [item for item in response.json()["indicators"] if item["code"] == "2.2.01"]
        return {key: row[key] for key in ("value", "numerator", "denominator", "score", "status")}

    assert (await rate_row())["value"] is None

    # Replay paused on the standby: the approval commits on the primary, the pull does not see it.
    _query(replication.standby, "SELECT pg_wal_replay_pause()")
    try:
        created = await client.post("/v1/submissions", headers={"Authorization": f"Bearer {writer}"}, json={
            "indicator": "2.2.01", "period": "2024", "numerator": 90, "denominator": 100})
        assert created.status_code == 201, created.text
        submission = created.json()["id"]
        submitted = await client.post(f"/v1/submissions/{submission}/submit",
                                      headers={"Authorization": f"Bearer {writer}"})
        assert submitted.status_code == 200, submitted.text
        approved = await client.post(f"/v1/submissions/{submission}/approve",
                                     headers={"Authorization": f"Bearer {reviewer}"})
        assert approved.status_code == 200, approved.text
        # What the request that wrote reads comes from the primary: the approval, at once.
        read_back = await client.get(f"/v1/submissions/{submission}", headers={"Authorization": f"Bearer {reviewer}"})
        assert read_back.json()["status"] == "approved"
        for _ in range(3):
            assert (await rate_row())["value"] is None  # the replica has not replayed it
        changes = await client.get("/v1/changes", params={"limit": "500"},
                                   headers={"Authorization": f"Bearer {puller}"})
        assert "submission.approved" not in [item["event"] for item in changes.json()["items"]]
    finally:
        _query(replication.standby, "SELECT pg_wal_replay_resume()")

    # Replayed: the pull through the replica has the approved figures.
    deadline = time.monotonic() + 15
    while (row := await rate_row())["value"] is None:
        assert time.monotonic() < deadline, "the replica did not replay the approval"
        await asyncio.sleep(0.1)
    # By hand (tests/test_aggregates.py, RATE_2024): 90 / 100 → 90; 100 × 90 / 95 = 94.74, on track.
    assert row == {"value": 90, "numerator": 90, "denominator": 100, "score": 94.74, "status": "on_track"}
    changes = await client.get("/v1/changes", params={"limit": "500"}, headers={"Authorization": f"Bearer {puller}"})
    assert [item["event"] for item in changes.json()["items"]].count("submission.approved") == 1
