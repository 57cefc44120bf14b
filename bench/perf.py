"""The benchmark suite, side by side (issue 7, items 1, 2, 3 and 5): wrk against the real server and its floors.

One command builds a fresh PostgreSQL database (migrations and `zwc seed` through the CLI, then psycopg COPY):
the 48 indicators of the real catalogue with ten years of history at their own frequency (monthly, quarterly,
annual), a large synthetic history (bench/history.py's loader: `--synthetic-indicators` monthly indicators x
`--months`, at least 100,000 submissions with their revisions and audit events), and `--cells` zero-waste cells
(some certified) with their audit and outbox events. It mints tokens with `zwc token create`, starts the real
server (`zwc serve --no-worker`, `ZWC_LOG_LEVEL=WARNING`, `ZWC_RATE_LIMIT=1000000000/minute`) with 1 and then 2
worker processes, and drives each endpoint with wrk (`--connections`, `--duration` s after `--warmup` s), taking
turns with its floors:

* `/healthz` of the same server (the framework floor);
* a bare ASGI callable (bench/bare_asgi.py) served by the same uvicorn with the same options, answering the
  bytes the endpoint answered when recorded once (the server floor);
* the endpoint's SQL: one request of each endpoint run in-process with a `before_cursor_execute` hook (the
  statement count per request), its SELECTs replayed with psycopg and run under `EXPLAIN (ANALYZE, BUFFERS)`
  (bench/history.py's `raw_sql`), plans printed, every Seq Scan on a table of 10,000 rows or more flagged.

Pinning (`taskset`): 1 worker: server on core 0, wrk on core 1; 2 workers: server on cores 0-1, wrk on core 1
(shares a core with a server worker; PostgreSQL is never pinned). Prints Markdown tables, writes JSON (`--json`).

Checks (exit 1 when one fails; never a timing): every wrk run completed requests, no answer outside 2xx/3xx
and no socket error; the POST runs created exactly as many cells (by SQL, by the run's name prefix) as wrk
counted 201s, plus at most the requests cut off in flight when wrk stopped, each with one `cell.applied` audit
and outbox event. `--smoke`: tiny dataset, 1 worker, 2 s per endpoint, no warm-up: about a minute.

    .venv/bin/python bench/perf.py --json perf.json        # the full run (about 12 minutes here)
    .venv/bin/python bench/perf.py --smoke                 # CI
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import history  # bench/history.py: the synthetic history, SQL capture and replay
import httpx
import psycopg
from psycopg import sql
from submissions import ROOT, ZWC, cli, start_server  # shared helpers of bench/submissions.py

from app.core.periods import parse_period

BENCH = Path(__file__).resolve().parent
CATALOGUE = ROOT / "app" / "catalogue" / "data"
RATE_LIMIT = "1000000000/minute"
YEAR = 2025  # the measured period of scores and aggregates
BIG_TABLE_ROWS = 10_000
SEQ_SCAN = re.compile(r"Seq Scan on (\w+)")
P99_READ_MS = 50.0


# ------------------------------------------------------------------------------------------------ dataset


def catalogue_rows() -> list[dict[str, str]]:
    with (CATALOGUE / "indicators.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def real_periods(frequency: str, first_year: int, now: datetime) -> list[str]:
    """Every period of the frequency from ``first_year`` on that has ended by now."""
    labels: list[str] = []
    for year in range(first_year, now.year + 1):
        if frequency == "annual":
            labels.append(f"{year}")
        elif frequency == "quarterly":
            labels += [f"{year}Q{q}" for q in range(1, 5)]
        else:
            labels += [f"{year}-{m:02d}" for m in range(1, 13)]
    ended = []
    for label in labels:
        period = parse_period(label)
        assert period is not None
        if period.end_instant < now:
            ended.append(label)
    return ended


TEMPLATE_OF = {"percent": 0, "quantity": 1, "count": 2, "boolean": 3, "ratio": 4}


def load_real_history(url: str, years: int, now: datetime) -> history.Loaded:
    """Ten years (``years``) of submissions for every indicator of the real catalogue fed by submissions, at its
    own frequency, generated like bench/history.py's (created, submitted, approved; some returned or reopened)."""
    rows = [row for row in catalogue_rows() if row["source"] == "submissions"]
    indicators = [history.SyntheticIndicator(row["code"], history.TEMPLATES[TEMPLATE_OF[row["value_type"]]],
                                             row["category"], row["lead_department"]) for row in rows]
    frequency = {row["code"]: row["frequency"] for row in rows}
    first_year = now.year - years
    by_period: dict[str, list[history.SyntheticIndicator]] = {}
    for indicator in indicators:
        for label in real_periods(frequency[indicator.code], first_year, now):
            by_period.setdefault(label, []).append(indicator)
    loaded = history.Loaded(indicators=len(indicators), months=sorted(by_period))
    started = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        next_id = cur.execute("SELECT coalesce(max(id), 0) + 1 FROM submissions").fetchone()[0]  # type: ignore[index]
        order = sorted(by_period, key=lambda label: parse_period(label).end_instant)  # type: ignore[union-attr]
        for label in order:
            period = parse_period(label)
            assert period is not None
            batch = [g for g in (history.generate(i, period, now) for i in by_period[label]) if g is not None]
            for generated in batch:
                generated.row["indicator_version"] = 1
            next_id = history.write_batch(cur, batch, next_id, loaded, True)
        cur.execute("SELECT setval(pg_get_serial_sequence('submissions', 'id'), (SELECT max(id) FROM submissions))")
        # The feed's events for the approvals (what /v1/changes lists first).
        cur.execute("""INSERT INTO outbox_events (event, entity, entity_id, at, data)
                       SELECT 'submission.approved', 'submission', id::text, approved_at,
                              jsonb_build_object('id', id, 'indicator', indicator, 'period', period, 'value', value,
                                                 'status', status)
                       FROM submissions WHERE approved_at IS NOT NULL ORDER BY approved_at""")
    loaded.seconds = time.perf_counter() - started
    return loaded


