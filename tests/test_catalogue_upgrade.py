"""Issue 16, item 5: a database seeded with the first catalogue (November 2026: `tests/fixtures/catalogue-2026-11`,
the files `zwc seed` loaded then) is brought up to date by the migrations and `zwc seed`, on both databases.

The old database is built the way the first release left it: the schema at revision 7c2e4b9d1f3a, the first
catalogue's rows (one version per indicator, its target in the version row), two revisions the lead office
made through the API since (2.3.01's target, 2.2.02's weight), and two evaluations of cells. Expected
outcomes, from SPEC §6.1/§7, the reference data's "Changes since the first catalogue" and decision 0023:
- the migration keeps every row and gives each old version the bounds it was held to (percent 0–100, other
  numbers ≥ 0, booleans none); each old target becomes one milestone;
- `zwc seed` adds six versions: 1.1.06, 3.1.02 and 3.4.01 lose their minimum, 1.4.02 gets its new definition
  and nine cooperating departments, 2.2.02 its large-scale-farm name, labels, definition and sthj — each the
  catalogue entry itself, in force from 2016 like the version it corrects; 2.2.02's revision by the lead office
  (weight 2 from 2026) is appended again after it with the corrections and its weight, so that it stays in
  force from 2026; 2.3.01, whose entry did not change, keeps the office's target; no old version changes;
- `disposal` applies to every cell type, so every checklist totals 100; evaluations keep their totals;
- a second `zwc seed` changes nothing; `as_of` before the upgrade still scores with the old definitions.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Connection, text

from app.catalogue import loader
from app.catalogue.seed import seed
from app.core import migrations
from app.core.actor import Actor
from app.core.config import Settings
from app.core.db import Database, create_sync_engine
from tests.factories import bearer, make_token, serving, sql, sql_write

OLD_HEAD = "7c2e4b9d1f3a"
OLD_CATALOGUE = Path(__file__).parent / "fixtures" / "catalogue-2026-11"
LOADED_AT = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)  # when the first release seeded the database
REVISED_AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # the lead office's revisions through the API
CATALOGUE_VALID_FROM = datetime(2015, 12, 31, 16, 0, tzinfo=UTC)  # 2016-01-01 00:00 +08:00
API_VALID_FROM = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # 2026-01-01 00:00 +08:00


def _rows(name: str) -> list[dict[str, str]]:
    with (OLD_CATALOGUE / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


class OldDatabase:
    """Writes the first release's rows with plain SQL (the models describe today's schema, not that one)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.sqlite = connection.dialect.name == "sqlite"

    def at(self, moment: datetime) -> Any:
        # SQLite compares timestamps as text: written in the form SQLAlchemy writes them (microseconds included).
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else moment

    def json(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    def run(self, statement: str, **params: Any) -> Any:
        if not self.sqlite:
            statement = statement.replace(":items_json", "CAST(:items_json AS JSONB)").replace(
                ":evidence_json", "CAST(:evidence_json AS JSONB)")
        return self.connection.execute(text(statement), params)

    def reference(self) -> None:
        for department in loader.departments():
            self.run("INSERT INTO departments (code, name_zh, name_en, kind, created_at, updated_at) "
                     "VALUES (:code, :name_zh, :name_en, :kind, :at, :at)", **department, at=self.at(LOADED_AT))
        for town in loader.towns():
            self.run("INSERT INTO towns (code, name_zh, kind) VALUES (:code, :name_zh, :kind)",
                     code=town["code"], name_zh=town["name_zh"], kind=town["kind"])
        types = loader.cell_types()
        for cell_type in types:
            self.run("INSERT INTO cell_types (code, name_zh, name_en, responsible_department, pass_score, "
                     "validity_years) VALUES (:code, :name_zh, :name_en, :responsible_department, :pass_score, "
                     ":validity_years)", **cell_type)
        for row in _rows("cell-criteria.csv"):
            self.run("INSERT INTO cell_criteria (code, name_zh, name_en, max_points, bonus) "
                     "VALUES (:code, :name_zh, :name_en, :max_points, :bonus)", code=row["criterion"],
                     name_zh=row["name_zh"], name_en=row["name_en"], max_points=int(row["max_points"]),
                     bonus=row["bonus"] == "true")
            applies = row["applies_to"]
            for cell_type in ([t["code"] for t in types] if applies == "all" else applies.split(";")):
                self.run("INSERT INTO cell_type_criteria (cell_type, criterion) VALUES (:t, :c)", t=cell_type,
                         c=row["criterion"])

    def version(self, indicator_id: int, number: int, row: dict[str, str], *, valid_from: datetime,
                created_at: datetime, digest: str | None, **changes: Any) -> int:
        values: dict[str, Any] = {
            "name_zh": row["name_zh"], "name_en": row["name_en"], "category": row["category"],
            "group_name": row["group"], "kind": row["kind"], "unit": row["unit"], "value_type": row["value_type"],
            "direction": row["direction"], "frequency": row["frequency"],
            "baseline_year": int(row["baseline_year"]) if row["baseline_year"] else None,
            "baseline_value": float(row["baseline_value"]) if row["baseline_value"] else None,
            "target_year": int(row["target_year"]) if row["target_year"] else None,
            "target_value": (float(row["target_value"] == "true") if row["target_value"] in ("true", "false")
                             else float(row["target_value"]) if row["target_value"] else None),
            "lead_department": row["lead_department"], "weight": 1.0, "definition": row["definition"],
            "source": row["source"], "numerator_label": row["numerator_label"] or None,
            "denominator_label": row["denominator_label"] or None, "provenance": row["provenance"] or None,
            **changes,
        }
        columns = ", ".join(values)
        self.run(f"INSERT INTO indicator_versions (indicator_id, version, valid_from, {columns}, catalogue_digest, "
                 f"created_at) VALUES (:indicator_id, :version, :valid_from, "
                 f"{', '.join(':' + name for name in values)}, :digest, :created_at)",
                 indicator_id=indicator_id, version=number, valid_from=self.at(valid_from), digest=digest,
                 created_at=self.at(created_at), **values)
        version_id = int(self.run("SELECT id FROM indicator_versions WHERE indicator_id = :i AND version = :v",
                                  i=indicator_id, v=number).scalar_one())
        cooperating = [code for code in row["cooperating_departments"].split(";") if code]
        for position, department in enumerate(cooperating):
            self.run("INSERT INTO indicator_cooperators (version_id, department, position) VALUES (:v, :d, :p)",
                     v=version_id, d=department, p=position)
        return version_id

    def catalogue(self) -> dict[str, dict[str, str]]:
        rows = {row["code"]: row for row in _rows("indicators.csv")}
        for code, row in rows.items():
            self.run("INSERT INTO indicators (code, latest_version, created_at) VALUES (:code, 1, :at)", code=code,
                     at=self.at(LOADED_AT))
            indicator_id = int(self.run("SELECT id FROM indicators WHERE code = :code", code=code).scalar_one())
            digest = hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()
            self.version(indicator_id, 1, row, valid_from=CATALOGUE_VALID_FROM, created_at=LOADED_AT, digest=digest)
        return rows

    def api_revision(self, code: str, row: dict[str, str], **changes: Any) -> None:
        indicator_id = int(self.run("SELECT id FROM indicators WHERE code = :code", code=code).scalar_one())
        self.version(indicator_id, 2, row, valid_from=API_VALID_FROM, created_at=REVISED_AT, digest=None, **changes)
        self.run("UPDATE indicators SET latest_version = 2 WHERE id = :i", i=indicator_id)

    def evaluated_cell(self, cell_type: str, name: str, town: str, department: str, items: list[dict[str, Any]],
                       total: int, passed: bool) -> None:
        self.run("INSERT INTO cells (type, name, town, department, status, evidence, version, created_at, "
                 "updated_at) VALUES (:t, :n, :town, :d, 'evaluated', :evidence_json, 1, :at, :at)", t=cell_type,
                 n=name, town=town, d=department, evidence_json="[]", at=self.at(REVISED_AT))
        cell_id = int(self.run("SELECT id FROM cells WHERE name = :n", n=name).scalar_one())
        self.run("INSERT INTO cell_evaluations (cell_id, date, evaluator, items, total, passed, department, "
                 "created_at) VALUES (:c, :day, '王评审', :items_json, :total, :passed, 'sthj', :at)", c=cell_id,
                 day=REVISED_AT.date(), items_json=self.json(items), total=total, passed=passed,
                 at=self.at(REVISED_AT))


# A scenic area scored on the six criteria its checklist had (90 points at most): 82, a pass.
SCENIC_ITEMS = [{"criterion": "organization", "points": 14}, {"criterion": "source_reduction", "points": 20},
                {"criterion": "sorting", "points": 18}, {"criterion": "utilization", "points": 16},
                {"criterion": "education", "points": 8}, {"criterion": "highlights", "points": 6}]
# A school scored on its seven (disposal included): 79, one short of the pass mark.
SCHOOL_ITEMS = [{"criterion": "organization", "points": 13}, {"criterion": "source_reduction", "points": 20},
                {"criterion": "sorting", "points": 16}, {"criterion": "utilization", "points": 15},
                {"criterion": "disposal", "points": 8}, {"criterion": "education", "points": 7}]


def build_old_database(url: str) -> None:
    migrations.upgrade(url, OLD_HEAD)
    engine = create_sync_engine(url)
    try:
        with engine.begin() as connection:
            old = OldDatabase(connection)
            old.reference()
            rows = old.catalogue()
            old.api_revision("2.3.01", rows["2.3.01"], target_year=2025, target_value=45.0)
            old.api_revision("2.2.02", rows["2.2.02"], weight=2.0)
            old.evaluated_cell("scenic", "伏羲山红石林景区", "fuxishan", "wlj", SCENIC_ITEMS, 82, True)
            old.evaluated_cell("school", "新密市实验小学", "qingpingjie", "jyj", SCHOOL_ITEMS, 79, False)
    finally:
        engine.dispose()


def query(url: str, statement: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = create_sync_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(statement), params)]
    finally:
        engine.dispose()


