"""Load with nothing lost: creating POSTs through a PostgreSQL restart, then an exactly-once check (issue 6, item 5).

Creates a throwaway PostgreSQL database (`zwc db upgrade`, `zwc seed` through the CLI), mints a `cells:write`
token for the lead office and for every department responsible for a cell type (`zwc token create`), starts
the real server (`zwc serve --workers 2 --no-worker`, the rate limit off, logs at WARNING) and sends
`--requests` creating `POST /v1/cells` from `--concurrency` concurrent httpx clients. Every logical request
has its own `Idempotency-Key` and a unique cell `name`; it is retried with the same key and the same body
while its answer is lost or retryable (connection errors and timeouts, 5xx, 503 after its `Retry-After`
capped by `--retry-after-cap`, 409 `idempotency_key_in_progress` with a growing back-off: a key whose
attempt died keeps a 60 s lease) until acknowledged (201, or a replay with `Idempotent-Replayed: true`) or
`--give-up` seconds after its first attempt. Once about a third of the requests are acknowledged, the
PostgreSQL cluster is restarted once (`pg_ctlcluster --skip-systemctl-redirect VERSION CLUSTER restart`).

Afterwards SQL on the database checks that every acknowledged write exists exactly once (by the id answered
and by name), that no name exists twice, that the cells created are exactly the acknowledged ones plus any
unacknowledged that landed, and that each has one `cell.applied` audit event and one `cell.applied` outbox
event. Prints the figures and the verdict; exits 1 when anything was lost or duplicated, any attempt
answered 500, a request was rejected or given up, the restart failed, or the server did not recover.

It needs a PostgreSQL server where `postgres` may connect without a password (`--pg`) and the right to run
`pg_ctlcluster` on the cluster that serves it (`--pg-cluster`; the script refuses a cluster whose data
directory is not the one `--pg` reaches). Run it as a script (it imports helpers from bench/submissions.py).

    .venv/bin/python bench/load_faults.py                               # 3000 requests, concurrency 32
    .venv/bin/python bench/load_faults.py --ci                          # brief: 800 requests, concurrency 16
    .venv/bin/python bench/load_faults.py --pg postgresql://postgres@127.0.0.1:5433 --pg-cluster "15 faults"
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import secrets
import subprocess
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from psycopg import sql
from submissions import ROOT, ZWC, cli, percentile, start_server  # shared helpers of bench/submissions.py

CATALOGUE = ROOT / "app" / "catalogue" / "data"
ACKNOWLEDGED = 201
IN_PROGRESS = "idempotency_key_in_progress"


# ------------------------------------------------------------------------------------------------ records


@dataclass
class Attempt:
    outcome: str  # "201", "201 replayed", "503", "409 idempotency_key_in_progress", or an exception class
    status: int | None
    started: float  # seconds since the load began
    latency: float


@dataclass
class Logical:
    """One logical creating request: one key, one body, as many attempts as it takes."""

    index: int
    department: str
    token: str
    key: str
    body: dict[str, Any]
    attempts: list[Attempt] = field(default_factory=list)
    acknowledged_at: float | None = None
    replayed: bool = False
    cell_id: int | None = None
    answered_name: str | None = None
    rejected: str | None = None  # a final answer that is no acknowledgement (e.g. 422)
    gave_up: bool = False
    in_flight: bool = False

    @property
    def latency(self) -> float:
        assert self.acknowledged_at is not None
        return self.acknowledged_at - self.attempts[0].started


@dataclass
class Restart:
    started: float | None = None
    ended: float | None = None
    returncode: int | None = None
    output: str = ""
    probe: str = ""  # the keys left 'running' with no attempt in flight, shortly after the restart

    @property
    def seconds(self) -> float | None:
        return None if self.started is None or self.ended is None else self.ended - self.started


@dataclass
class Run:
    logical: list[Logical]
    restart: Restart
    elapsed: float = 0.0
    samples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # outcome -> evidence

    def sample(self, outcome: str, text: str, keep: int = 3) -> None:
        if len(self.samples[outcome]) < keep:
            self.samples[outcome].append(text)


# ------------------------------------------------------------------------------------------------- set-up


def cell_types() -> dict[str, list[str]]:
    """Department -> the cell types it is responsible for (the catalogue's cell-types.csv)."""
    mapping: dict[str, list[str]] = defaultdict(list)
    with (CATALOGUE / "cell-types.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            mapping[row["responsible_department"]].append(row["code"])
    return dict(mapping)


def towns() -> list[str]:
    with (CATALOGUE / "towns.csv").open(encoding="utf-8") as handle:
        return [row["code"] for row in csv.DictReader(handle)]


def parse_cluster(text: str | None) -> tuple[str, str]:
    """`--pg-cluster`: "15 main", "15/main" or "15:main"; default the first version under /etc/postgresql, main."""
    if text is None:
        versions = sorted((p.name for p in Path("/etc/postgresql").iterdir() if p.is_dir()),
                          key=lambda v: [int(part) if part.isdigit() else 0 for part in v.split(".")]) \
            if Path("/etc/postgresql").is_dir() else []
        if not versions:
            raise SystemExit("no PostgreSQL version under /etc/postgresql; name one with --pg-cluster")
        return versions[0], "main"
    parts = text.replace("/", " ").replace(":", " ").split()
    if len(parts) != 2:
        raise SystemExit(f"--pg-cluster {text!r}: expected 'VERSION CLUSTER', e.g. '15 main'")
    return parts[0], parts[1]


def check_cluster(pg: str, version: str, cluster: str) -> None:
    """Refuse to run unless `pg_lsclusters` says VERSION CLUSTER is online with the data directory --pg reaches:
    restarting another cluster would test nothing (and disturb whoever uses it)."""
    listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True).stdout
    rows = {(cols[0], cols[1]): cols for cols in (line.split() for line in listing.splitlines()) if len(cols) >= 6}
    if (version, cluster) not in rows:
        raise SystemExit(f"pg_lsclusters lists no cluster {version} {cluster}:\n{listing}")
    cols = rows[(version, cluster)]
    with psycopg.connect(f"{pg}/postgres", connect_timeout=5) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    served = str(row[0]) if row else ""
    if os.path.realpath(served) != os.path.realpath(cols[5]) or cols[3] != "online":
        raise SystemExit(f"--pg {pg} is served from {served!r}, but cluster {version} {cluster} is {cols[3]} "
                         f"with data directory {cols[5]!r}: refusing to restart a cluster the load does not use")


def create_database(stack: ExitStack, pg: str, keep: bool) -> str:
    """A fresh database, dropped when ``stack`` closes (also on failure) unless ``keep``; answers its URL."""
    name = f"zwc_load_{os.getpid()}_{secrets.token_hex(4)}"
    admin = f"{pg}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"{pg}/{name}"

    def drop() -> None:
        if keep:
            print(f"kept database {url}")
            return
        for _ in range(30):  # the cluster may still be coming back if the run failed early
            try:
                with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                return
            except psycopg.OperationalError:
                time.sleep(1)
        print(f"could not drop database {name}")

    stack.callback(drop)
    return url


def mint_tokens(env: dict[str, str], departments: list[str]) -> list[tuple[str, str]]:
    """(department, secret) for each department, with `cells:write`."""
    return [(department, cli(env, "token", "create", "--department", department, "--scope", "cells:write",
                             "--name", f"load faults {department}").splitlines()[-1])
            for department in departments]


# --------------------------------------------------------------------------------------------------- load


def plan(total: int, tokens: list[tuple[str, str]], tag: str) -> list[Logical]:
    responsible = cell_types()
    every_type = sorted(t for types in responsible.values() for t in types)
    town_codes = towns()
    rng = random.Random(tag)
    requests = []
    for index in range(total):
        department, token = tokens[index % len(tokens)]
        kind = rng.choice(every_type if department == "lead" else responsible[department])
        body = {"type": kind, "name": f"load {tag} #{index:06d}", "town": rng.choice(town_codes),
                "address": f"压测路 {index} 号", "contact": f"load-{index}@example.invalid"}
        requests.append(Logical(index, department, token, uuid.uuid4().hex, body))
    return requests


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential back-off with full jitter (half to all of the step)."""
    step = min(cap, base * 2.0 ** max(0, attempt - 1))
    return step * (0.5 + random.random() / 2)


def retry_after(response: httpx.Response, cap: float) -> float:
    try:
        wanted = float(response.headers.get("retry-after", "1"))
    except ValueError:
        wanted = 1.0
    return max(0.05, min(cap, wanted)) * (0.9 + random.random() / 5)


async def send(client: httpx.AsyncClient, request: Logical, run: Run, args: argparse.Namespace, t0: float,
               acknowledged: list[int], trigger: asyncio.Event, threshold: int) -> None:
    """Attempts of one logical request until it is acknowledged, rejected or given up."""
    headers = {"Authorization": f"Bearer {request.token}", "Idempotency-Key": request.key}
    in_progress = failures = 0
    while True:
        started = time.perf_counter()
        response: httpx.Response | None = None
        request.in_flight = True
        try:
            response = await client.post("/v1/cells", json=request.body, headers=headers)
            outcome = str(response.status_code)
        except httpx.TransportError as exc:
            outcome = type(exc).__name__
        finally:
            request.in_flight = False
        ended = time.perf_counter()
        code = ""
        if response is not None and response.headers.get("content-type", "").endswith("json"):
            try:
                answer = response.json()
            except ValueError:
                answer = None
            code = answer.get("code", "") if isinstance(answer, dict) and response.status_code >= 400 else ""
            if code:
                outcome = f"{outcome} {code}"
        if response is not None and response.headers.get("idempotent-replayed") == "true":
            outcome += " replayed"
        request.attempts.append(Attempt(outcome, response.status_code if response is not None else None,
                                        started - t0, ended - started))
        if response is not None and response.status_code != ACKNOWLEDGED:
            expected = response.status_code == 503 or code == IN_PROGRESS
            run.sample(outcome, f"request #{request.index} ({request.department}) at +{started - t0:.1f} s, "
                                f"X-Request-ID {response.headers.get('x-request-id')}, Retry-After "
                                f"{response.headers.get('retry-after')}: {response.text[:600]}", 1 if expected else 3)
        if response is not None and response.status_code == ACKNOWLEDGED:
            answer = response.json()
            request.acknowledged_at = ended - t0
            request.replayed = response.headers.get("idempotent-replayed") == "true"
            request.cell_id = int(answer["id"])
            request.answered_name = str(answer["name"])
            acknowledged[0] += 1
            if acknowledged[0] >= threshold:
                trigger.set()
            return
        if response is not None and 400 <= response.status_code < 500 and code != IN_PROGRESS \
                and response.status_code != 429:
            request.rejected = outcome  # a final answer: retrying the same key and body would replay it
            return
        if ended - t0 - request.attempts[0].started > args.give_up:
            request.gave_up = True
            return
        if response is not None and response.status_code in (429, 503):
            delay = retry_after(response, args.retry_after_cap)
        elif code == IN_PROGRESS:
            in_progress += 1
            delay = backoff(in_progress, 0.5, 8.0)
        else:  # the answer was lost (connection error, timeout) or a 5xx other than 503
            failures += 1
            delay = backoff(failures, 0.1, 3.0)
        await asyncio.sleep(delay)


async def orphaned_keys(url: str, run: Run, t0: float) -> str:
    """Idempotency keys still 'running' whose logical request has no attempt in flight: the server answered (or
    lost) the attempt without releasing its key, so retries get 409 until the lease runs out."""
    by_key = {r.key: r for r in run.logical}
    for _ in range(30):
        try:
            async with await psycopg.AsyncConnection.connect(url, connect_timeout=5) as conn:
                cursor = await conn.execute(
                    "SELECT key, extract(epoch FROM lease_until - now()) FROM idempotency_keys WHERE state = 'running'")
                rows = await cursor.fetchall()
            break
        except psycopg.OperationalError:
            await asyncio.sleep(0.5)
    else:
        return "the database did not answer within 15 s"
    at = time.perf_counter() - t0
    orphans = [(by_key[str(key)], float(left)) for key, left in rows
               if str(key) in by_key and not by_key[str(key)].in_flight]
    if not orphans:
        return f"at +{at:.1f} s: {len(rows)} key(s) 'running', all with an attempt in flight"
    last = Counter(r.attempts[-1].outcome if r.attempts else "none" for r, _left in orphans)
    return (f"at +{at:.1f} s: {len(orphans)} key(s) 'running' with no attempt in flight (of {len(rows)} running); "
            f"their last attempts: {dict(last)}; lease left {min(left for _r, left in orphans):.1f}.."
            f"{max(left for _r, left in orphans):.1f} s; e.g. #{orphans[0][0].index} key {orphans[0][0].key}")


async def restart_cluster(run: Run, url: str, version: str, cluster: str, trigger: asyncio.Event,
                          t0: float) -> None:
    await trigger.wait()
    run.restart.started = time.perf_counter() - t0
    print(f"restarting PostgreSQL {version} {cluster} at +{run.restart.started:.1f} s", flush=True)
    process = await asyncio.create_subprocess_exec(
        "pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "restart",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    run.restart.ended = time.perf_counter() - t0
    run.restart.returncode = process.returncode
    run.restart.output = output.decode(errors="replace").strip()
    await asyncio.sleep(2)
    run.restart.probe = await orphaned_keys(url, run, t0)


async def load(base: str, url: str, requests: list[Logical], args: argparse.Namespace,
               cluster: tuple[str, str] | None) -> Run:
    run = Run(requests, Restart())
    queue: asyncio.Queue[Logical] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    acknowledged = [0]
    trigger = asyncio.Event()
    threshold = max(1, round(len(requests) * args.restart_after))
    t0 = time.perf_counter()

    async def worker() -> None:
        timeout = httpx.Timeout(args.timeout, connect=5)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=base, timeout=timeout, limits=limits) as client:
            while not queue.empty():
                await send(client, queue.get_nowait(), run, args, t0, acknowledged, trigger, threshold)

    restarter = asyncio.create_task(restart_cluster(run, url, *cluster, trigger, t0)) if cluster else None
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    run.elapsed = time.perf_counter() - t0
    if restarter is not None:
        if not trigger.is_set():
            restarter.cancel()
        else:
            await restarter
    return run


# ------------------------------------------------------------------------------------------------- checks


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def check(self, ok: bool, text: str) -> None:
        self.lines.append(f"  [{'ok' if ok else 'FAIL'}] {text}")
        if not ok:
            self.problems.append(text)


def counts(conn: psycopg.Connection[Any], query: str, parameter: Any) -> Counter[str]:
    return Counter({str(key): int(count) for key, count in conn.execute(query, (parameter,)).fetchall()})


def verify(url: str, run: Run, tag: str, base: str) -> Verdict:
    verdict = Verdict()
    requests = run.logical
    by_name = {r.body["name"]: r for r in requests}
    acked = [r for r in requests if r.acknowledged_at is not None]
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, name FROM cells WHERE name LIKE %s", (f"load {tag} #%",)).fetchall()
        ids = [int(row[0]) for row in rows]
        audit = counts(conn, "SELECT entity_id, count(*) FROM audit_events WHERE entity = 'cell' "
                       "AND action = 'cell.applied' AND entity_id = ANY(%s) GROUP BY entity_id", [str(i) for i in ids])
        outbox = counts(conn, "SELECT entity_id, count(*) FROM outbox_events WHERE entity = 'cell' "
                        "AND event = 'cell.applied' AND entity_id = ANY(%s) GROUP BY entity_id", [str(i) for i in ids])
        keys = counts(conn, "SELECT k.state, count(*) FROM idempotency_keys k JOIN api_tokens t ON t.id = k.token_id "
                      "WHERE t.name LIKE %s GROUP BY k.state", "load faults %")
    names = Counter(str(row[1]) for row in rows)
    cell_of_id = {int(row[0]): str(row[1]) for row in rows}
    duplicated = sorted(name for name, count in names.items() if count > 1)
    strangers = sorted(name for name in names if name not in by_name)
    lost = [r for r in acked if names[r.body["name"]] == 0]
    wrong_id = [r for r in acked if r.cell_id is None or cell_of_id.get(r.cell_id) != r.body["name"]
                or r.answered_name != r.body["name"]]
    landed_unacked = [r for r in requests if r.acknowledged_at is None and names[r.body["name"]] > 0]
    five_hundreds = sum(1 for r in requests for a in r.attempts if a.status == 500)
    verdict.check(not lost, f"every acknowledged write exists: {len(acked) - len(lost)} of {len(acked)} found by name"
                  + (f"; LOST: {[r.body['name'] for r in lost[:10]]}" if lost else ""))
    verdict.check(not wrong_id, f"every acknowledged id holds the acknowledged name: {len(acked) - len(wrong_id)} "
                  f"of {len(acked)}" + (f"; MISMATCH: {[(r.cell_id, r.body['name']) for r in wrong_id[:10]]}"
                                        if wrong_id else ""))
    verdict.check(not duplicated, f"no name exists more than once: {len(duplicated)} duplicated"
                  + (f" {[(n, names[n]) for n in duplicated[:10]]}" if duplicated else ""))
    verdict.check(not strangers, f"no cell with the run's prefix that no request asked for: {len(strangers)}")
    verdict.check(len(rows) == len(acked) + len(landed_unacked),
                  f"cells created {len(rows)} = acknowledged {len(acked)} + unacknowledged that landed "
                  f"{len(landed_unacked)}")
    verdict.check(all(r.acknowledged_at is not None for r in requests),
                  f"every logical request acknowledged: {len(acked)} of {len(requests)} "
                  f"(rejected {sum(r.rejected is not None for r in requests)}, "
                  f"given up {sum(r.gave_up for r in requests)})")
    bad_audit = [i for i in ids if audit[str(i)] != 1]
    bad_outbox = [i for i in ids if outbox[str(i)] != 1]
    verdict.check(not bad_audit, f"one cell.applied audit event per cell: {len(ids) - len(bad_audit)} of {len(ids)}"
                  + (f"; off: {[(i, audit[str(i)]) for i in bad_audit[:10]]}" if bad_audit else ""))
    verdict.check(not bad_outbox, f"one cell.applied outbox event per cell: {len(ids) - len(bad_outbox)} of "
                  f"{len(ids)}" + (f"; off: {[(i, outbox[str(i)]) for i in bad_outbox[:10]]}" if bad_outbox else ""))
    verdict.check(five_hundreds == 0, f"no attempt answered 500: {five_hundreds}")
    restart = run.restart
    if restart.started is not None:
        verdict.check(restart.returncode == 0, f"the PostgreSQL restart succeeded (exit {restart.returncode})"
                      + (f": {restart.output[-300:]}" if restart.returncode else ""))
    try:
        ready = httpx.get(f"{base}/readyz", timeout=10).status_code
    except httpx.HTTPError as exc:
        ready = type(exc).__name__  # type: ignore[assignment]
    verdict.check(ready == 200, f"the server is ready after the load: /readyz answers {ready}")
    blocked = [(r, [a for a in r.attempts if IN_PROGRESS in a.outcome]) for r in requests]
    blocked = [(r, seen) for r, seen in blocked if seen]
    if blocked:
        longest = max(seen[-1].started + seen[-1].latency - seen[0].started for _r, seen in blocked)
        verdict.lines.append(f"  [note] {len(blocked)} logical request(s) answered 409 {IN_PROGRESS} "
                             f"({sum(len(seen) for _r, seen in blocked)} attempts, for up to {longest:.1f} s each); "
                             f"see 'orphaned idempotency keys' above")
    timeouts = Counter(a.outcome for r in requests for a in r.attempts if a.status == 503)
    if timeouts:
        verdict.lines.append(f"  [note] 503 answers: {dict(timeouts)}; the server log says which were pool timeouts "
                             "('database unavailable: TimeoutError')")
    verdict.lines.append(f"  idempotency keys of the run's tokens: {dict(sorted(keys.items()))} "
                         f"(acknowledged {len(acked)}; 'running' ones are released or taken over after the lease)")
    return verdict


# ------------------------------------------------------------------------------------------------- report


def figures(label: str, seconds: list[float]) -> str:
    if not seconds:
        return f"{label:<34} none"
    ms = [s * 1000 for s in seconds]
    return (f"{label:<34} {len(ms):>6}  p50 {percentile(ms, 0.50):8.1f} ms  p95 {percentile(ms, 0.95):8.1f} ms  "
            f"p99 {percentile(ms, 0.99):8.1f} ms  max {max(ms):8.1f} ms")


def report(run: Run, args: argparse.Namespace) -> None:
    requests = run.logical
    attempts = [a for r in requests for a in r.attempts]
    acked = [r for r in requests if r.acknowledged_at is not None]
    outcomes = Counter(a.outcome for a in attempts)
    errors = {o: n for o, n in outcomes.items() if o != str(ACKNOWLEDGED)}
    retried = [r for r in requests if len(r.attempts) > 1]
    restart = run.restart
    print("\n=== figures")
    print(f"logical requests                  {len(requests)}")
    print(f"attempts                          {len(attempts)} ({len(attempts) - len(requests)} retries; "
          f"{len(retried)} logical requests retried, at most {max(len(r.attempts) for r in requests)} attempts)")
    print(f"acknowledged                      {len(acked)} ({sum(r.replayed for r in acked)} by a replay "
          f"with Idempotent-Replayed: true)")
    print(f"not acknowledged                  {len(requests) - len(acked)} (rejected "
          f"{sum(r.rejected is not None for r in requests)}, given up {sum(r.gave_up for r in requests)})")
    print(f"attempt outcomes                  {dict(sorted(outcomes.items(), key=lambda kv: -kv[1]))}")
    print(f"errors by status/exception        {dict(sorted(errors.items(), key=lambda kv: -kv[1])) or 'none'}")
    print(figures("latency of attempts", [a.latency for a in attempts]))
    print(figures("  of first attempts that got 201", [r.attempts[0].latency for r in requests
                                                        if r.attempts and r.attempts[0].status == ACKNOWLEDGED]))
    print(figures("latency of logical requests", [r.latency for r in acked]))
    print(figures("  of retried logical requests", [r.latency for r in acked if len(r.attempts) > 1]))
    print(f"wall time of the load             {run.elapsed:.1f} s: {len(acked) / run.elapsed:.1f} acknowledged/s, "
          f"{len(attempts) / run.elapsed:.1f} attempts/s")
    if restart.started is None:
        print("PostgreSQL restart                not done" + (" (--no-restart)" if args.no_restart else ""))
        return
    print(f"PostgreSQL restart                {restart.seconds:.2f} s (pg_ctlcluster from +{restart.started:.1f} s "
          f"to +{restart.ended:.1f} s, exit {restart.returncode})")
    print(f"orphaned idempotency keys         {restart.probe}")
    before = Counter(a.outcome for a in attempts if a.started + a.latency < restart.started)
    print(f"outcomes of attempts ended before the restart  {dict(sorted(before.items(), key=lambda kv: -kv[1]))}")
    since = Counter(a.outcome for a in attempts if a.started + a.latency >= restart.started)
    print(f"outcomes of attempts ended after it began      {dict(sorted(since.items(), key=lambda kv: -kv[1]))}")
    for label, failing in (("failed attempts", [a for a in attempts if a.status != ACKNOWLEDGED]),
                           ("  of which 409 in progress", [a for a in attempts if IN_PROGRESS in a.outcome]),
                           ("  of which 503", [a for a in attempts if a.status == 503]),
                           ("  of which without an answer", [a for a in attempts if a.status is None])):
        if failing:
            first = min(a.started for a in failing)
            last = max(a.started + a.latency for a in failing)
            print(f"{label:<34}+{first:.1f} s .. +{last:.1f} s ({last - first:.1f} s)")
    assert restart.ended is not None
    later = sorted((a for a in attempts if a.started >= restart.ended), key=lambda a: a.started)
    if later:
        print(f"first attempt begun after it      +{later[0].started:.1f} s ({later[0].started - restart.ended:.2f} s "
              f"after pg_ctlcluster returned; clients wait out Retry-After or back off): {later[0].outcome}")
    served = [a for a in later if a.status is not None and a.status != 503]  # 201 and 409 both read the database
    if served:
        print(f"first answer from the database    +{served[0].started + served[0].latency:.1f} s "
              f"({served[0].started + served[0].latency - restart.ended:.2f} s after pg_ctlcluster returned): "
              f"{served[0].outcome}")
    created = [a.started + a.latency for a in later if a.status == ACKNOWLEDGED and "replayed" not in a.outcome]
    if created:
        print(f"first 201 after it                +{min(created):.1f} s "
              f"({min(created) - restart.ended:.2f} s after pg_ctlcluster returned)")
    for outcome, texts in sorted(run.samples.items()):
        print(f"evidence for {outcome}:")
        for text in texts:
            print(f"    {text}")


def server_log_summary(path: Path) -> None:
    levels: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    severe: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
            level, message = str(record.get("level")), str(record.get("msg"))
        except (ValueError, AttributeError):
            level, message = "TEXT", line
        levels[level] += 1
        messages[f"{level} {message[:160]}"] += 1
        if level in ("ERROR", "CRITICAL", "TEXT") and len(severe) < 12:
            severe.append(line[:1500])
    print(f"\n=== server log ({path}): {dict(levels) or 'empty'}")
    for message, count in messages.most_common(12):
        print(f"  {count:>6} x {message}")
    for line in severe:
        print(f"  > {line}")


# --------------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=None, help="logical creating requests (default 3000)")
    parser.add_argument("--concurrency", type=int, default=None, help="concurrent clients (default 32)")
    parser.add_argument("--ci", action="store_true", help="brief: 800 requests, concurrency 16 (unless given)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (default 2)")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432", help="server, without a database")
    parser.add_argument("--pg-cluster", default=None,
                        help="'VERSION CLUSTER' to restart (default: the first version under /etc/postgresql, main)")
    parser.add_argument("--restart-after", type=float, default=1 / 3,
                        help="restart once this fraction of the requests is acknowledged (default 1/3)")
    parser.add_argument("--no-restart", action="store_true", help="the same load without the restart")
    parser.add_argument("--timeout", type=float, default=15, help="seconds before an attempt counts as lost")
    parser.add_argument("--retry-after-cap", type=float, default=5, help="longest Retry-After honoured (seconds)")
    parser.add_argument("--give-up", type=float, default=180,
                        help="seconds after a logical request's first attempt to stop retrying it (default 180: "
                             "more than the 60 s lease of a key whose attempt died)")
    parser.add_argument("--keep", action="store_true", help="keep the database and the server log")
    args = parser.parse_args()
    args.requests = args.requests or (800 if args.ci else 3000)
    args.concurrency = args.concurrency or (16 if args.ci else 32)
    cluster = None if args.no_restart else parse_cluster(args.pg_cluster)
    pg = args.pg.rstrip("/")
    if urlsplit(pg).path not in ("", "/"):
        raise SystemExit(f"--pg {args.pg}: name the server only, without a database")
    if cluster:
        check_cluster(pg, *cluster)
    tag = secrets.token_hex(3)
    began = time.perf_counter()
    with ExitStack() as stack:
        scratch = Path(tempfile.mkdtemp(prefix="zwc_load_")) if args.keep else \
            Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="zwc_load_")))
        url = create_database(stack, pg, args.keep)
        env = {**os.environ, "ZWC_DATABASE_URL": url, "ZWC_FILES_DIR": str(scratch / "files"),
               "ZWC_RATE_LIMIT": "", "ZWC_LOG_LEVEL": "WARNING"}
        cli(env, "db", "upgrade")
        cli(env, "seed")
        departments = ["lead", *sorted(cell_types())]
        tokens = mint_tokens(env, departments)
        base, _server = start_server(stack, [ZWC, "serve", "--no-worker", "--workers", str(args.workers)], env,
                                     scratch / "server.log")
        print(f"database {url.rsplit('/', 1)[-1]} on {pg}; {args.workers} server workers; {args.requests} logical "
              f"POST /v1/cells from {args.concurrency} clients with {len(tokens)} tokens ({', '.join(departments)}); "
              + (f"restart of PostgreSQL {' '.join(cluster)} after {args.restart_after:.0%} acknowledged"
                 if cluster else "no restart"), flush=True)
        run = asyncio.run(load(base, url, plan(args.requests, tokens, tag), args, cluster))
        report(run, args)
        verdict = verify(url, run, tag, base)
        server_log_summary(scratch / "server.log")
        total = time.perf_counter() - began
        print(f"\n=== exactly-once verdict ({total:.0f} s in all)")
        print("\n".join(verdict.lines))
        print("PASS: nothing lost, nothing duplicated, no 500" if not verdict.problems
              else f"FAIL: {len(verdict.problems)} check(s) failed")
        if args.keep:
            print(f"kept server log {scratch / 'server.log'}")
    raise SystemExit(1 if verdict.problems else 0)


if __name__ == "__main__":
    main()