@dataclass
class CellsLoaded:
    cells: int = 0
    certified: int = 0
    audit_events: int = 0
    outbox_events: int = 0
    seconds: float = 0.0


def load_cells(url: str, count: int, now: datetime) -> CellsLoaded:
    """``count`` cells applied over the last three years by the responsible departments, a fifth certified (with
    their certificates and counters), each with its audit and outbox events, as the service writes them."""
    started = time.perf_counter()
    loaded = CellsLoaded()
    with (CATALOGUE / "cell-types.csv").open(encoding="utf-8") as handle:
        types = [(row["code"], row["responsible_department"], int(row["validity_years"]))
                 for row in csv.DictReader(handle)]
    with (CATALOGUE / "towns.csv").open(encoding="utf-8") as handle:
        towns = [row["code"] for row in csv.DictReader(handle)]
    first = now - timedelta(days=3 * 365)
    span = (now - timedelta(days=90) - first).total_seconds()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        next_id = cur.execute("SELECT coalesce(max(id), 0) + 1 FROM cells").fetchone()[0]  # type: ignore[index]
        cells, certificates, audit, outbox = [], [], [], []
        counters: dict[tuple[int, str], int] = {}
        for n in range(count):
            kind, department, validity = types[n % len(types)]
            created = first + timedelta(seconds=span * n / max(1, count))
            cell: dict[str, Any] = {
                "id": next_id + n, "type": kind, "name": f"基准细胞 {n + 1:05d}", "town": towns[n % len(towns)],
                "address": f"基准路 {n + 1} 号", "contact": f"cell-{n + 1}@example.invalid",
                "latitude": 34.5 + (n % 100) / 1000, "longitude": 113.4 + (n % 70) / 1000, "evidence": [],
                "department": department, "status": "applied", "certificate_no": None, "certified_at": None,
                "valid_until": None, "version": 1, "created_at": created, "updated_at": created}
            events = [("cell.applied", created, dict(cell))]
            if n % 5 == 4:
                certified = created + timedelta(days=30 + n % 50)
                counters[(certified.year, kind)] = number = counters.get((certified.year, kind), 0) + 1
                number_text = f"XM-WF-{certified.year}-{kind[:3].upper()}-{number:04d}"
                cell.update(status="certified", certificate_no=number_text, certified_at=certified, version=2,
                            updated_at=certified)
                day = certified.date()
                cell["valid_until"] = date(day.year + validity, day.month, min(day.day, 28))
                certificates.append((cell["certificate_no"], cell["id"], certified, cell["valid_until"]))
                events.append(("cell.certified", certified, dict(cell)))
                loaded.certified += 1
            cells.append(cell)
            for action, at, state in events:
                snapshot = {k: (v.isoformat() if isinstance(v, datetime | date) else v)
                            for k, v in state.items() if k not in ("created_at", "updated_at")}
                audit.append((at, department, action, "cell", str(cell["id"]),
                              json.dumps(snapshot, ensure_ascii=False)))
                public = {k: v for k, v in snapshot.items() if k != "contact"}
                outbox.append((action, "cell", str(cell["id"]), at,
                               json.dumps({**public, "at": at.isoformat()}, ensure_ascii=False)))
        columns = ("id", "type", "name", "town", "address", "contact", "latitude", "longitude", "evidence",
                   "department", "status", "certificate_no", "certified_at", "valid_until", "version", "created_at",
                   "updated_at")
        with cur.copy(history.copy_statement("cells", columns)) as copy:
            for cell in cells:
                copy.write_row(tuple(json.dumps(cell[c]) if c == "evidence" else cell[c] for c in columns))
        with cur.copy("COPY certificates (certificate_no, cell_id, certified_at, valid_until) FROM STDIN") as copy:
            for row in certificates:
                copy.write_row(row)
        cur.executemany("INSERT INTO certificate_counters (year, type, last) VALUES (%s, %s, %s) "
                        "ON CONFLICT (year, type) DO UPDATE SET last = "
                        "greatest(certificate_counters.last, EXCLUDED.last)",
                        [(year, kind, last) for (year, kind), last in counters.items()])
        with cur.copy("COPY audit_events (at, department, action, entity, entity_id, after) FROM STDIN") as copy:
            for row in sorted(audit, key=lambda r: r[0]):
                copy.write_row(row)
        with cur.copy("COPY outbox_events (event, entity, entity_id, at, data) FROM STDIN") as copy:
            for row in sorted(outbox, key=lambda r: r[3]):
                copy.write_row(row)
        cur.execute("SELECT setval(pg_get_serial_sequence('cells', 'id'), (SELECT max(id) FROM cells))")
    loaded.cells, loaded.audit_events, loaded.outbox_events = count, len(audit), len(outbox)
    loaded.seconds = time.perf_counter() - started
    return loaded


