"""Submission throughput and latency against a real server (SPEC issue 3 benchmark).

Starts `zwc serve` on a fresh database (SQLite by default, or --database-url), defines synthetic
monthly indicators led by one department, then sends creating POSTs and GETs from concurrent
clients and prints requests/s and latency percentiles. Figures only; nothing here asserts a time.

    .venv/bin/python bench/submissions.py --requests 2000 --concurrency 16
    .venv/bin/python bench/submissions.py --database-url postgresql://postgres@127.0.0.1:5432/zwc_bench
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
ZWC = str(Path(sys.executable).with_name("zwc"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run([ZWC, *args], env=env, check=True, capture_output=True, text=True).stdout


def start_server(stack: ExitStack, command: list[str], env: dict[str, str], log_path: Path, *,
                 cpus: str | None = None, ready_path: str = "/readyz") -> tuple[str, subprocess.Popen[bytes]]:
    """``command`` with ``--port`` appended (pinned to ``cpus`` when given), stopped when ``stack`` closes;
    answers its base URL and process once ``ready_path`` answers below 500 (`/readyz` answers 503 until the
    database is reachable and migrated). The one readiness loop of every script here."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = stack.enter_context(log_path.open("w"))
    pinning = ["taskset", "-c", cpus] if cpus else []
    server = subprocess.Popen([*pinning, *command, "--port", str(port)], env=env, stdout=log,
                              stderr=subprocess.STDOUT, cwd=ROOT)

    def stop() -> None:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    stack.callback(stop)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"{command[0]} exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}{ready_path}", timeout=1).status_code < 500:
                return base, server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{' '.join(command)} did not become ready within 90 s")


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(name: str, latencies: list[float], statuses: Counter[int], elapsed: float) -> None:
    ms = [value * 1000 for value in latencies]
    print(f"{name:<28} {len(ms):>6} req  {len(ms) / elapsed:>8.1f} req/s  "
          f"p50 {statistics.median(ms):6.1f} ms  p95 {percentile(ms, 0.95):6.1f} ms  "
          f"p99 {percentile(ms, 0.99):6.1f} ms  statuses {dict(sorted(statuses.items()))}")


async def drive(client: httpx.AsyncClient, requests: list[tuple[str, str, dict | None]], concurrency: int,
                headers: dict[str, str]) -> tuple[list[float], Counter[int], float]:
    queue: asyncio.Queue[tuple[str, str, dict | None]] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()

    async def worker() -> None:
        while not queue.empty():
            method, path, body = queue.get_nowait()
            started = time.perf_counter()
            response = await client.request(method, path, json=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, statuses, time.perf_counter() - started


async def run(base: str, admin: str, writer: str, total: int, concurrency: int, indicators: int) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        for number in range(indicators):
            response = await client.post("/v1/indicators", headers={"Authorization": f"Bearer {admin}"}, json={
                "code": f"9.9.{number:02d}", "name_zh": f"基准指标{number}", "name_en": f"Bench {number}",
                "category": "support", "group": "bench", "kind": "optional", "unit": "t", "value_type": "quantity",
                "direction": "increase", "frequency": "monthly", "lead_department": "cgj",
                "valid_from": "2016-01-01T00:00:00+08:00"})
            response.raise_for_status()
        periods = [f"{year}-{month:02d}" for year in range(2016, 2026) for month in range(1, 13)]
        pairs = [(f"9.9.{number:02d}", period) for number in range(indicators) for period in periods][:total]
        posts = [("POST", "/v1/submissions", {"indicator": code, "period": period, "value": 100 + i % 7})
                 for i, (code, period) in enumerate(pairs)]
        writer_headers = {"Authorization": f"Bearer {writer}"}
        report("POST /v1/submissions", *await drive(client, posts, concurrency, writer_headers))
        listing = await client.get("/v1/submissions?limit=1", headers=writer_headers)
        first_id = listing.json()["items"][0]["id"]
        gets = [("GET", f"/v1/submissions/{first_id + i % len(posts)}", None) for i in range(total)]
        report("GET /v1/submissions/{id}", *await drive(client, gets, concurrency, writer_headers))
        lists = [("GET", "/v1/submissions?limit=50&indicator=9.9.00", None) for _ in range(total // 4)]
        report("GET /v1/submissions?limit=50", *await drive(client, lists, concurrency, writer_headers))
        health = [("GET", "/healthz", None) for _ in range(total)]
        report("GET /healthz (floor)", *await drive(client, health, concurrency, {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--indicators", type=int, default=20, help="synthetic monthly indicators (120 periods each)")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite:///{scratch}/bench.db"
        # The per-token limiter runs on every request but never refuses: this measures the endpoints, not 429s.
        env = {**os.environ, "ZWC_DATABASE_URL": url, "ZWC_FILES_DIR": f"{scratch}/files",
               "ZWC_RATE_LIMIT": "1000000000/minute"}
        with ExitStack() as stack:
            base, _server = start_server(stack, [ZWC, "serve", "--workers", str(args.workers)], env,
                                         Path(scratch) / "server.log")
            admin = cli(env, "token", "create", "--department", "lead", "--scope", "indicators:admin").split()[-1]
            writer = cli(env, "token", "create", "--department", "cgj", "--scope", "submissions:write").split()[-1]
            print(f"database {url.split('@')[-1]}, {args.workers} worker(s), concurrency {args.concurrency}")
            asyncio.run(run(base, admin, writer, args.requests, args.concurrency, args.indicators))


if __name__ == "__main__":
    main()
