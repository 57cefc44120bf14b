"""Scores and aggregates against a large history (the benchmark of issue 5).

Builds a throwaway PostgreSQL database (migrations and `zwc seed` through the CLI, then a bulk load with
psycopg COPY): N synthetic monthly indicators and, for every (indicator, month), one submission with its
revisions — created, submitted, approved, some returned and resubmitted, some reopened and approved
again — and their audit events. Then starts the real server on it and measures, in the same run:

* `GET /v1/scores?period=Y`, `GET /v1/scores?period=Y-06`, `GET /v1/aggregates?period=Y`, the same with
  `If-None-Match` (304), and `GET /v1/scores?period=Y&as_of=…` (the revision-history path): sequential
  latency (p50/p95/p99) and throughput with concurrent connections; `GET /healthz` as the floor;
* the raw SQL of the same boards: the statements `app.scores.service.board` runs, captured in-process
  (a `before_cursor_execute` hook on an engine from `app.core.db.create_service_engine`) and replayed
  with psycopg with the same parameters — wall time per board, and `EXPLAIN (ANALYZE, BUFFERS)` with
  any Seq Scan on submissions or submission_revisions marked.

Figures only; nothing here asserts a time. `--compare` also builds a short history (the same catalogue,
only the measured year's 12 months, generated identically: the answers must be identical, same ETag),
serves both side by side and measures them in turns, so that what history length costs shows as a ratio
the machine's noise falls on alike. Run it as a script (it imports helpers from bench/submissions.py).

    .venv/bin/python bench/history.py                      # 800 indicators x 130 months = 104,000 submissions
    .venv/bin/python bench/history.py --compare            # 12 months of history and 130, in turns
    .venv/bin/python bench/history.py --indicators 100 --months 24 --keep
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from submissions import ROOT, ZWC, cli, drive, percentile, start_server  # shared helpers of bench/submissions.py

from app.core.periods import Period, parse_period
from app.core.timeutil import SHANGHAI
from app.indicators.models import CATEGORIES

FIRST_MONTH = (2016, 1)
P_RETURNED = 0.08  # returned once before approval, edited, resubmitted
P_REOPENED = 0.03  # approved, then reopened by the lead office, edited, resubmitted, approved again
SEQ_SCAN = re.compile(r"Seq Scan on (submissions|submission_revisions)\b")


# --------------------------------------------------------------------------------------------- generator


@dataclass(frozen=True)
class Template:
    """One kind of synthetic indicator and how its monthly value moves (base + slope x months since 2016-01,
    with relative noise)."""

    value_type: str
    direction: str
    unit: str
    baseline: tuple[int, float] | None
    target: tuple[int, float] | None
    base: float
    slope: float
    noise: float


TEMPLATES = (
    Template("percent", "increase", "%", (2020, 40.0), (2025, 85.0), 35.0, 0.45, 0.05),
    Template("quantity", "decrease", "t", (2020, 1200.0), (2025, 800.0), 1350.0, -4.0, 0.04),
    Template("count", "increase", "个", None, (2025, 120.0), 5.0, 1.0, 0.10),
    Template("boolean", "boolean", "—", None, (2025, 1.0), 0.0, 0.0, 0.0),
    Template("ratio", "decrease_vs_previous", "t/万元", None, None, 0.9, -0.002, 0.06),
    Template("percent", "increase", "%", None, (2025, 95.0), 60.0, 0.30, 0.04),
    Template("quantity", "decrease", "kg/人·日", None, (2025, 0.9), 1.3, -0.003, 0.05),
    Template("quantity", "increase", "万t", None, None, 10.0, 0.1, 0.08),  # no target: status no_target
)


def month_label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def month_index(label: str) -> int:
    """Months since 2016-01 (the value model's clock, the same whatever the window); for an annual (YYYY) or
    quarterly (YYYYQn) period, its last month."""
    month = 12 if len(label) == 4 else 3 * int(label[5]) if label[4] == "Q" else int(label[5:])
    return (int(label[:4]) - FIRST_MONTH[0]) * 12 + month - FIRST_MONTH[1]


def months_ending(end: str, count: int) -> list[str]:
    last = month_index(end)
    if count < 1 or last - count + 1 < 0:
        raise SystemExit(f"--months {count} ending {end} would start before 2016-01")
    return [month_label(FIRST_MONTH[0] + i // 12, i % 12 + 1) for i in range(last - count + 1, last + 1)]


def last_full_month(now: datetime) -> str:
    today = now.astimezone(SHANGHAI).date()
    return month_label(today.year - 1, 12) if today.month == 1 else month_label(today.year, today.month - 1)


def indicator_code(number: int, count: int) -> str:
    return f"9.9.{number:0{max(3, len(str(count)))}d}"


@dataclass(frozen=True)
class SyntheticIndicator:
    code: str
    template: Template
    category: str
    lead: str


def synthetic_indicators(count: int, departments: list[str]) -> list[SyntheticIndicator]:
    return [SyntheticIndicator(indicator_code(n + 1, count), TEMPLATES[n % len(TEMPLATES)],
                               CATEGORIES[n % len(CATEGORIES)], departments[n % len(departments)])
            for n in range(count)]


def draw_value(t: Template, m: int, r: random.Random) -> tuple[float, float | None, float | None]:
    """A value (and numerator and denominator for rates) the way the service stores it."""
    if t.value_type == "boolean":
        return (1.0 if r.random() < min(1.0, 0.2 + m / 100) else 0.0), None, None
    raw = (t.base + t.slope * m) * (1 + r.uniform(-t.noise, t.noise))
    if t.value_type == "count":
        return float(max(0, round(raw))), None, None
    if t.value_type == "percent":
        denominator = float(r.randint(200, 2000))
        numerator = float(min(denominator, max(0, round(raw / 100 * denominator))))
        return numerator / denominator * 100, numerator, denominator
    if t.value_type == "ratio":
        denominator = round(r.uniform(500, 1500), 1)
        numerator = round(max(0.01, raw) * denominator, 1)
        return numerator / denominator * 1, numerator, denominator
    return round(max(0.001, raw), 3), None, None


def timeline(r: random.Random, period_end: datetime) -> list[tuple[str, datetime]]:
    """The actions on one submission and when, from creation on."""
    at = period_end + timedelta(hours=r.uniform(2, 240))
    steps = [("created", at)]

    def then(action: str, mean_hours: float) -> None:
        nonlocal at
        at = at + timedelta(hours=0.2 + r.expovariate(1 / mean_hours))
        steps.append((action, at))

    then("submitted", 24)
    if r.random() < P_RETURNED:
        then("returned", 48)
        then("edited", 24)
        then("submitted", 4)
    then("approved", 72)
    if r.random() < P_REOPENED:
        then("reopened", 24 * 30)
        then("edited", 48)
        then("submitted", 4)
        then("approved", 72)
    return steps


STATUS_AFTER = {"created": "draft", "submitted": "submitted", "approved": "approved", "returned": "returned",
                "reopened": "returned"}
REASONS = {"returned": "佐证材料不全，请补充后重新提交", "reopened": "复核发现统计口径有误，退回重新填报"}
REVIEWING = ("approved", "returned", "reopened")


@dataclass
class Generated:
    """One submission as stored now, with its revision and audit rows (ids filled in later)."""

    created_at: datetime
    row: dict[str, Any]
    revisions: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)


def generate(indicator: SyntheticIndicator, period: Period, now: datetime) -> Generated | None:
    """The submission of one (indicator, month), deterministic in both: the same rows whatever the window
    of months generated, so a short and a long history agree on the months they share."""
    r = random.Random(f"{indicator.code}/{period.label}")
    m = month_index(period.label)
    values = [draw_value(indicator.template, m, r)]
    steps = timeline(r, period.end_instant.astimezone(UTC))
    values += [draw_value(indicator.template, m, r) for action, _at in steps if action == "edited"]
    pairs = [(action, at) for action, at in steps if at < now]  # what has happened by now
    if not pairs:
        return None  # not created yet
    value, numerator, denominator = values.pop(0)
    row: dict[str, Any] = {
        "indicator": indicator.code, "indicator_version": 1, "period": period.label,
        "period_start": period.start, "period_end": period.end, "department": indicator.lead,
        "value": value, "numerator": numerator, "denominator": denominator, "note": None, "evidence": "[]",
        "status": "draft", "version": 0, "created_at": pairs[0][1], "updated_at": pairs[0][1],
        "submitted_at": None, "approved_at": None, "reviewer_note": None,
    }
    generated = Generated(created_at=pairs[0][1], row=row)
    for action, at in pairs:
        before = snapshot(row) if action != "created" else None
        reason = REASONS.get(action)
        if action == "edited":
            row["value"], row["numerator"], row["denominator"] = values.pop(0)
        elif action == "submitted":
            row["submitted_at"] = at
        elif action == "approved":
            row["approved_at"], row["reviewer_note"] = at, None
        elif action in ("returned", "reopened"):
            row["approved_at"], row["reviewer_note"] = None, reason
        row["status"] = STATUS_AFTER.get(action, row["status"])
        row["version"] += 1
        row["updated_at"] = at
        actor = "lead" if action in REVIEWING else indicator.lead
        generated.revisions.append({
            "revision": row["version"], "action": action, "at": at, "indicator": indicator.code,
            "period": period.label, "status": row["status"], "value": row["value"], "numerator": row["numerator"],
            "denominator": row["denominator"], "note": None, "evidence": "[]", "reason": reason,
            "department": actor})
        generated.audit.append({"at": at, "department": actor, "action": f"submission.{action}",
                                "entity": "submission", "before": before, "after": snapshot(row)})
    return generated


def snapshot(row: dict[str, Any]) -> dict[str, Any]:
    """What the service's audit events hold of a submission (app.submissions.service.snapshot)."""
    return {"id": row.get("id"), "indicator": row["indicator"], "period": row["period"],
            "department": row["department"], "value": row["value"], "numerator": row["numerator"],
            "denominator": row["denominator"], "note": row["note"], "evidence": [], "status": row["status"],
            "version": row["version"], "reviewer_note": row["reviewer_note"]}


SUBMISSION_COLUMNS = ("id", "indicator", "indicator_version", "period", "period_start", "period_end", "department",
                      "value", "numerator", "denominator", "note", "evidence", "status", "version", "created_at",
                      "updated_at", "submitted_at", "approved_at", "reviewer_note")
REVISION_COLUMNS = ("submission_id", "revision", "action", "at", "indicator", "period", "status", "value",
                    "numerator", "denominator", "note", "evidence", "reason", "department")
AUDIT_COLUMNS = ("at", "department", "action", "entity", "entity_id", "before", "after")
VERSION_COLUMNS = ("indicator_id", "version", "valid_from", "name_zh", "name_en", "category", "group_name", "kind",
                   "unit", "value_type", "direction", "frequency", "baseline_year", "baseline_value", "target_year",
                   "target_value", "lead_department", "weight", "definition", "source", "numerator_label",
                   "denominator_label", "provenance", "created_at")


def copy_statement(table: str, columns: tuple[str, ...]) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))