def create_database(stack: ExitStack, pg: str, keep: bool) -> str:
    """A fresh database named with a random suffix, dropped when ``stack`` closes (also on failure) unless keep."""
    name = f"zwc_bench_perf_{os.getpid()}_{secrets.token_hex(4)}"
    admin = f"{pg}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"{pg}/{name}"

    def drop() -> None:
        if keep:
            print(f"kept database {url}")
            return
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    stack.callback(drop)
    return url


def table_sizes(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        names = [name for (name,) in conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r'")]
        return {name: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))).fetchone()[0]  # type: ignore[index]
                for name in names}


# ------------------------------------------------------------------------------------------------ servers


def environment(url: str, scratch: str) -> dict[str, str]:
    return {**os.environ, "ZWC_DATABASE_URL": url, "ZWC_FILES_DIR": f"{scratch}/files", "ZWC_LOG_LEVEL": "WARNING",
            "ZWC_RATE_LIMIT": RATE_LIMIT}


# ------------------------------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    target: str
    token: str  # "reader", "writer" or "" (none)
    conditional: bool = False  # sent with If-None-Match: <the recorded ETag>
    healthz_target: float | None = None  # the target: req/s >= this x /healthz (1 worker)

    @property
    def read(self) -> bool:
        return self.method == "GET" and self.target.startswith("/v1/")


ENDPOINTS = [
    Endpoint("GET /healthz", "GET", "/healthz", ""),
    Endpoint("GET /v1/me", "GET", "/v1/me", "reader"),
    Endpoint("GET /v1/indicators", "GET", "/v1/indicators", "reader"),
    Endpoint("GET /v1/indicators/{code}", "GET", "/v1/indicators/1.4.03", "reader", healthz_target=0.5),
    Endpoint("GET /v1/submissions?limit=50", "GET", "/v1/submissions?limit=50", "reader"),
    Endpoint("GET /v1/cells?limit=50", "GET", "/v1/cells?limit=50", "reader"),
    Endpoint("GET /v1/changes?limit=100", "GET", "/v1/changes?limit=100", "reader"),
    Endpoint(f"GET /v1/scores?period={YEAR}", "GET", f"/v1/scores?period={YEAR}", "reader", healthz_target=0.2),
    Endpoint(f"GET /v1/aggregates?period={YEAR}", "GET", f"/v1/aggregates?period={YEAR}", "reader"),
    Endpoint(f"GET /v1/aggregates?period={YEAR} (304)", "GET", f"/v1/aggregates?period={YEAR}", "reader",
             conditional=True, healthz_target=0.6),
    Endpoint("POST /v1/cells", "POST", "/v1/cells", "writer", healthz_target=0.25),
]


@dataclass
class Context:
    tokens: dict[str, str]
    types: list[str]
    towns: list[str]
    etag: str = ""

    def headers(self, endpoint: Endpoint) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[endpoint.token]}"} if endpoint.token else {}
        if endpoint.conditional:
            headers["If-None-Match"] = self.etag
        return headers

    def body(self, name: str) -> dict[str, Any]:
        return {"type": self.types[0], "name": name, "town": self.towns[0], "address": "压测路 0 号",
                "contact": "perf@example.invalid"}


def record(base: str, context: Context) -> list[dict[str, Any]]:
    """Each endpoint's real answer, once (the bare ASGI app serves these bytes)."""
    recorded = []
    with httpx.Client(base_url=base, timeout=60) as client:
        etag = client.get(f"/v1/aggregates?period={YEAR}", headers=context.headers(ENDPOINTS[1])).headers.get("etag")
        context.etag = etag or '"none"'
        for endpoint in ENDPOINTS:
            headers = context.headers(endpoint)
            if endpoint.method == "POST":
                headers["Idempotency-Key"] = f"perf-record-{secrets.token_hex(8)}"
                response = client.post(endpoint.target, headers=headers, json=context.body("perf record"))
            else:
                response = client.get(endpoint.target, headers=headers)
            recorded.append({"name": endpoint.name, "method": endpoint.method, "target": endpoint.target,
                             "conditional": endpoint.conditional, "status": response.status_code,
                             "headers": list(response.headers.items()),
                             "body": base64.b64encode(response.content).decode()})
    return recorded


