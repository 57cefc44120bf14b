"""Answers repeated reads of the figures from memory, ahead of routing, while the data version holds.

Scores, an indicator's definition and Zhengzhou's conditional pulls change only when the data version
(`watch.py`) does, and most requests for them find nothing changed. The full path answers them at the cost
of FastAPI's routing and dependencies, a session and a query; this layer answers them with no query at
all when it can, and otherwise lets the request through untouched:

* only ``GET`` of the routes in ``ROUTES``, with no query parameter but the route's, each at most once;
* only a caller this process verified recently, whose token is neither due for its use record nor
  lacking the route's scope (`auth.service.remembered_caller`); every 401 and 403 is the full path's;
* only an answer the full path gave (status 200, or 304 for conditional reads) at the data version that
  is current now, replayed byte for byte (headers and body). Conditional reads (``/v1/aggregates``,
  whose body is stamped with the time of the request) replay only their 304.

The request is still counted against the caller's rate limit and logged with its caller; the outer
middleware adds the request id and security headers as to any other answer.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.service import remembered_caller
from app.core import metrics
from app.core.concurrency import none_match
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import TooManyRequests
from app.core.problems import problem_response
from app.ratelimit.limiter import RateLimiter
from app.readcache.watch import DataVersionWatch
from app.scores.repository import DataVersion

Key = tuple[str, tuple[tuple[str, str], ...], bytes]
Headers = tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True)
class CachedRoute:
    operation_id: str  # the route's, in the OpenAPI document (metrics label)
    path: re.Pattern[str]
    params: frozenset[str]
    scope: str | None  # the route's own RequireScope, besides a valid token
    conditional: bool = False  # replay the 304 only

    def key(self, scope: Scope) -> Key | None:
        pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        names = [name for name, _ in pairs]
        if len(set(names)) != len(names) or not self.params.issuperset(names):
            return None
        accept = next((value for name, value in scope["headers"] if name == b"accept"), b"")  # the first
        return scope["path"], tuple(sorted(pairs)), accept


ROUTES = (
    CachedRoute("getScores", re.compile(r"/v1/scores"), frozenset({"period", "include"}), scope=None),
    CachedRoute("getIndicator", re.compile(r"/v1/indicators/[^/]+"), frozenset(), scope=None),
    CachedRoute("getAggregates", re.compile(r"/v1/aggregates"), frozenset({"period", "as_of", "format"}),
                scope="aggregates:read", conditional=True),
)

# Headers of a 304 (RFC 9110 §15.4.5): what the full path sends with it, nothing of the body.
_NOT_MODIFIED_HEADERS = (b"etag", b"cache-control", b"vary", b"content-location", b"date", b"expires")


@dataclass(frozen=True)
class Answer:
    version: DataVersion
    status: int
    headers: Headers
    body: bytes
    etag: str | None


class ReadCache:
    """The answers kept by one application for one database, with the watch that says when they hold."""

    MAX_ENTRIES = 128
    MAX_BODY_BYTES = 4 * 1024 * 1024

    def __init__(self, watch: DataVersionWatch) -> None:
        self.watch = watch
        self.answers: OrderedDict[Key, Answer] = OrderedDict()
        self.hits = 0

    @classmethod
    def for_database(cls, settings: Settings, database: Database) -> ReadCache | None:
        """The application's read cache, told of the database's committed writes; None when switched off
        or on SQLite."""
        listen_url = settings.database_listen_url or settings.database_url
        watch = DataVersionWatch.for_database(listen_url, database.engine) if settings.read_cache else None
        if watch is None:
            return None
        database.on_write_commit.append(watch.written)
        return cls(watch)

    def get(self, key: Key, version: DataVersion) -> Answer | None:
        answer = self.answers.get(key)
        if answer is None or answer.version != version:
            return None
        self.answers.move_to_end(key)
        return answer

    def put(self, key: Key, answer: Answer) -> None:
        self.answers[key] = answer
        self.answers.move_to_end(key)
        while len(self.answers) > self.MAX_ENTRIES:
            self.answers.popitem(last=False)


class ReadCacheMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _route(scope)
        cache: ReadCache | None = scope["app"].state.read_cache if route is not None else None
        version = cache.watch.current if cache is not None else None
        key = route.key(scope) if route is not None and version is not None else None
        if route is None or cache is None or version is None or key is None:
            await self.app(scope, receive, send)
            return
        answer = cache.get(key, version)
        if answer is not None and await self._replay(route, answer, scope, receive, send):
            cache.hits += 1
            metrics.READ_CACHE_HITS.labels(route.operation_id).inc()
            return
        await self.app(scope, receive, _recorder(route, cache, key, version, scope, send))

    @staticmethod
    async def _replay(route: CachedRoute, answer: Answer, scope: Scope, receive: Receive, send: Send) -> bool:
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value)  # the first of repeated headers, as the full path reads them
        if route.conditional and not (answer.etag and none_match(
                headers.get(b"if-none-match", b"").decode("latin-1"), answer.etag)):
            return False
        state = scope["app"].state
        actor = remembered_caller(
            state.database.engine.sync_engine, headers.get(b"authorization", b"").decode("latin-1"),
            request_id=scope.get("state", {}).get("request_id"),
            touch_interval_seconds=state.settings.token_touch_interval_seconds)
        if actor is None or (route.scope is not None and not actor.has_scope(route.scope)):
            return False
        request_state = scope.setdefault("state", {})
        request_state["actor"] = actor  # for the request's log record
        request_state["operation_id"] = route.operation_id  # for the metrics
        limiter: RateLimiter | None = state.rate_limiter
        if limiter is not None and actor.token_id is not None:
            try:
                await limiter.hit(actor.token_id)
            except TooManyRequests as exc:
                await problem_response(Request(scope), exc)(scope, receive, send)
                return True
        # A fresh list each time: the layers outside add to the headers of the message they are given.
        await send({"type": "http.response.start", "status": answer.status, "headers": list(answer.headers)})
        await send({"type": "http.response.body", "body": answer.body})
        return True


def _route(scope: Scope) -> CachedRoute | None:
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    path: str = scope["path"]
    return next((route for route in ROUTES if route.path.fullmatch(path)), None)


def _recorder(route: CachedRoute, cache: ReadCache, key: Key, version: DataVersion, scope: Scope,
              send: Send) -> Callable[[Message], Any]:
    """A ``send`` that passes every message on and keeps the answer if it may be replayed: a 200 (or, for
    conditional routes, its ETag as a 304) in one body message, while the data version it was asked at
    is still current when it ends."""
    start: tuple[int, Headers] | None = None

    async def recording_send(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            # Copied before passing on: the layers outside add their own headers to the message.
            start = int(message["status"]), tuple(message.get("headers", ()))
        await send(message)
        if (start is None or message["type"] != "http.response.body" or message.get("more_body")
                or cache.watch.current != version):
            return
        # An answer computed at another version (a replica behind its primary) is not kept under this one.
        computed_at = scope.get("state", {}).get("data_version")
        if computed_at is not None and computed_at != version:
            return
        answer = _answer(route, version, *start, message.get("body", b""))
        if answer is not None:
            cache.put(key, answer)

    return recording_send


def _answer(route: CachedRoute, version: DataVersion, status: int, headers: Headers, body: bytes) -> Answer | None:
    etag = next((value.decode("latin-1") for name, value in headers if name == b"etag"), None)
    if any(name == b"set-cookie" for name, _ in headers) or len(body) > ReadCache.MAX_BODY_BYTES:
        return None
    if route.conditional:
        if status not in (200, 304) or etag is None:
            return None
        kept = tuple((name, value) for name, value in headers if name in _NOT_MODIFIED_HEADERS)
        return Answer(version, 304, kept, b"", etag)
    if status != 200:
        return None
    return Answer(version, status, headers, body, etag)