def run_seed(url: str) -> Counter[str]:
    async def apply() -> Counter[str]:
        database = Database.from_settings(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
        try:
            async with database.sessionmaker() as session, session.begin():
                return await seed(session, Actor.system())
        finally:
            await database.dispose()

    return asyncio.run(apply())


VERSIONS = """
    SELECT i.code, v.version, v.min_value, v.max_value, v.valid_from, v.created_at, v.weight, v.name_zh,
           v.catalogue_digest IS NOT NULL
    FROM indicator_versions v JOIN indicators i ON i.id = v.indicator_id ORDER BY i.code, v.version"""


def instant(value: Any) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def versions(url: str) -> dict[tuple[str, int], tuple[Any, ...]]:
    return {(code, number): (low, high, instant(valid_from), instant(created_at), weight, name, bool(loaded))
            for code, number, low, high, valid_from, created_at, weight, name, loaded in query(url, VERSIONS)}


def test_the_migration_keeps_the_old_rows_and_states_their_bounds(empty_database_url: str) -> None:
    build_old_database(empty_database_url)
    old_targets = query(empty_database_url, """
        SELECT i.code, v.version, v.target_year, v.target_value FROM indicator_versions v
        JOIN indicators i ON i.id = v.indicator_id WHERE v.target_year IS NOT NULL ORDER BY i.code, v.version""")
    migrations.upgrade(empty_database_url)
    found = versions(empty_database_url)
    assert len(found) == 50  # 48 catalogue versions and the office's two revisions
    value_types = {row["code"]: row["value_type"] for row in _rows("indicators.csv")}
    implied = {"percent": (0, 100), "boolean": (None, None)}
    for (code, number), (low, high, valid_from, created_at, *_rest) in found.items():
        assert (low, high) == implied.get(value_types[code], (0, None)), code
        assert (valid_from, created_at) == ((CATALOGUE_VALID_FROM, LOADED_AT) if number == 1
                                            else (API_VALID_FROM, REVISED_AT)), code
    # 14 catalogue targets for 2025, 5.1.04's 3 for 2023, and 2.3.01's and 2.2.02's revisions: one milestone each.
    milestones = query(empty_database_url, """
        SELECT i.code, v.version, m.year, m.value FROM indicator_milestones m
        JOIN indicator_versions v ON v.id = m.version_id JOIN indicators i ON i.id = v.indicator_id
        ORDER BY i.code, v.version""")
    assert milestones == old_targets
    assert len(milestones) == 17
    assert ("2.3.01", 2, 2025, 45.0) in milestones
    assert ("5.1.04", 1, 2023, 3.0) in milestones


async def test_seed_brings_the_old_catalogue_up_to_date(empty_database_url: str, tmp_path: Path) -> None:
    url = empty_database_url
    await asyncio.to_thread(build_old_database, url)
    await asyncio.to_thread(migrations.upgrade, url)
    before = versions(url)
    evaluations = query(url, "SELECT cell_id, total, passed, items FROM cell_evaluations ORDER BY id")
    seeded_at = datetime.now(UTC)

    changed = await asyncio.to_thread(run_seed, url)
    assert changed["indicator.revised"] == 6
    assert changed["indicator.created"] == 0
    assert changed["cell_criterion.updated"] == 1  # disposal's names now include household hazardous waste
    assert changed["cell_type_criteria.updated"] == 1

    after = versions(url)
    # No old version changed; six new ones.
    assert {key: after[key] for key in before} == before
    added = sorted(set(after) - set(before))
    assert added == [("1.1.06", 2), ("1.4.02", 2), ("2.2.02", 3), ("2.2.02", 4), ("3.1.02", 2), ("3.4.01", 2)]
    for key in added:
        _low, _high, valid_from, created_at, _weight, _name, loaded = after[key]
        assert seeded_at <= created_at
        # the catalogue entry, in force from the catalogue's 2016; the office's revision again, from 2026
        assert (valid_from, loaded) == ((API_VALID_FROM, False) if key == ("2.2.02", 4)
                                        else (CATALOGUE_VALID_FROM, True))
    assert after[("1.1.06", 2)][:2] == (None, 100)  # a rise of energy intensity is a negative fall
    assert after[("3.1.02", 2)][:2] == after[("3.4.01", 2)][:2] == (None, 100)
    assert after[("1.4.02", 2)][:2] == (0, None)
    # 2.2.02: the plan's wording from 2016; from 2026 with the weight the lead office set.
    assert after[("2.2.02", 3)][4:6] == (1.0, "规模以上畜禽养殖场畜禽粪污综合利用率")
    assert after[("2.2.02", 4)][4:6] == (2.0, "规模以上畜禽养殖场畜禽粪污综合利用率")
    # 2.3.01's entry did not change: the office's target stays current.
    assert ("2.3.01", 3) not in after
    assert query(url, "SELECT latest_version FROM indicators WHERE code = '2.3.01'") == [(2,)]
    cooperating = query(url, """
        SELECT c.department FROM indicator_cooperators c JOIN indicator_versions v ON v.id = c.version_id
        JOIN indicators i ON i.id = v.indicator_id WHERE i.code = '1.4.02' AND v.version = 2 ORDER BY c.position""")
    assert [row[0] for row in cooperating] == ["jyj", "swj", "wlj", "jgsw", "zjj", "wjw", "gxj", "fgw", "nyj"]
    assert query(url, """
        SELECT v.version, c.department FROM indicator_cooperators c JOIN indicator_versions v ON v.id = c.version_id
        JOIN indicators i ON i.id = v.indicator_id WHERE i.code = '2.2.02' ORDER BY v.version""") == [
        (3, "sthj"), (4, "sthj")]

    # Every checklist totals 100 now; the evaluations recorded before keep their items and totals.
    totals = query(url, """
        SELECT t.cell_type, SUM(c.max_points) FROM cell_type_criteria t JOIN cell_criteria c ON c.code = t.criterion
        WHERE c.bonus = :no GROUP BY t.cell_type ORDER BY t.cell_type""", no=False)
    assert len(totals) == 10
    assert {total for _, total in totals} == {100}
    assert query(url, "SELECT cell_id, total, passed, items FROM cell_evaluations ORDER BY id") == evaluations
    assert [(total, bool(passed)) for _, total, passed, _ in evaluations] == [(82, True), (79, False)]

    # A second run changes nothing.
    assert await asyncio.to_thread(run_seed, url) == Counter()
    assert versions(url) == after

    # Through the API: 2025 is scored with the corrections; as it stood before the upgrade, with the old ones.
    settings = Settings(database_url=url, files_dir=tmp_path / "files", rate_limit="", gc_tuning=False,
                        _env_file=None)  # type: ignore[call-arg]
    async with serving(settings) as (application, client):
        gxj = await make_token(application, "gxj", ["submissions:write"])
        rise = await client.post("/v1/submissions", headers=bearer(gxj),
                                 json={"indicator": "1.1.06", "period": "2025", "value": -2.4})
        assert rise.status_code == 201, rise.text
        reader = await make_token(application, "tjj", [])
        now = await scores(client, reader)
        assert (now["1.1.06"]["version"], now["2.2.02"]["version"], now["2.2.02"]["name_zh"]) == (
            2, 3, "规模以上畜禽养殖场畜禽粪污综合利用率")
        then = await scores(client, reader, as_of=seeded_at.isoformat())
        assert (then["1.1.06"]["version"], then["2.2.02"]["version"], then["2.2.02"]["name_zh"]) == (
            1, 1, "畜禽粪污综合利用率")
        assert now["1.1.06"]["value"] is None  # a draft: only approved values count
        # 2026 is scored with the office's revision, corrected.
        this_year = await scores(client, reader, period=str(datetime.now(UTC).year))
        assert (this_year["2.2.02"]["version"], this_year["2.2.02"]["weight"]) == (4, 2.0)
        assert len(now) == len(then) == 48


async def scores(client: httpx.AsyncClient, token: str, **params: str) -> dict[str, dict[str, Any]]:
    response = await client.get("/v1/scores", params={"period": "2025"} | params, headers=bearer(token))
    assert response.status_code == 200, response.text
    return {item["code"]: item for item in response.json()["indicators"]}


async def test_a_version_written_by_the_previous_release_shows_its_target(app: Any, client: httpx.AsyncClient,
                                                                          lead_office: str) -> None:
    """During a rolling upgrade a replica of the previous release may still revise an indicator: it writes the
    target into the version row and no milestone. The new release reads that target as the one milestone; its
    own versions keep the row's target equal to their last milestone, for the old replicas to read."""
    await sql_write(app, """
        INSERT INTO indicator_versions (indicator_id, version, valid_from, name_zh, name_en, category, group_name,
            kind, unit, value_type, direction, frequency, baseline_year, baseline_value, target_year, target_value,
            lead_department, weight, definition, source, numerator_label, denominator_label, provenance,
            catalogue_digest, created_at, created_by_token_id)
        SELECT indicator_id, 2, valid_from, name_zh, name_en, category, group_name, kind, unit, value_type,
            direction, frequency, baseline_year, baseline_value, 2025, 45, lead_department, weight, definition,
            source, numerator_label, denominator_label, provenance, NULL, created_at, NULL
        FROM indicator_versions WHERE indicator_id = (SELECT id FROM indicators WHERE code = '2.3.01')""")
    await sql_write(app, "UPDATE indicators SET latest_version = 2 WHERE code = '2.3.01'")
    body = (await client.get("/v1/indicators/2.3.01", headers=bearer(lead_office))).json()
    assert (body["version"], body["target"], body["targets"]) == (2, {"year": 2025, "value": 45},
                                                                  [{"year": 2025, "value": 45}])
    board = await client.get("/v1/scores", params={"period": "2024"}, headers=bearer(lead_office))
    entry = next(i for i in board.json()["indicators"] if i["code"] == "2.3.01")
    assert (entry["version"], entry["target"]) == (2, {"year": 2025, "value": 45})
    revised = await client.patch("/v1/indicators/2.3.01", headers=bearer(lead_office, **{"If-Match": "*"}),
                                 json={"targets": [{"year": 2023, "value": 30}, {"year": 2025, "value": 50}]})
    assert revised.status_code == 200, revised.text
    assert await sql(app, "SELECT v.version, v.target_year, v.target_value FROM indicator_versions v "
                          "JOIN indicators i ON i.id = v.indicator_id WHERE i.code = '2.3.01' ORDER BY v.version"
                     ) == [(1, 2025, 40), (2, 2025, 45), (3, 2025, 50)]
