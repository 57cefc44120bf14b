"""Prometheus metrics (SPEC §4, `GET /metrics`): requests, latency, errors, the connection pool, the read
cache and refusals by the rate limit.

Metrics are per process. Under `zwc serve --workers N` every worker writes to PROMETHEUS_MULTIPROC_DIR
(set by `zwc serve`), and whichever worker answers `/metrics` reports the sum over all of them
(prometheus-client's multiprocess mode). Requests are labelled by their OpenAPI operation id
(`getIndicator`, as in openapi/openapi.json), never by the path as sent, so that the number of series
stays bounded.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Scope

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"  # a path no operation has (404 or 405), one series for all of them

REQUESTS = Counter("zwc_http_requests", "HTTP requests answered, by method, OpenAPI operation and status.",
                   ["method", "operation", "status"])
ERRORS = Counter("zwc_http_errors", "Answers with a 5xx status (503: the database or the pool was away).",
                 ["method", "operation", "status"])
LATENCY = Histogram("zwc_http_request_duration_seconds", "Time from the request's arrival to its last byte sent.",
                    ["method", "operation"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
IN_PROGRESS = Gauge("zwc_http_requests_in_progress", "Requests being answered.", multiprocess_mode="livesum")
POOL_IN_USE = Gauge("zwc_db_pool_connections_in_use", "Database connections checked out of the pools.",
                    multiprocess_mode="livesum")
READ_CACHE_HITS = Counter("zwc_read_cache_hits", "Reads answered from the read cache (app/readcache/).",
                          ["operation"])
RATE_LIMITED = Counter("zwc_rate_limited", "Requests refused with 429 by the per-token rate limit.")


_DOCUMENT_PATHS = frozenset({"/docs", "/redoc", "/openapi.json"})  # served, but not operations of the API
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def operation_of(scope: Scope) -> str:
    """The OpenAPI operation that answered (`ApiRoute` and the read cache name it), the documentation's
    path, else UNMATCHED."""
    operation = scope.get("state", {}).get("operation_id")
    if operation:
        return str(operation)
    path = scope.get("path", "")
    return path if path in _DOCUMENT_PATHS else UNMATCHED


def observe(scope: Scope, status: int, seconds: float) -> None:
    # A method nobody uses is one series, not one per invented name.
    method = scope.get("method", "") if scope.get("method") in _METHODS else "OTHER"
    operation = operation_of(scope)
    REQUESTS.labels(method, operation, str(status)).inc()
    if status >= 500:
        ERRORS.labels(method, operation, str(status)).inc()
    LATENCY.labels(method, operation).observe(seconds)


def watch_pool(engine: AsyncEngine) -> None:
    """Count the engine's checked-out connections in POOL_IN_USE."""
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkout")
    def _checked_out(*_args: object) -> None:
        POOL_IN_USE.inc()

    @event.listens_for(pool, "checkin")
    def _checked_in(*_args: object) -> None:
        POOL_IN_USE.dec()


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format: this process's, or every worker's in multiprocess mode."""
    if os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
