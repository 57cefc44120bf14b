"""Test fixtures: every database test runs on SQLite and on a real PostgreSQL.

Each run migrates and seeds one template database per backend (by running the migrations, as
production does), and each test gets its own copy, so tests never share state and never depend on
an earlier run. Set ZWC_REQUIRE_POSTGRES=1 (as .ci/run does) to make an unreachable PostgreSQL an
error instead of a plainly reported skip.
"""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.catalogue.seed import seed
from app.core import migrations
from app.core.actor import Actor
from app.core.config import Settings
from app.core.db import Database
from app.main import create_app
from app.ratelimit.limiter import RateLimiter
from app.readcache.middleware import ReadCache

POSTGRES_ADMIN_URL = os.environ.get("ZWC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_POSTGRES = os.environ.get("ZWC_REQUIRE_POSTGRES") == "1"
# The fault tests stop the PostgreSQL server: only `scripts/test-faults` (ZWC_FAULTS=1) collects them.
# Suites that need the machine to themselves or extra binaries; their scripts run them (scripts/test-faults,
# scripts/test-scale), .ci/run after the parallel suite.
collect_ignore = [suite for suite, flag in (("faults", "ZWC_FAULTS"), ("scale", "ZWC_SCALE"))
                  if os.environ.get(flag) != "1"]
RUN_ID = f"zwct_{os.getpid()}_{uuid.uuid4().hex[:8]}"
BACKENDS = ("sqlite", "postgresql")

_postgres_problem: str | None = None


def _admin_engine() -> Any:
    url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})


def postgres_url(database: str) -> str:
    return make_url(POSTGRES_ADMIN_URL).set(database=database).render_as_string(hide_password=False)


