"""The ``zwc`` command-line tool."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import get_settings

T = TypeVar("T")

cli = typer.Typer(help="Zero-Waste City API (无废城市 API) command-line tool.", no_args_is_help=True,
                  add_completion=False,
                  pretty_exceptions_enable=False)
db_cli = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
token_cli = typer.Typer(help="API tokens.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(token_cli, name="token")

BOOTSTRAP_SCOPES = ["admin", "indicators:admin"]


def _in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction against the configured database."""
    from app.core.db import Database

    async def run() -> T:
        database = Database.from_settings(get_settings())
        try:
            async with database.sessionmaker() as session, session.begin():
                return await work(session)
        finally:
            await database.dispose()

    return asyncio.run(run())


@db_cli.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Upgrade the schema (default: to head)."""
    from app.core import migrations

    migrations.upgrade(get_settings().database_url, revision)
    typer.echo(f"upgraded to {revision}")


@db_cli.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")]) -> None:
    """Downgrade the schema to REVISION."""
    from app.core import migrations

    migrations.downgrade(get_settings().database_url, revision)
    typer.echo(f"downgraded to {revision}")


@db_cli.command("current")
def db_current() -> None:
    """Print the schema's current revision."""
    from app.core import migrations

    migrations.current(get_settings().database_url)


@cli.command("seed")
def seed() -> None:
    """Load or refresh the reference catalogue (idempotent)."""
    from app.catalogue.seed import seed as run_seed
    from app.core.actor import Actor

    counts = _in_transaction(lambda session: run_seed(session, Actor.system()))
    if not counts:
        typer.echo("catalogue up to date: nothing changed")
    for action, count in sorted(counts.items()):
        typer.echo(f"{action}: {count}")


@token_cli.command("create")
def token_create(
    department: Annotated[str, typer.Option(help="Department code, e.g. sthj.")],
    scope: Annotated[list[str], typer.Option(help="A scope; repeat for several.")],
    name: Annotated[str | None, typer.Option(help="A label for people.")] = None,
    expires_in: Annotated[int | None, typer.Option(help="Lifetime in days.", min=1, max=3650)] = None,
) -> None:
    """Mint a token; the secret is printed alone on the last line."""
    from app.auth import service
    from app.core.actor import SCOPES, Actor

    unknown = [s for s in scope if s not in SCOPES]
    if unknown:
        raise typer.BadParameter(f"unknown scope(s) {unknown}; choose from {list(SCOPES)}", param_hint="--scope")
    settings = get_settings()

    async def work(session: AsyncSession) -> service.MintedToken:
        return await service.mint(session, Actor.system(), department=department, scopes=scope, name=name,
                                  expires_in_days=expires_in, default_expiry_days=settings.token_default_expiry_days)

    minted = _in_transaction(work)
    token = minted.token
    typer.echo(f"token {token.id} for {token.department} scopes={','.join(token.scopes)} "
               f"expires_at={token.expires_at.isoformat() if token.expires_at else 'never'}")
    typer.echo(minted.secret)