@dataclass
class Loaded:
    indicators: int
    months: list[str]
    submissions: int = 0
    revisions: int = 0
    audit_events: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def describe(self) -> str:
        return (f"{self.indicators} indicators x {len(self.months)} months ({self.months[0]}..{self.months[-1]}): "
                f"{self.submissions:,} submissions, {self.revisions:,} revisions, {self.audit_events:,} audit events; "
                f"statuses {dict(sorted(self.statuses.items()))}; loaded in {self.seconds:.1f} s")


def write_batch(cur: psycopg.Cursor[Any], batch: list[Generated], next_id: int, loaded: Loaded, audit: bool) -> int:
    """COPY one period's generated submissions, their revisions and (with ``audit``) their audit events, ids
    from ``next_id`` in the order the rows were created; answers the next free id."""
    batch.sort(key=lambda g: g.created_at)  # ids in the order the rows were created
    for generated in batch:
        generated.row["id"] = next_id
        next_id += 1
    with cur.copy(copy_statement("submissions", SUBMISSION_COLUMNS)) as copy:
        for generated in batch:
            copy.write_row(tuple(generated.row[c] for c in SUBMISSION_COLUMNS))
            loaded.statuses[generated.row["status"]] += 1
    revisions = sorted(((g.row["id"], rev) for g in batch for rev in g.revisions), key=lambda pair: pair[1]["at"])
    with cur.copy(copy_statement("submission_revisions", REVISION_COLUMNS)) as copy:
        for submission_id, rev in revisions:
            copy.write_row((submission_id, *(rev[c] for c in REVISION_COLUMNS[1:])))
    loaded.submissions += len(batch)
    loaded.revisions += len(revisions)
    if audit:
        events = sorted(((g.row["id"], event) for g in batch for event in g.audit), key=lambda pair: pair[1]["at"])
        with cur.copy(copy_statement("audit_events", AUDIT_COLUMNS)) as copy:
            for submission_id, event in events:
                before = event["before"] and {**event["before"], "id": submission_id}
                copy.write_row((event["at"], event["department"], event["action"], event["entity"],
                                str(submission_id), json.dumps(before, ensure_ascii=False) if before else None,
                                json.dumps({**event["after"], "id": submission_id}, ensure_ascii=False)))
        loaded.audit_events += len(events)
    return next_id


