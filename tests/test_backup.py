"""Back up and restore (docs/OPERATIONS.md; issue 8, item 6): a populated database through `pg_dump
--format=custom` and `pg_restore` into a new database comes back identical, table by table and row by
row, with its triggers and sequences, and the service on the copy answers exactly as on the original."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.core.registry import metadata
from tests.conftest import postgres_url, scratch_postgres_database
from tests.factories import bearer, make_token, serving
from tests.test_aggregates import approve_rate
from tests.test_cells import PASSING, today

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

# Every table but the rate-limit counters: unlogged, written in batches by their own pool at any moment,
# and worth nothing after a restore (decision 0016).
TABLES = sorted({*metadata.tables, "alembic_version"} - {"rate_limit_counters"})


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Per table: its row count and an MD5 of all its rows in a fixed order."""
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as connection:
            return {table: tuple(connection.execute(text(  # type: ignore[misc]
                f'SELECT count(*), coalesce(md5(string_agg(t::text, \'|\' ORDER BY t::text)), \'\') FROM "{table}" t'
            )).one()) for table in TABLES}
    finally:
        engine.dispose()


def triggers(url: str) -> list[str]:
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as connection:
            return sorted(connection.execute(text(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars())
    finally:
        engine.dispose()


async def populate(app: Any, client: httpx.AsyncClient) -> dict[str, str]:
    """An approval, a certified cell and a webhook, each with its audit and outbox rows."""
    nyj = await make_token(app, "nyj", ["submissions:write"])
    lead = await make_token(app, "lead", ["submissions:review"])
    jyj = await make_token(app, "jyj", ["cells:write"])
    sthj = await make_token(app, "sthj", ["cells:review"])
    zzwf = await make_token(app, "zzwf", ["aggregates:read"])
    await approve_rate(client, nyj, lead)
    cell = await client.post("/v1/cells", headers=bearer(jyj, **{"Idempotency-Key": "backup-1"}), json={
        "type": "school", "name": "备份测试学校", "town": "qingpingjie", "address": "青屏大街 5 号"})
    assert cell.status_code == 201, cell.text
    cell_id = cell.json()["id"]
    evaluation = await client.post(f"/v1/cells/{cell_id}/evaluations", headers=bearer(sthj), json={
        "date": today().isoformat(), "evaluator": "王评审", "items": PASSING})
    assert evaluation.status_code == 201, evaluation.text
    assert (await client.post(f"/v1/cells/{cell_id}/certify", headers=bearer(sthj))).status_code == 200
    hook = await client.post("/v1/webhooks", headers=bearer(zzwf), json={
        "url": "https://zzwf.example.cn/hooks/xinmi", "events": ["cell.certified"]})
    assert hook.status_code == 201, hook.text
    return {"zzwf": zzwf, "jyj": jyj}


async def test_a_dump_restored_into_a_new_database_is_the_same_database(
        app: Any, client: httpx.AsyncClient, settings: Any, database_url: str, tmp_path: Path) -> None:
    tokens = await populate(app, client)
    original = fingerprint(database_url)
    assert original["submissions"][0] > 0
    assert original["certificates"][0] == 1
    assert original["webhooks"][0] == 1

    dump = tmp_path / "zwc.dump"
    await asyncio.to_thread(subprocess.run, ["pg_dump", "--format=custom", f"--file={dump}", database_url],
                            check=True, timeout=120)
    with scratch_postgres_database() as name:
        restored_url = postgres_url(name)
        await asyncio.to_thread(subprocess.run, ["pg_restore", "--no-owner", "--exit-on-error",
                                                 f"--dbname={restored_url}", str(dump)], check=True, timeout=120)
        assert fingerprint(restored_url) == original
        assert triggers(restored_url) == triggers(database_url)
        assert "outbox_events_data_version" in triggers(restored_url)

        async with serving(settings, database_url=restored_url) as (_, copy):
            # The same answers, by the same tokens (their hashes came along).
            for path, params in (("/v1/scores", {"period": "2024"}), ("/v1/changes", {"limit": "100"}),
                                 ("/v1/aggregates", {"period": "2024"})):
                here = await client.get(path, params=params, headers=bearer(tokens["zzwf"]))
                there = await copy.get(path, params=params, headers=bearer(tokens["zzwf"]))
                assert (here.status_code, there.status_code) == (200, 200), (path, there.text)
                if path == "/v1/aggregates":
                    assert here.headers["ETag"] == there.headers["ETag"]
                else:
                    assert here.content == there.content, path
            # An idempotent retry made before the backup replays on the copy; new rows take new ids.
            replay = await copy.post("/v1/cells", headers=bearer(tokens["jyj"], **{"Idempotency-Key": "backup-1"}),
                                     json={"type": "school", "name": "备份测试学校", "town": "qingpingjie",
                                           "address": "青屏大街 5 号"})
            assert replay.status_code == 201
            assert replay.headers["Idempotent-Replayed"] == "true"
            fresh = await copy.post("/v1/cells", headers=bearer(tokens["jyj"]), json={
                "type": "school", "name": "恢复后新学校", "town": "qingpingjie", "address": "青屏大街 6 号"})
            assert fresh.status_code == 201, fresh.text
            assert fresh.json()["id"] > replay.json()["id"]
        # The original is untouched by all this.
        assert fingerprint(database_url) == original