@token_cli.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a token."""
    from app.auth import repository, service
    from app.core.actor import Actor

    async def work(session: AsyncSession) -> bool:
        token = await repository.get(session, token_id)
        if token is None:
            return False
        await service.revoke(session, Actor.system(), token)
        return True

    if not _in_transaction(work):
        typer.echo(f"no token {token_id}", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"token {token_id} revoked")


@token_cli.command("list")
def token_list() -> None:
    """List tokens (never their secrets)."""
    from app.auth import repository
    from app.auth.models import ApiToken

    async def work(session: AsyncSession) -> list[ApiToken]:
        tokens: list[ApiToken] = []
        after: int | None = None
        while batch := await repository.list_after(session, department=None, after_id=after, limit=500):
            tokens.extend(batch)
            after = batch[-1].id
        return tokens

    typer.echo("id\tprefix\tdepartment\tscopes\texpires_at\trevoked_at\tname")
    for t in _in_transaction(work):
        typer.echo(f"{t.id}\t{t.prefix}\t{t.department}\t{','.join(t.scopes)}\t"
                   f"{t.expires_at.isoformat() if t.expires_at else '-'}\t"
                   f"{t.revoked_at.isoformat() if t.revoked_at else '-'}\t{t.name}")


PREPARE_LOCK_KEY = 0x7A77_6370_7265_7061  # "zwc prepa" as a 63-bit number


def prepare_database() -> str | None:
    """Upgrade to head, seed an empty catalogue, and mint a bootstrap admin token if there is none.

    Answers the bootstrap token's secret when one was minted.
    """
    from app.auth import repository as tokens
    from app.auth import service
    from app.catalogue.seed import catalogue_is_empty
    from app.catalogue.seed import seed as run_seed
    from app.core import migrations
    from app.core.actor import Actor

    settings = get_settings()
    migrations.upgrade(settings.database_url)

    async def work(session: AsyncSession) -> str | None:
        if session.get_bind().dialect.name == "postgresql":
            # Replicas started together: one seeds and mints, the others then find it done.
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PREPARE_LOCK_KEY})
        if await catalogue_is_empty(session):
            await run_seed(session, Actor.system())
        if await tokens.count(session) > 0:
            return None
        minted = await service.mint(session, Actor.system(), department="lead", scopes=BOOTSTRAP_SCOPES,
                                    name="bootstrap admin", expires_in_days=None,
                                    default_expiry_days=settings.token_default_expiry_days)
        return minted.secret

    return _in_transaction(work)


@cli.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Do not deliver webhooks in-process.")] = False,
) -> None:
    """Upgrade the schema, load the catalogue if empty, and serve (delivering webhooks in-process unless
    --no-worker; `zwc worker` can deliver them instead, and several deliverers never send an event twice)."""
    import os
    import shutil
    import signal
    import sys
    import tempfile

    # Before anything imports prometheus_client: its workers then write their metrics to files that
    # `/metrics` sums (app/core/metrics.py). A fresh directory per start, so no dead process's counts stay.
    own_metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="zwc-metrics-")

    import uvicorn

    from app.core.logging import log_config

    # Read by the app's settings in every server process (uvicorn's workers inherit the environment).
    os.environ["ZWC_WEBHOOK_WORKER"] = "0" if no_worker else "1"
    get_settings.cache_clear()
    secret = prepare_database()
    if secret is not None:
        typer.echo("=" * 72)
        typer.echo("Bootstrap admin token (department 'lead', scopes admin, indicators:admin).")
        typer.echo("It is shown this once; keep it safe:")
        typer.echo(secret)
        typer.echo("=" * 72)
    # uvicorn stops gracefully on SIGTERM and then raises it again: exit normally instead, so that the
    # directory below is removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run("app.main:create_app", factory=True, host=host, port=port, workers=workers,
                    proxy_headers=True, server_header=False,
                    # JSON lines for uvicorn's own records too; its access log is replaced by the app's.
                    log_config=log_config(get_settings().log_level), access_log=False)
    finally:
        if own_metrics_dir is not None:
            shutil.rmtree(own_metrics_dir, ignore_errors=True)


@cli.command("worker")
def worker() -> None:
    """Deliver webhooks from the outbox until interrupted (SIGINT or SIGTERM).

    Runs beside `zwc serve --no-worker`, or several at once: no event is delivered twice."""
    import logging
    import signal

    from app.core.db import Database
    from app.core.logging import configure_logging
    from app.webhooks.delivery import run_forever

    settings = get_settings()
    configure_logging(settings.log_level)
    log = logging.getLogger("zwc.webhooks")

    async def run() -> None:
        database = Database.from_settings(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        log.info("webhook worker started (polling every %ss)", settings.webhook_poll_seconds)
        try:
            await run_forever(database, settings, stop)
        finally:
            await database.dispose()
        log.info("webhook worker stopped")

    asyncio.run(run())


@cli.command("openapi")
def openapi(
    output: Annotated[str | None, typer.Option(help="Write to this file instead of standard output.")] = None,
) -> None:
    """Print (or write) the OpenAPI document the service serves."""
    import json

    from app.main import openapi_document

    _print_or_write(json.dumps(openapi_document(), ensure_ascii=False, indent=2) + "\n", output)


@cli.command("errors")
def error_codes(
    output: Annotated[str | None, typer.Option(help="Write to this file instead of standard output.")] = None,
) -> None:
    """Print (or write) the catalogue of problem codes (docs/ERRORS.md)."""
    from app.core.error_catalogue import markdown

    _print_or_write(markdown(), output)


def _print_or_write(document: str, output: str | None) -> None:
    from pathlib import Path

    if output is None:
        typer.echo(document, nl=False)
    else:
        Path(output).write_text(document, encoding="utf-8")
        typer.echo(f"wrote {output}")


def main() -> None:
    cli()