def load(conninfo: str, indicator_count: int, months: list[str], audit: bool, now: datetime) -> Loaded:
    """Bulk-load the synthetic catalogue and history into a migrated, seeded database, then VACUUM ANALYZE
    (as autovacuum would have long done on a database that grew to this size)."""
    started = time.perf_counter()
    loaded = Loaded(indicators=indicator_count, months=months)
    with psycopg.connect(conninfo) as conn:
        departments = [code for (code,) in conn.execute(
            "SELECT code FROM departments WHERE kind = 'department' ORDER BY code")]
        indicators = synthetic_indicators(indicator_count, departments)
        created = datetime(2015, 12, 1, tzinfo=UTC)
        valid_from = datetime(2016, 1, 1, tzinfo=SHANGHAI)
        with conn.cursor() as cur:
            with cur.copy("COPY indicators (code, latest_version, created_at) FROM STDIN") as copy:
                for indicator in indicators:
                    copy.write_row((indicator.code, 1, created))
            ids: dict[str, int] = dict(conn.execute("SELECT code, id FROM indicators WHERE code LIKE '9.9.%'"))
            with cur.copy(copy_statement("indicator_versions", VERSION_COLUMNS)) as copy:
                for n, indicator in enumerate(indicators):
                    t = indicator.template
                    rate = t.value_type in ("percent", "ratio")
                    copy.write_row((
                        ids[indicator.code], 1, valid_from, f"基准合成指标{n + 1}", f"Synthetic indicator {n + 1}",
                        indicator.category, "基准测试", "optional", t.unit, t.value_type, t.direction, "monthly",
                        *(t.baseline or (None, None)), *(t.target or (None, None)), indicator.lead, 1.0,
                        "bench/history.py 生成的合成指标（仅用于性能测试）", "submissions",
                        "处理量" if rate else None, "产生量" if rate else None, "synthetic (bench/history.py)",
                        created))
            next_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM submissions").fetchone()[0]  # type: ignore[index]
            for label in months:
                period = parse_period(label)
                assert period is not None
                batch = [g for g in (generate(i, period, now) for i in indicators) if g is not None]
                next_id = write_batch(cur, batch, next_id, loaded, audit)
            cur.execute("SELECT setval(pg_get_serial_sequence('submissions', 'id'), (SELECT max(id) FROM submissions))")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    loaded.seconds = time.perf_counter() - started
    return loaded