# ---------------------------------------------------------------------------------------------------- wrk


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: apt-get install -y wrk", flush=True)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=False)
    found = shutil.which("wrk")
    if not found:
        subprocess.run(["apt-get", "update"], check=False)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed and apt-get could not install it")
    return found


@dataclass
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx_3xx: int
    socket_errors: int
    timeouts: int
    bytes_per_request: float
    extra: dict[str, int] = field(default_factory=dict)  # the POST script's counts


def run_wrk(wrk: str, cpus: str, base: str, endpoint: Endpoint, context: Context, seconds: int, connections: int,
            prefix: str) -> WrkResult:
    if endpoint.method == "POST":
        script = BENCH / "wrk" / "post_cells.lua"
        args = [prefix, context.tokens[endpoint.token], ",".join(context.types), ",".join(context.towns)]
    else:
        script = BENCH / "wrk" / "get.lua"
        args = [f"{name}: {value}" for name, value in context.headers(endpoint).items()]
    command = ["taskset", "-c", cpus, wrk, "--threads", "1", "--connections", str(connections), "--duration",
               f"{seconds}s", "--timeout", "10s", "--latency", "--script", str(script), f"{base}{endpoint.target}",
               "--", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=seconds + 60)
    line = next((line for line in done.stdout.splitlines() if line.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({done.returncode}) for {endpoint.name}:\n{done.stdout}\n{done.stderr}")
    figures = json.loads(line.removeprefix("WRKJSON "))
    sample = next((line for line in done.stdout.splitlines() if line.startswith("WRKSAMPLE ")), None)
    if sample:
        print(f"    {endpoint.name}: first answer other than 201: {sample.removeprefix('WRKSAMPLE ')}", flush=True)
    requests = int(figures["requests"])
    extra = {k: int(figures[k]) for k in ("sent", "n201", "n2xx", "n3xx", "n4xx", "n5xx") if k in figures}
    return WrkResult(requests, requests / (figures["duration_us"] / 1e6), figures["p50"] / 1000, figures["p90"] / 1000,
                     figures["p99"] / 1000, figures["max"] / 1000, int(figures["status"]),
                     int(figures["connect"]) + int(figures["read"]) + int(figures["write"]), int(figures["timeout"]),
                     figures["bytes"] / max(1, requests), extra)


# ----------------------------------------------------------------------------------------------------- SQL


@dataclass
class EndpointSql:
    statements: int  # per request, every statement the service sent (the in-process run)
    kinds: dict[str, int]
    in_process_ms: float  # median of a few in-process requests (no HTTP server, no network)
    status: int
    replayed: history.RawSql | None = None
    big_seq_scans: list[tuple[int, str]] = field(default_factory=list)


Captured = dict[str, tuple[list[history.Statement], int, float]]


def capture_endpoint_sql(url: str, context: Context, repeat: int) -> Captured:
    """One request of each /v1 endpoint in-process (httpx over ASGI, the app's lifespan run), recording every
    statement with a `before_cursor_execute` hook on every engine; then ``repeat`` more requests for the median
    in-process time."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from app.core.config import Settings
    from app.main import create_app

    captured: list[history.Statement] = []

    def hook(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        captured.append(history.Statement(statement, dict(parameters) if isinstance(parameters, dict) else {}))

    async def run() -> Captured:
        settings = Settings(database_url=url, rate_limit=RATE_LIMIT, log_level="WARNING", webhook_worker=False,
                            _env_file=None)  # type: ignore[call-arg]
        app = create_app(settings)
        results = {}
        event.listen(Engine, "before_cursor_execute", hook)
        try:
            async with app.router.lifespan_context(app), httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://perf") as client:
                for endpoint in ENDPOINTS:
                    if not endpoint.token:
                        continue

                    async def once(n: int, endpoint: Endpoint = endpoint) -> int:
                        headers = context.headers(endpoint)
                        if endpoint.method == "POST":
                            headers["Idempotency-Key"] = f"perf-sql-{secrets.token_hex(8)}"
                            body = context.body(f"perf sql {secrets.token_hex(4)} {n}")
                            return (await client.post(endpoint.target, headers=headers, json=body)).status_code
                        return (await client.get(endpoint.target, headers=headers)).status_code

                    await once(0)  # warm: dialect, caches, the token's last_used_at
                    captured.clear()
                    status = await once(1)
                    statements = list(captured)
                    times = []
                    for n in range(repeat):
                        started = time.perf_counter()
                        await once(n + 2)
                        times.append((time.perf_counter() - started) * 1000)
                    results[endpoint.name] = (statements, status, statistics.median(times))
        finally:
            event.remove(Engine, "before_cursor_execute", hook)
        return results

    return asyncio.run(run())


def statement_kind(statement: str) -> str:
    return statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"


def replayable(statement: history.Statement) -> bool:
    """SELECTs only (replaying a write would change the data); not the advisory locks."""
    text = statement.sql.lstrip().upper()
    return (text.startswith("SELECT") or text.startswith("WITH")) and "ADVISORY" not in text \
        and "INSERT" not in text and "UPDATE " not in text.replace("FOR UPDATE", "")


def measure_sql(url: str, context: Context, repeat: int) -> dict[str, EndpointSql]:
    captured = capture_endpoint_sql(url, context, max(3, repeat // 4))
    sizes = table_sizes(url)
    big = {name for name, rows in sizes.items() if rows >= BIG_TABLE_ROWS}
    out: dict[str, EndpointSql] = {}
    for name, (statements, status, in_process) in captured.items():
        kinds: dict[str, int] = {}
        for statement in statements:
            kinds[statement_kind(statement.sql)] = kinds.get(statement_kind(statement.sql), 0) + 1
        result = EndpointSql(len(statements), kinds, in_process, status)
        selects = [s for s in statements if replayable(s)]
        if selects:
            result.replayed = history.raw_sql([url], [selects], repeat, explains=3)[0]
            result.big_seq_scans = [(n, line.strip()) for n, plan in enumerate(result.replayed.plans, 1)
                                    for line in plan if (m := SEQ_SCAN.search(line)) and m.group(1) in big]
        out[name] = result
    return out


# --------------------------------------------------------------------------------------------------- runs


@dataclass
class Row:
    endpoint: str
    status: int
    bytes: int
    real: WrkResult
    bare: WrkResult
    healthz_rps: float = 0.0

    @property
    def ratio_healthz(self) -> float:
        return self.real.rps / self.healthz_rps if self.healthz_rps else 0.0

    @property
    def ratio_bare(self) -> float:
        return self.real.rps / self.bare.rps if self.bare.rps else 0.0


def target_of(endpoint: Endpoint) -> str:
    parts = []
    if endpoint.healthz_target is not None:
        parts.append(f"≥ {endpoint.healthz_target:g} × /healthz")
    if endpoint.read:
        parts.append(f"p99 < {P99_READ_MS:g} ms")
    return "; ".join(parts)


def verdict(endpoint: Endpoint, row: Row) -> tuple[bool | None, str]:
    """Whether the issue's targets hold, and by how much they miss."""
    held: list[bool] = []
    notes: list[str] = []
    if endpoint.healthz_target is not None:
        ok = row.ratio_healthz >= endpoint.healthz_target
        held.append(ok)
        notes.append(f"ratio {row.ratio_healthz / endpoint.healthz_target:.2f}× target")
    if endpoint.read:
        ok = row.real.p99_ms < P99_READ_MS
        held.append(ok)
        if not ok:
            notes.append(f"p99 {row.real.p99_ms / P99_READ_MS:.1f}× the limit")
    if not held:
        return None, ""
    return all(held), "; ".join(notes)


def measure(wrk: str, workers: int, bases: tuple[str, str], context: Context, args: argparse.Namespace,
            recorded: list[dict[str, Any]], run_tag: str) -> tuple[list[Row], list[dict[str, Any]]]:
    """Every endpoint, real server and bare floor in turns (warm-up, then the measured run)."""
    client_cpus = "1"
    rows = []
    posts: list[dict[str, Any]] = []
    for endpoint, answer in zip(ENDPOINTS, recorded, strict=True):
        results = []
        for kind, base in zip(("real", "bare"), bases, strict=True):
            prefix = f"perf {run_tag} w{workers} {kind}"
            if args.warmup:  # its cells' names do not start with the measured run's prefix
                run_wrk(wrk, client_cpus, base, endpoint, context, args.warmup, args.connections,
                        f"perf {run_tag} warm-up w{workers} {kind}")
            result = run_wrk(wrk, client_cpus, base, endpoint, context, args.duration, args.connections, prefix)
            results.append(result)
            if endpoint.method == "POST" and kind == "real":
                time.sleep(1.0)  # requests cut off by wrk's stop finish on the server
                posts.append({"prefix": prefix, "workers": workers, **result.extra})
        print(f"  {workers} worker(s) {endpoint.name:<40} real {results[0].rps:8.1f} req/s "
              f"p99 {results[0].p99_ms:7.2f} ms | bare {results[1].rps:8.1f} req/s", flush=True)
        rows.append(Row(endpoint.name, answer["status"], len(base64.b64decode(answer["body"])), *results))
    healthz = rows[0].real.rps
    for row in rows:
        row.healthz_rps = healthz
    return rows, posts


def check_posts(url: str, posts: list[dict[str, Any]]) -> list[str]:
    """The cells the measured POST runs created, by SQL: exactly the 201s, plus at most the requests cut off in
    flight when wrk stopped; one cell.applied audit and outbox event each; no answer but 201."""
    failures = []
    with psycopg.connect(url) as conn:
        for post in posts:
            pattern = post["prefix"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + " %"
            ids = [str(i) for (i,) in conn.execute("SELECT id FROM cells WHERE name LIKE %s", (pattern,))]
            audit = conn.execute("SELECT count(*) FROM audit_events WHERE action = 'cell.applied' AND entity = 'cell' "
                                 "AND entity_id = ANY(%s)", (ids,)).fetchone()[0]  # type: ignore[index]
            outbox = conn.execute("SELECT count(*) FROM outbox_events WHERE event = 'cell.applied' AND entity = 'cell' "
                                  "AND entity_id = ANY(%s)", (ids,)).fetchone()[0]  # type: ignore[index]
            answered = post["n201"] + post["n2xx"] + post["n3xx"] + post["n4xx"] + post["n5xx"]
            cut_off = post["sent"] - answered
            post.update(created=len(ids), audit=audit, outbox=outbox, cut_off=cut_off)
            print(f"  POST check ({post['workers']} worker(s)): sent {post['sent']}, 201 {post['n201']}, other answers "
                  f"{answered - post['n201']}, cut off in flight {cut_off}; cells created {len(ids)}, cell.applied "
                  f"audit {audit}, outbox {outbox}", flush=True)
            if answered != post["n201"]:
                failures.append(f"POST /v1/cells ({post['workers']} worker(s)): {answered - post['n201']} answers "
                                "other than 201")
            if not post["n201"] <= len(ids) <= post["n201"] + max(0, cut_off):
                failures.append(f"POST /v1/cells ({post['workers']} worker(s)): {len(ids)} cells created for "
                                f"{post['n201']} 201s and {cut_off} requests cut off")
            if audit != len(ids) or outbox != len(ids):
                failures.append(f"POST /v1/cells ({post['workers']} worker(s)): {len(ids)} cells but {audit} audit "
                                f"and {outbox} outbox cell.applied events")
    return failures


def check_rows(workers: int, rows: list[Row]) -> list[str]:
    failures = []
    for row in rows:
        for kind, result in (("real", row.real), ("bare", row.bare)):
            where = f"{row.endpoint} ({kind}, {workers} worker(s))"
            if result.requests <= 0:
                failures.append(f"{where}: wrk completed no request")
            if result.non_2xx_3xx:
                failures.append(f"{where}: {result.non_2xx_3xx} answers outside 2xx/3xx")
            if result.socket_errors:
                failures.append(f"{where}: {result.socket_errors} socket errors")
        if not 200 <= row.status < 400:
            failures.append(f"{row.endpoint}: recorded answer {row.status}")
    return failures


# ------------------------------------------------------------------------------------------------- output


def print_table(workers: int, rows: list[Row], pinning: str) -> None:
    print(f"\n### {workers} worker(s): {pinning}\n")
    print("| endpoint | status | bytes | req/s | p50 ms | p99 ms | ÷ /healthz | bare req/s | ÷ bare | target | holds |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for endpoint, row in zip(ENDPOINTS, rows, strict=True):
        held, note = verdict(endpoint, row)
        holds = "–" if held is None else ("yes" if held else "**no**") + (f" ({note})" if note else "")
        print(f"| `{row.endpoint}` | {row.status} | {row.bytes:,} | {row.real.rps:,.1f} | {row.real.p50_ms:.2f} | "
              f"{row.real.p99_ms:.2f} | {row.ratio_healthz:.3f} | {row.bare.rps:,.1f} | {row.ratio_bare:.3f} | "
              f"{target_of(endpoint) or '–'} | {holds} |")


def print_sql(figures: dict[str, EndpointSql], plans: bool, url: str) -> None:
    print("\n### SQL per request (one request in-process, statements replayed with psycopg)\n")
    print("| endpoint | statements | by kind | in-process ms | SELECTs replayed | SQL wall sum ms | "
          "EXPLAIN exec sum ms | Seq Scan on a big table |")
    print("|---|---:|---|---:|---:|---:|---:|---|")
    for name, f in figures.items():
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(f.kinds.items()))
        r = f.replayed
        seq = "; ".join(f"#{n}: {line}" for n, line in f.big_seq_scans) or "none"
        print(f"| `{name}` | {f.statements} | {kinds} | {f.in_process_ms:.2f} | {len(r.statements) if r else 0} | "
              f"{r.wall_sum_ms if r else 0:.2f} | {r.execution_sum_ms if r else 0:.2f} | {seq} |")
    for name, f in figures.items():
        r = f.replayed
        if r is None:
            continue
        print(f"\n#### `{name}`: {len(r.statements)} SELECT(s)")
        for n, statement in enumerate(r.statements):
            head = " ".join(statement.sql.split())[:120]
            print(f"  #{n + 1} {r.rows[n]:>6} rows  wall {r.wall_ms[n]:7.2f} ms  exec {r.execution_ms[n]:7.2f} ms  "
                  f"plan {r.planning_ms[n]:5.2f} ms  {head}…")
        for n, line in f.big_seq_scans:
            print(f"  !!! statement #{n}: {line}")
        if plans:
            for n, (statement, plan) in enumerate(zip(r.statements, r.plans, strict=True), 1):
                print(f"\n  [#{n}] {history.literal_sql(url, statement)}")
                for line in plan:
                    flag = "   <<< SEQ SCAN" if any(line.strip() == s for _, s in f.big_seq_scans) else ""
                    print(f"      {line}{flag}")


def row_json(endpoint: Endpoint, row: Row) -> dict[str, Any]:
    held, note = verdict(endpoint, row)
    return {"endpoint": row.endpoint, "method": endpoint.method, "target": endpoint.target, "status": row.status,
            "bytes": row.bytes, "real": asdict(row.real), "bare": asdict(row.bare),
            "ratio_healthz": row.ratio_healthz, "ratio_bare": row.ratio_bare, "goal": target_of(endpoint) or None,
            "holds": held, "note": note}


def sql_json(figures: dict[str, EndpointSql]) -> dict[str, Any]:
    out = {}
    for name, f in figures.items():
        r = f.replayed
        out[name] = {"statements": f.statements, "kinds": f.kinds, "in_process_ms": f.in_process_ms,
                     "status": f.status, "big_seq_scans": f.big_seq_scans,
                     "selects": [{"sql": s.sql, "rows": r.rows[n], "wall_ms": r.wall_ms[n],
                                  "execution_ms": r.execution_ms[n], "planning_ms": r.planning_ms[n],
                                  "plan": r.plans[n]} for n, s in enumerate(r.statements)] if r else [],
                     "wall_sum_ms": r.wall_sum_ms if r else 0.0,
                     "execution_sum_ms": r.execution_sum_ms if r else 0.0}
    return out


# --------------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true",
                        help="tiny dataset, 1 worker, 2 s per endpoint, no warm-up: checks only (about a minute)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=None, help="seconds of wrk per run (default 10; smoke 2)")
    parser.add_argument("--warmup", type=int, default=None, help="seconds of warm-up per run (default 2; smoke 0)")
    parser.add_argument("--workers", default=None, help="comma-separated worker counts (default 1,2; smoke 1)")
    parser.add_argument("--synthetic-indicators", type=int, default=None,
                        help="synthetic monthly indicators of the large history (default 780; smoke 4)")
    parser.add_argument("--months", type=int, default=None, help="months of synthetic history (default 130; smoke 13)")
    parser.add_argument("--years", type=int, default=None,
                        help="years of the real catalogue's history (default 10; smoke 2)")
    parser.add_argument("--cells", type=int, default=None, help="cells (default 10000; smoke 50)")
    parser.add_argument("--sql-repeat", type=int, default=None, help="replays of each SELECT (default 20; smoke 2)")
    parser.add_argument("--no-plans", dest="plans", action="store_false", help="do not print the query plans")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432", help="server, without a database")
    parser.add_argument("--keep", action="store_true", help="keep the database (its URL is printed)")
    args = parser.parse_args()

    def default(value: Any, full: Any, smoke: Any) -> Any:
        return value if value is not None else (smoke if args.smoke else full)

    args.duration = default(args.duration, 10, 2)
    args.warmup = default(args.warmup, 2, 0)
    worker_counts = [int(w) for w in default(args.workers, "1,2", "1").split(",")]
    synthetic = default(args.synthetic_indicators, 780, 4)
    months = default(args.months, 130, 13)
    years = default(args.years, 10, 2)
    cell_count = default(args.cells, 10_000, 50)
    sql_repeat = default(args.sql_repeat, 20, 2)

    began = time.perf_counter()
    wrk = ensure_wrk()
    if shutil.which("taskset") is None:
        raise SystemExit("taskset (util-linux) is needed to pin server and client")
    now = datetime.now(UTC)
    print(f"# bench/perf.py{' --smoke' if args.smoke else ''}\n")
    print(f"code: {history.code_state()}; {os.cpu_count()} CPU(s), load average {history.load_average()}; "
          f"PostgreSQL at {args.pg}; wrk {args.connections} connections, {args.warmup} s warm-up + {args.duration} s "
          f"per run; now {now.isoformat(timespec='seconds')}", flush=True)
    failures: list[str] = []
    report: dict[str, Any] = {"smoke": args.smoke, "started": now.isoformat(), "connections": args.connections,
                              "duration_s": args.duration, "warmup_s": args.warmup, "code": history.code_state(),
                              "cpus": os.cpu_count(), "runs": {}}
    with ExitStack() as stack:
        scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="zwc-perf-"))
        url = create_database(stack, args.pg, args.keep)
        env = environment(url, scratch)
        print(f"database {url.rsplit('/', 1)[-1]}", flush=True)
        cli(env, "db", "upgrade")
        cli(env, "seed")
        real = load_real_history(url, years, now)
        print(f"real catalogue: {real.indicators} indicators fed by submissions, {len(real.months)} periods "
              f"({real.months[0]}..{real.months[-1]}): {real.submissions:,} submissions, {real.revisions:,} revisions, "
              f"{real.audit_events:,} audit events ({real.seconds:.1f} s)", flush=True)
        cells = load_cells(url, cell_count, now)
        print(f"cells: {cells.cells:,} ({cells.certified:,} certified), {cells.audit_events:,} audit and "
              f"{cells.outbox_events:,} outbox events ({cells.seconds:.1f} s)", flush=True)
        months_list = history.months_ending(history.last_full_month(now), months)
        large = history.load(url, synthetic, months_list, True, now)  # ends with VACUUM (ANALYZE)
        print(f"synthetic history: {large.describe()}", flush=True)
        sizes = table_sizes(url)
        report["dataset"] = {"tables": sizes, "real_history": {"submissions": real.submissions,
                                                               "revisions": real.revisions},
                             "synthetic": {"indicators": synthetic, "months": months, "submissions": large.submissions,
                                           "revisions": large.revisions, "audit_events": large.audit_events},
                             "cells": asdict(cells)}
        print("rows: " + ", ".join(f"{name} {count:,}" for name, count in sorted(sizes.items()) if count >= 100),
              flush=True)
        reader = cli(env, "token", "create", "--department", "lead", "--scope", "aggregates:read",
                     "--name", "bench perf reader").splitlines()[-1]
        writer = cli(env, "token", "create", "--department", "lead", "--scope", "cells:write",
                     "--name", "bench perf writer").splitlines()[-1]
        with (CATALOGUE / "cell-types.csv").open(encoding="utf-8") as handle:
            types = [row["code"] for row in csv.DictReader(handle)]
        with (CATALOGUE / "towns.csv").open(encoding="utf-8") as handle:
            towns = [row["code"] for row in csv.DictReader(handle)]
        context = Context({"reader": reader, "writer": writer}, types, towns)
        run_tag = secrets.token_hex(3)
        recorded: list[dict[str, Any]] = []
        responses = Path(scratch) / "responses.json"
        pinnings = {}
        all_rows: dict[int, list[Row]] = {}
        posts: list[dict[str, Any]] = []
        for workers in worker_counts:
            server_cpus = "0" if workers == 1 else "0,1"
            pinning = ("server (and bare floor) on core 0, wrk on core 1" if workers == 1 else
                       f"server (and bare floor) on cores {server_cpus}, wrk on core 1 (shared with a server worker)")
            pinnings[workers] = pinning + "; PostgreSQL unpinned"
            with ExitStack() as servers:
                base, _server = start_server(servers, [ZWC, "serve", "--no-worker", "--workers", str(workers)], env,
                                             Path(scratch) / f"server-{workers}.log", cpus=server_cpus)
                if not recorded:
                    recorded = record(base, context)
                    responses.write_text(json.dumps(recorded), encoding="utf-8")
                    for answer in recorded:
                        print(f"recorded {answer['name']}: {answer['status']}, "
                              f"{len(base64.b64decode(answer['body'])):,} bytes", flush=True)
                bare, _bare_server = start_server(
                    servers, [sys.executable, str(BENCH / "bare_asgi.py"), "--responses", str(responses),
                              "--workers", str(workers)], env, Path(scratch) / f"bare-{workers}.log",
                    cpus=server_cpus, ready_path="/healthz")
                print(f"\n{workers} worker(s): {pinning}; load average {history.load_average()}", flush=True)
                rows, worker_posts = measure(wrk, workers, (base, bare), context, args, recorded, run_tag)
            all_rows[workers] = rows
            posts += worker_posts
            failures += check_rows(workers, rows)
        failures += check_posts(url, posts)
        print(f"\nload average after the wrk runs: {history.load_average()}", flush=True)
        print("capturing and replaying the SQL of each endpoint…", flush=True)
        sql_figures = measure_sql(url, context, sql_repeat)
        for name, f in sql_figures.items():
            expected = next(a["status"] for a in recorded if a["name"] == name)
            if f.status != expected:
                failures.append(f"{name}: in-process answer {f.status}, over HTTP {expected}")

        print("\n## Results\n")
        print(f"Dataset: {', '.join(f'{n} {c:,}' for n, c in sorted(sizes.items()) if c >= 100)} rows. "
              f"Ratios: req/s ÷ the same run's `/healthz` req/s; ÷ bare: req/s ÷ the bare ASGI app serving the "
              f"same bytes (same uvicorn options, same pinning), measured in turns with the endpoint. "
              f"Latency: wrk --latency under {args.connections} connections.")
        for workers in worker_counts:
            print_table(workers, all_rows[workers], pinnings[workers])
        print_sql(sql_figures, args.plans, url)
        elapsed = time.perf_counter() - began
        report["runs"] = {str(w): {"pinning": pinnings[w], "rows": [row_json(e, r) for e, r in
                                                                     zip(ENDPOINTS, all_rows[w], strict=True)]}
                          for w in worker_counts}
        report["posts"] = posts
        report["sql"] = sql_json(sql_figures)
        report["failures"] = failures
        report["elapsed_s"] = elapsed
        if args.json:
            args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
            print(f"\nfigures written to {args.json}")
        print("\nScores and aggregates against 1,000 vs 1,000,000 revisions: `bench/history.py --compare` "
              "(not redone here).")
        print(f"\nchecks: {'PASS' if not failures else 'FAIL'}")
        for failure in failures:
            print(f"  - {failure}")
        print(f"elapsed {elapsed / 60:.1f} min")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
