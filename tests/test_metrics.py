"""`GET /metrics` (SPEC §4; issue 8): Prometheus' text format, no token, and counts that follow the
requests exactly: by method, OpenAPI operation and status, 5xx, latency, the pool, read-cache hits and
rate-limit refusals."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from app.readcache.middleware import ReadCache
from tests.factories import bearer, make_token, serving
from tests.servers import start_serve


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")  # Prometheus' text format
    assert response.headers["cache-control"] == "no-store"
    return response.text


async def test_requests_are_counted_by_operation_and_status(app: Any, client: httpx.AsyncClient) -> None:
    token = await make_token(app, "cgj", ["submissions:write"])
    before = await scrape(client)
    for _ in range(3):
        assert (await client.get("/v1/indicators/2.2.01", headers=bearer(token))).status_code == 200
    assert (await client.get("/v1/indicators/9.9.99", headers=bearer(token))).status_code == 404
    assert (await client.get("/v1/indicators/2.2.01")).status_code == 401
    assert (await client.get("/no/such/path")).status_code == 404
    assert (await client.request("BREW", "/v1/indicators/2.2.01", headers=bearer(token))).status_code == 405
    assert (await client.get("/openapi.json")).status_code == 200
    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = {"method": "GET", "operation": "getIndicator"}
    assert grew("zwc_http_requests_total", **route, status="200") == 3
    assert grew("zwc_http_requests_total", **route, status="404") == 1
    assert grew("zwc_http_requests_total", **route, status="401") == 1
    assert grew("zwc_http_requests_total", method="GET", operation="unmatched", status="404") == 1
    assert grew("zwc_http_requests_total", method="OTHER", operation="unmatched", status="405") == 1
    assert grew("zwc_http_requests_total", method="GET", operation="/openapi.json", status="200") == 1
    assert grew("zwc_http_request_duration_seconds_count", **route) == 5
    assert grew("zwc_http_request_duration_seconds_bucket", **route, le="+Inf") == 5
    assert grew("zwc_http_errors_total", **route, status="500") == 0
    assert value(after, "zwc_http_requests_in_progress") == 1  # the scrape itself
    # Every connection the requests took went back to the pool.
    assert value(after, "zwc_db_pool_connections_in_use") == value(before, "zwc_db_pool_connections_in_use")


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_database_outage_is_counted_as_an_error(settings: Any) -> None:
    broken = settings.database_url.replace("127.0.0.1:5432", "127.0.0.1:1")
    assert broken != settings.database_url
    async with serving(settings, database_url=broken, raise_app_exceptions=False) as (_, http):
        before = await scrape(http)
        assert (await http.get("/readyz")).status_code == 503
        after = await scrape(http)
    assert value(after, "zwc_http_errors_total", method="GET", operation="getReadiness", status="503") - \
        value(before, "zwc_http_errors_total", method="GET", operation="getReadiness", status="503") == 1


async def test_refusals_by_the_rate_limit_are_counted(settings: Any) -> None:
    async with serving(settings, rate_limit="2/minute") as (application, http):
        token = await make_token(application, "cgj", ["submissions:write"])
        before = await scrape(http)
        statuses = [(await http.get("/v1/me", headers=bearer(token))).status_code for _ in range(3)]
        after = await scrape(http)
    assert statuses == [200, 200, 429]
    assert value(after, "zwc_rate_limited_total") - value(before, "zwc_rate_limited_total") == 1


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_read_cache_hits_are_counted_under_their_operation(app: Any, client: httpx.AsyncClient) -> None:
    from tests.test_read_cache import watching

    token = await make_token(app, "cgj", ["submissions:write"])
    async with watching(app) as cache:
        assert isinstance(cache, ReadCache)
        before = await scrape(client)
        for _ in range(3):
            assert (await client.get("/v1/scores", params={"period": "2024"}, headers=bearer(token))).status_code == 200
        after = await scrape(client)
    assert value(after, "zwc_read_cache_hits_total", operation="getScores") - \
        value(before, "zwc_read_cache_hits_total", operation="getScores") == 2
    assert value(after, "zwc_http_requests_total", method="GET", operation="getScores", status="200") - \
        value(before, "zwc_http_requests_total", method="GET", operation="getScores", status="200") == 3


def test_with_two_workers_metrics_are_summed_over_both(tmp_path: Path, database_url: str) -> None:
    """`zwc serve --workers 2`: whichever worker answers the scrape reports both workers' requests."""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {**os.environ, "ZWC_DATABASE_URL": database_url, "ZWC_FILES_DIR": str(tmp_path / "files"),
           "ZWC_LOG_LEVEL": "WARNING", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    process, base = start_serve(env, "--workers", "2", "--no-worker", stdout=tmp_path / "serve.log")
    try:
        for _ in range(60):  # a new connection each time: the kernel spreads them over both workers
            assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        served = {name: _healthz_count(metrics_dir / name) for name in os.listdir(metrics_dir)
                  if name.startswith("counter_")}
        assert sum(served.values()) == 60
        assert sum(1 for count in served.values() if count > 0) == 2, served  # both workers served some
        for _ in range(6):  # each scrape, whichever worker answers it, has all 60
            text = httpx.get(f"{base}/metrics", timeout=10).text
            assert value(text, "zwc_http_requests_total", method="GET", operation="getHealth", status="200") == 60
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_serve_keeps_its_own_metrics_directory_while_it_runs(tmp_path: Path, database_url: str) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "ZWC_DATABASE_URL": database_url, "ZWC_FILES_DIR": str(tmp_path / "files"),
           "ZWC_LOG_LEVEL": "WARNING", "TMPDIR": str(temporary)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process, base = start_serve(env, "--no-worker", stdout=tmp_path / "serve.log")
    try:
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        (own,) = [path for path in temporary.iterdir() if path.name.startswith("zwc-metrics-")]
        assert any(name.startswith("counter_") for name in os.listdir(own))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert not own.exists()  # a fresh one at each start: no dead process's counts carried over


def _healthz_count(path: Path) -> float:
    """The /healthz requests one process counted in its own file."""
    families = MultiProcessCollector.merge([str(path)], accumulate=True)  # type: ignore[no-untyped-call]
    return sum(sample.value for family in families for sample in family.samples
               if sample.name == "zwc_http_requests_total" and sample.labels.get("operation") == "getHealth")