# ------------------------------------------------------------------------------------------ measurement


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    board: tuple[str, str | None]  # (period, as_of) of the board whose SQL it runs; ("", None): none
    conditional: bool = False


def endpoints(year: int) -> list[Endpoint]:
    as_of = f"{year + 1}-01-20T00:00:00+00:00"
    return [
        Endpoint("GET /healthz (floor)", "/healthz", ("", None)),
        Endpoint(f"scores?period={year}", f"/v1/scores?period={year}", (str(year), None)),
        Endpoint(f"scores?period={year}-06", f"/v1/scores?period={year}-06", (f"{year}-06", None)),
        Endpoint(f"aggregates?period={year}", f"/v1/aggregates?period={year}", (str(year), None)),
        Endpoint(f"aggregates?period={year} 304", f"/v1/aggregates?period={year}", (str(year), None), True),
        Endpoint(f"scores?period={year}&as_of", f"/v1/scores?period={year}&as_of={as_of.replace('+', '%2B')}",
                 (str(year), as_of)),
    ]


@dataclass
class Latency:
    size: int
    statuses: Counter[int]
    p50: float
    p95: float
    p99: float
    rps: float = 0.0
    concurrent_p50: float = 0.0
    concurrent_statuses: Counter[int] = field(default_factory=Counter)


@dataclass
class Statement:
    sql: str
    params: dict[str, Any]


@dataclass
class RawSql:
    statements: list[Statement]
    wall_ms: list[float]  # per statement, median over the repeats
    wall_sum_ms: float  # median over the repeats of the whole board's statements, one after another
    rows: list[int]
    execution_ms: list[float]  # EXPLAIN ANALYZE "Execution Time", median of a few
    planning_ms: list[float]
    plans: list[list[str]]
    error: str | None = None

    @property
    def execution_sum_ms(self) -> float:
        return sum(self.execution_ms)

    @property
    def seq_scans(self) -> list[tuple[int, str]]:
        return [(n, line.strip()) for n, plan in enumerate(self.plans, 1) for line in plan if SEQ_SCAN.search(line)]


@dataclass
class Subject:
    """One database under test, the server running on it, and its figures."""

    label: str
    url: str
    loaded: Loaded
    token: str
    base: str = ""
    etag: str | None = None
    score_statuses: Counter[str] = field(default_factory=Counter)
    latency: dict[str, Latency] = field(default_factory=dict)
    sql: dict[tuple[str, str | None], RawSql] = field(default_factory=dict)

    def headers(self, target: Endpoint) -> dict[str, str]:
        if target.path == "/healthz":
            return {}
        if target.conditional and self.etag:
            return {"Authorization": f"Bearer {self.token}", "If-None-Match": self.etag}
        return {"Authorization": f"Bearer {self.token}"}