def _postgres_reachable() -> str | None:
    try:
        engine = _admin_engine()
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    global _postgres_problem
    _postgres_problem = _postgres_reachable()
    if _postgres_problem and REQUIRE_POSTGRES:
        raise pytest.UsageError(f"PostgreSQL is required (ZWC_REQUIRE_POSTGRES=1) but unreachable: "
                                f"{_postgres_problem}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a reachable PostgreSQL (and without ZWC_REQUIRE_POSTGRES), its half is deselected."""
    if not _postgres_problem:
        return
    kept = [item for item in items if "[postgresql" not in item.nodeid]
    deselected = [item for item in items if "[postgresql" in item.nodeid]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _postgres_problem:
        terminalreporter.write_sep("!", "THE POSTGRESQL HALF OF THE SUITE DID NOT RUN", red=True, bold=True)
        terminalreporter.write_line(f"PostgreSQL at {POSTGRES_ADMIN_URL} is unreachable: {_postgres_problem}")
        terminalreporter.write_line("Only the SQLite half ran. CI requires both (ZWC_REQUIRE_POSTGRES=1).")


def create_database(url: str) -> None:
    """Migrate and seed a database, the way `zwc serve` prepares one."""
    migrations.upgrade(url)

    async def load() -> None:
        database = Database.from_settings(Settings(database_url=url))
        try:
            async with database.sessionmaker() as session, session.begin():
                await seed(session, Actor.system())
        finally:
            await database.dispose()

    asyncio.run(load())


@contextmanager
def scratch_postgres_database(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (empty, or a copy of ``template``), dropped afterwards."""
    name = f"{RUN_ID}_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    engine = _admin_engine()
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{clause}'))
    try:
        yield name
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@dataclass
class Template:
    backend: str
    location: str  # a file path (SQLite) or a database name (PostgreSQL)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    path = tmp_path_factory.mktemp("template") / "template.db"
    create_database(f"sqlite:///{path}")
    return Template("sqlite", str(path))


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[Template]:
    name = f"{RUN_ID}_template"
    engine = _admin_engine()
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    create_database(postgres_url(name))
    yield Template("postgresql", name)
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


class PostgresCopies:
    """Copies of the template made ahead, and used ones dropped, by two background threads.

    Creating a database from a template and dropping one each take a few hundred milliseconds (a
    checkpoint and fsyncs); done in the background they overlap with the tests instead of adding up.
    """

    _DONE = ""

    def __init__(self, template: str, ahead: int = 2) -> None:
        self.template = template
        self.ready: queue.Queue[str] = queue.Queue(maxsize=ahead)
        self.used: queue.Queue[str] = queue.Queue()
        self.stopping = threading.Event()
        self.engine = _admin_engine()
        self.maker = threading.Thread(target=self._make, daemon=True)
        self.dropper = threading.Thread(target=self._drop, daemon=True)
        self.maker.start()
        self.dropper.start()

    def _make(self) -> None:
        while not self.stopping.is_set():
            name = f"{RUN_ID}_{uuid.uuid4().hex[:12]}"
            with self.engine.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
            while True:
                try:
                    self.ready.put(name, timeout=0.2)
                    break
                except queue.Full:
                    if self.stopping.is_set():
                        self.used.put(name)
                        return

    def _drop(self) -> None:
        while (name := self.used.get()) != self._DONE:
            with self.engine.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def take(self) -> str:
        return self.ready.get(timeout=120)

    def give_back(self, name: str) -> None:
        self.used.put(name)

    def close(self) -> None:
        self.stopping.set()
        self.maker.join()
        while not self.ready.empty():
            self.used.put(self.ready.get())
        self.used.put(self._DONE)
        self.dropper.join()
        self.engine.dispose()


@pytest.fixture(scope="session")
def postgres_copies(postgres_template: Template) -> Iterator[PostgresCopies]:
    copies = PostgresCopies(postgres_template.location)
    yield copies
    copies.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated and seeded database for one test."""
    if backend == "sqlite":
        template: Template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.db"
        shutil.copyfile(template.location, path)
        yield f"sqlite:///{path}"
        return
    copies: PostgresCopies = request.getfixturevalue("postgres_copies")
    name = copies.take()
    try:
        yield postgres_url(name)
    finally:
        copies.give_back(name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        files_dir=tmp_path / "files",
        webhook_allow_private=True,
        # High enough never to refuse a test's requests, low enough that every request counts one.
        rate_limit="100000/minute",
        gc_tuning=False,  # a process-wide change: the tests that start the lifespan must not leave it behind
        _env_file=None,  # type: ignore[call-arg]
    )


_apps: dict[str, Any] = {}


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    """The application for the test's settings and database.

    Building one costs ~0.1 s, so tests whose settings differ only in the database and the files directory
    share an application object; both of those are read from `app.state` on every request, and are set
    here per test. Tests that need other settings (body limits, CORS…) get an application of their own.
    """
    key = settings.model_dump_json(exclude={"database_url", "files_dir"})
    application = _apps.get(key)
    if application is None:
        application = _apps[key] = create_app(settings)
    else:
        application.state.settings = settings
        application.state.database = Database.from_settings(settings)
        application.state.rate_limiter = RateLimiter.from_settings(settings)
        application.state.read_cache = ReadCache.for_database(settings, application.state.database)
    yield application
    if application.state.rate_limiter is not None:
        await application.state.rate_limiter.close()
    await application.state.database.dispose()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it (no migrations run), for migration tests."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with scratch_postgres_database() as name:
        yield postgres_url(name)


@pytest.fixture
async def lead_office(app: Any) -> str:
    """The lead office's token that defines indicators and reviews submissions (never its own: it writes none)."""
    from tests.factories import make_token

    return await make_token(app, "lead", ["indicators:admin", "submissions:review"], name="lead office")


@pytest.fixture
async def jyj_writer(app: Any) -> str:
    """The education bureau's reporting token: jyj leads no catalogue indicator, so tests define theirs for it."""
    from tests.factories import make_token

    return await make_token(app, "jyj", ["submissions:write"], name="jyj writer")