def sequential(subjects: list[Subject], target: Endpoint, warmup: int, count: int) -> list[Latency]:
    """One request at a time, taking turns between the subjects, so that they share the machine's moments."""
    clients = [httpx.Client(base_url=s.base, timeout=60) for s in subjects]
    try:
        for subject, client in zip(subjects, clients, strict=True):
            for _ in range(warmup):
                client.get(target.path, headers=subject.headers(target))
        samples: list[list[float]] = [[] for _ in subjects]
        statuses: list[Counter[int]] = [Counter() for _ in subjects]
        sizes = [0 for _ in subjects]
        for _ in range(count):
            for n, (subject, client) in enumerate(zip(subjects, clients, strict=True)):
                started = time.perf_counter()
                response = client.get(target.path, headers=subject.headers(target))
                samples[n].append((time.perf_counter() - started) * 1000)
                statuses[n][response.status_code] += 1
                sizes[n] = len(response.content)
    finally:
        for client in clients:
            client.close()
    return [Latency(sizes[n], statuses[n], statistics.median(samples[n]), percentile(samples[n], 0.95),
                    percentile(samples[n], 0.99)) for n in range(len(subjects))]


async def throughput(subjects: list[Subject], target: Endpoint, counts: list[int], concurrency: int,
                     rounds: int = 4) -> list[tuple[float, float, Counter[int]]]:
    """Requests per second (and the median latency) with ``concurrency`` connections per subject, opened and
    warmed first; the requests go in ``rounds`` that take turns between the subjects."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(httpx.AsyncClient(base_url=s.base, limits=limits, timeout=60))
                   for s in subjects]
        for subject, client in zip(subjects, clients, strict=True):
            warm: list[tuple[str, str, dict[str, Any] | None]] = [("GET", target.path, None)] * (2 * concurrency)
            await drive(client, warm, concurrency, subject.headers(target))
        latencies: list[list[float]] = [[] for _ in subjects]
        statuses: list[Counter[int]] = [Counter() for _ in subjects]
        elapsed = [0.0 for _ in subjects]
        for _ in range(rounds):
            for n, (subject, client) in enumerate(zip(subjects, clients, strict=True)):
                requests: list[tuple[str, str, dict[str, Any] | None]] = [
                    ("GET", target.path, None)] * max(concurrency, counts[n] // rounds)
                got, codes, seconds = await drive(client, requests, concurrency, subject.headers(target))
                latencies[n] += got
                statuses[n] += codes
                elapsed[n] += seconds
    return [(len(latencies[n]) / elapsed[n], statistics.median(latencies[n]) * 1000, statuses[n])
            for n in range(len(subjects))]


def capture_board_sql(url: str, period_label: str, as_of: str | None) -> tuple[list[Statement], str | None]:
    """The statements app.scores.service.board runs for a period, as the service's engine sends them (and the
    error, when the board fails: it is reported, not hidden)."""
    from sqlalchemy import event
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.core import registry  # every table module, as the service has them
    from app.core.config import Settings
    from app.core.db import create_service_engine
    from app.scores import service

    assert registry.metadata.tables
    period = parse_period(period_label)
    assert period is not None
    moment = datetime.fromisoformat(as_of) if as_of else None
    captured: list[Statement] = []

    def hook(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        captured.append(Statement(statement, dict(parameters or {})))

    async def run() -> None:
        engine = create_service_engine(url, Settings(database_url=url, _env_file=None))
        try:
            async with AsyncSession(engine) as session:
                await service.board(session, period, "approved", moment)  # connects, warms the dialect up
            event.listen(engine.sync_engine, "before_cursor_execute", hook)
            async with AsyncSession(engine) as session:
                await service.board(session, period, "approved", moment)
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except Exception as error:  # a failing board is a finding to print, not a crash
        return captured, f"{type(error).__name__}: {error}"
    return captured, None


def raw_sql(urls: list[str], boards: list[list[Statement]], repeat: int, explains: int = 5) -> list[RawSql]:
    """Each subject's captured statements replayed with psycopg (no server-side prepare, like the service),
    taking turns between the subjects: wall time per statement and per board, then EXPLAIN (ANALYZE, BUFFERS)."""
    with ExitStack() as stack:
        cursors = [stack.enter_context(stack.enter_context(
            psycopg.connect(url, autocommit=True, prepare_threshold=None)).cursor()) for url in urls]

        def execute(cursor: psycopg.Cursor[Any], statement: Statement, prefix: str = "") -> list[Any]:
            cursor.execute(prefix + statement.sql, statement.params)
            return cursor.fetchall()

        rows = [[len(execute(cursor, s)) for s in board] for cursor, board in zip(cursors, boards, strict=True)]
        walls: list[list[list[float]]] = [[[] for _ in board] for board in boards]
        sums: list[list[float]] = [[] for _ in boards]
        for _ in range(repeat):
            for n, (cursor, board) in enumerate(zip(cursors, boards, strict=True)):
                total = 0.0
                for i, statement in enumerate(board):
                    started = time.perf_counter()
                    execute(cursor, statement)
                    elapsed = (time.perf_counter() - started) * 1000
                    walls[n][i].append(elapsed)
                    total += elapsed
                sums[n].append(total)
        runs: list[list[list[tuple[float, float, list[str]]]]] = [[[] for _ in board] for board in boards]
        for _ in range(explains):
            for n, (cursor, board) in enumerate(zip(cursors, boards, strict=True)):
                for i, statement in enumerate(board):
                    lines = [line for (line,) in execute(cursor, statement, "EXPLAIN (ANALYZE, BUFFERS) ")]
                    runs[n][i].append((_plan_time(lines, "Execution Time"), _plan_time(lines, "Planning Time"), lines))
    return [RawSql(board, [statistics.median(w) for w in walls[n]], statistics.median(sums[n]), rows[n],
                   [statistics.median(r[0] for r in runs[n][i]) for i in range(len(board))],
                   [statistics.median(r[1] for r in runs[n][i]) for i in range(len(board))],
                   [runs[n][i][-1][2] for i in range(len(board))])
            for n, board in enumerate(boards)]


def _plan_time(lines: list[str], label: str) -> float:
    for line in lines:
        if line.startswith(label):
            return float(line.split(":")[1].split()[0])
    return 0.0


def literal_sql(conninfo: str, statement: Statement) -> str:
    with psycopg.connect(conninfo) as conn:
        return psycopg.ClientCursor(conn).mogrify(statement.sql, statement.params)


def prepare(stack: ExitStack, label: str, args: argparse.Namespace, months: list[str], now: datetime) -> Subject:
    """A fresh database (dropped when ``stack`` closes, unless --keep): migrations and seed through the CLI, the
    bulk load, and an aggregates:read token."""
    name = f"zwc_bench_history_{os.getpid()}_{secrets.token_hex(4)}"
    admin = f"{args.pg}/postgres"
    url = f"{args.pg}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop() -> None:
        if args.keep:
            print(f"kept database {url}")
            return
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    stack.callback(drop)
    print(f"\n=== {label}: database {name}", flush=True)
    env = environment(url, stack)
    cli(env, "db", "upgrade")
    cli(env, "seed")
    loaded = load(url, args.indicators, months, not args.no_audit, now)
    print(loaded.describe(), flush=True)
    token = cli(env, "token", "create", "--department", "zzwf", "--scope", "aggregates:read",
                "--name", "bench history").splitlines()[-1]
    return Subject(label, url, loaded, token)


def environment(url: str, stack: ExitStack) -> dict[str, str]:
    scratch = stack.enter_context(tempfile.TemporaryDirectory())
    # The per-token limiter runs on every request but never refuses: this measures the endpoints, not 429s.
    return {**os.environ, "ZWC_DATABASE_URL": url, "ZWC_FILES_DIR": f"{scratch}/files",
            "ZWC_RATE_LIMIT": "1000000000/minute"}


def serve(stack: ExitStack, args: argparse.Namespace, subject: Subject) -> None:
    """`zwc serve --no-worker` on the subject's database, stopped when ``stack`` closes."""
    log = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "server.log"
    subject.base, _server = start_server(stack, [ZWC, "serve", "--no-worker", "--workers", str(args.workers)],
                                         environment(subject.url, stack), log)


def measure(subjects: list[Subject], args: argparse.Namespace) -> None:
    """Every endpoint on every subject (taking turns), then the raw SQL of the boards behind them."""
    targets = endpoints(args.year)
    for subject in subjects:
        auth = {"Authorization": f"Bearer {subject.token}"}
        first = httpx.get(f"{subject.base}/v1/aggregates?period={args.year}", headers=auth, timeout=60)
        first.raise_for_status()
        subject.etag = first.headers.get("etag")
        scores = httpx.get(f"{subject.base}/v1/scores?period={args.year}", headers=auth, timeout=60)
        scores.raise_for_status()
        subject.score_statuses = Counter(item["status"] for item in scores.json()["indicators"])
        print(f"{subject.label}: scores?period={args.year} lists {len(scores.json()['indicators'])} indicators, "
              f"statuses {dict(sorted(subject.score_statuses.items()))}; aggregates ETag {subject.etag}", flush=True)
    print(f"load average before measuring: {load_average()}", flush=True)
    for target in targets:
        latencies = sequential(subjects, target, args.warmup, args.requests)
        # about --concurrent-seconds of work at the sequential pace, within [4 x concurrency, the cap]
        counts = [max(4 * args.concurrency, min(args.concurrent_requests,
                                                int(args.concurrent_seconds * 1000 / figures.p50)))
                  for figures in latencies]
        rates = asyncio.run(throughput(subjects, target, counts, args.concurrency))
        for subject, figures, rate in zip(subjects, latencies, rates, strict=True):
            figures.rps, figures.concurrent_p50, figures.concurrent_statuses = rate
            subject.latency[target.name] = figures
            print(f"  {subject.label}: {target.name}: p50 {figures.p50:.1f} ms, {figures.rps:.1f} req/s, statuses "
                  f"{dict(sorted((figures.statuses + figures.concurrent_statuses).items()))}", flush=True)
    print(f"load average after the HTTP measurements: {load_average()}", flush=True)
    boards = sorted({target.board for target in targets if target.board[0]}, key=lambda b: (b[0], b[1] or ""))
    for board in boards:
        captured = [capture_board_sql(subject.url, *board) for subject in subjects]
        working = [n for n, (_statements, error) in enumerate(captured) if error is None]
        replayed = raw_sql([subjects[n].url for n in working], [captured[n][0] for n in working], args.sql_repeat)
        for n, (statements, error) in enumerate(captured):
            subjects[n].sql[board] = (replayed[working.index(n)] if error is None
                                      else RawSql(statements, [], 0.0, [], [], [], [], error))


# ------------------------------------------------------------------------------------------------ output


def board_name(board: tuple[str, str | None]) -> str:
    return f"board({board[0]}{', as_of ' + board[1][:10] if board[1] else ''})"


def print_subject(subject: Subject, targets: list[Endpoint], plans: bool) -> None:
    print(f"\n--- {subject.label}: {subject.loaded.describe()}")
    for board, raw in subject.sql.items():
        if raw.error:
            print(f"\nraw SQL of {board_name(board)}: NOT MEASURED, the board fails in-process after "
                  f"{len(raw.statements)} statement(s): {raw.error}")
            continue
        print(f"\nraw SQL of {board_name(board)}: {len(raw.statements)} statements; wall (psycopg, median) "
              f"sum {raw.wall_sum_ms:.2f} ms; EXPLAIN ANALYZE execution sum {raw.execution_sum_ms:.2f} ms")
        for n, statement in enumerate(raw.statements):
            head = " ".join(statement.sql.split())[:110]
            print(f"  #{n + 1} {raw.rows[n]:>6} rows  wall {raw.wall_ms[n]:7.2f} ms  exec {raw.execution_ms[n]:7.2f} ms"
                  f"  plan {raw.planning_ms[n]:5.2f} ms  {head}…")
        for n, line in raw.seq_scans:
            print(f"  !!! statement #{n}: {line}")
        if plans:
            for n, (statement, plan) in enumerate(zip(raw.statements, raw.plans, strict=True), 1):
                print(f"\n  [#{n}] {literal_sql(subject.url, statement)}")
                for line in plan:
                    print(f"      {line}{'   <<< SEQ SCAN' if SEQ_SCAN.search(line) else ''}")
    floor = subject.latency[targets[0].name]
    print(f"\n{subject.label}: {subject.loaded.submissions:,} submissions")
    print(f"{'endpoint':<34}{'bytes':>8}{'p50':>8}{'p95':>8}{'p99':>8}{'req/s@c':>9}{'c-p50':>8}"
          f"{'SQL sum':>9}{'p50/SQL':>9}{'rps/floor':>10}  statuses")
    for target in targets:
        f = subject.latency[target.name]
        replayed = subject.sql.get(target.board)
        good = replayed if replayed and not replayed.error else None
        sql_sum = f"{good.wall_sum_ms:9.2f}" if good else f"{'-':>9}"
        ratio = f"{f.p50 / good.wall_sum_ms:9.2f}" if good else f"{'-':>9}"
        statuses = dict(sorted((f.statuses + f.concurrent_statuses).items()))
        print(f"{target.name:<34}{f.size:>8}{f.p50:8.2f}{f.p95:8.2f}{f.p99:8.2f}{f.rps:9.1f}{f.concurrent_p50:8.1f}"
              f"{sql_sum}{ratio}{f.rps / floor.rps:10.3f}  {statuses}")
    print("(ms; p50/p95/p99: sequential on one connection; req/s@c and c-p50: with the given concurrency; "
          "SQL sum: the board's statements replayed with psycopg, median wall time)")


def print_comparison(small: Subject, large: Subject, targets: list[Endpoint]) -> None:
    print(f"\n=== comparison: {small.loaded.submissions:,} vs {large.loaded.submissions:,} submissions "
          f"({small.loaded.revisions:,} vs {large.loaded.revisions:,} revisions), same catalogue, measured in turns")
    same = small.etag == large.etag
    print(f"aggregates ETag short {small.etag} / long {large.etag}: {'identical figures' if same else 'DIFFERENT'}")
    print(f"{'endpoint':<34}{'p50 short':>10}{'p50 long':>10}{'ratio':>7}{'rps short':>10}{'rps long':>10}"
          f"{'ratio':>7}")
    for target in targets:
        a, b = small.latency[target.name], large.latency[target.name]
        print(f"{target.name:<34}{a.p50:10.2f}{b.p50:10.2f}{b.p50 / a.p50:7.2f}{a.rps:10.1f}{b.rps:10.1f}"
              f"{b.rps / a.rps:7.2f}")
    print(f"{'raw SQL (ms)':<34}{'sum short':>10}{'sum long':>10}{'ratio':>7}{'exec short':>11}{'exec long':>11}"
          f"{'ratio':>7}")
    for board in small.sql:
        a_sql, b_sql = small.sql[board], large.sql[board]
        if a_sql.error or b_sql.error:
            print(f"{board_name(board):<34}  not measured (the board fails)")
            continue
        print(f"{board_name(board):<34}{a_sql.wall_sum_ms:10.2f}{b_sql.wall_sum_ms:10.2f}"
              f"{b_sql.wall_sum_ms / a_sql.wall_sum_ms:7.2f}{a_sql.execution_sum_ms:11.2f}"
              f"{b_sql.execution_sum_ms:11.2f}{b_sql.execution_sum_ms / a_sql.execution_sum_ms:7.2f}")


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def code_state() -> str:
    """The commit measured, and whether app/ or migrations/ differ from it (read-only git commands)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    changed = git("status", "--porcelain", "--", "app", "migrations").splitlines()
    return f"commit {git('rev-parse', '--short', 'HEAD') or '?'}" + (
        f" with {len(changed)} uncommitted change(s) in app/ and migrations/" if changed else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--indicators", type=int, default=800, help="synthetic monthly indicators (default 800)")
    parser.add_argument("--months", type=int, default=130,
                        help="months of history, ending with --end (default 130: 2016-01..2026-10 in Nov 2026)")
    parser.add_argument("--end", default=None, help="last month of the history (default: the last full month)")
    parser.add_argument("--year", type=int, default=2025, help="the measured year (period=Y, Y-06, as_of Y+1-01-20)")
    parser.add_argument("--compare", action="store_true",
                        help="also build a short history (the same indicators, the measured year only) and measure "
                             "both, taking turns")
    parser.add_argument("--no-audit", action="store_true", help="load no audit_events rows")
    parser.add_argument("--requests", type=int, default=200, help="sequential requests per endpoint")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--concurrent-seconds", type=float, default=20,
                        help="concurrent requests per endpoint: about this many seconds at the sequential p50")
    parser.add_argument("--concurrent-requests", type=int, default=2000, help="cap of the concurrent requests")
    parser.add_argument("--sql-repeat", type=int, default=50, help="replays of each board's statements")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-plans", dest="plans", action="store_false", help="do not print the query plans")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432", help="server, without a database")
    parser.add_argument("--keep", action="store_true", help="keep the databases (their URLs are printed)")
    args = parser.parse_args()
    now = datetime.now(UTC)
    months = months_ending(args.end or last_full_month(now), args.months)
    measured = [month_label(args.year, month) for month in range(1, 13)]
    if not set(measured) <= set(months):
        raise SystemExit(f"the history {months[0]}..{months[-1]} does not cover the measured year {args.year}")
    print(f"code: {code_state()}")
    print(f"{os.cpu_count()} CPU(s), load average {load_average()}; PostgreSQL at {args.pg}; "
          f"{args.workers} server worker(s); {args.requests} sequential requests after {args.warmup} warm-up; "
          f"~{args.concurrent_seconds:g} s of requests at concurrency {args.concurrency}; "
          f"now {now.isoformat(timespec='seconds')}")
    targets = endpoints(args.year)
    with ExitStack() as stack:
        subjects = [prepare(stack, "short history", args, measured, now)] if args.compare else []
        subjects.append(prepare(stack, "long history", args, months, now))
        for subject in subjects:
            serve(stack, args, subject)
        measure(subjects, args)
        for subject in subjects:
            print_subject(subject, targets, args.plans)
        if len(subjects) == 2:
            print_comparison(subjects[0], subjects[1], targets)


if __name__ == "__main__":
    main()
