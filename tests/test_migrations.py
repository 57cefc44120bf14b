"""Migration gates, on both databases: one head, every revision up and down, models = schema."""

from __future__ import annotations

import re

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from app.core import migrations
from app.core.db import create_sync_engine
from app.core.registry import metadata

EXPECTED_TABLES = {
    "alembic_version", "api_tokens", "audit_events", "cell_criteria", "cell_evaluations", "cell_inspections",
    "cell_quotas", "cell_quota_changes", "cells", "certificate_counters", "certificates", "cell_type_criteria",
    "cell_types", "files",
    "idempotency_keys", "submission_evidence_files", "submission_revisions", "submissions", "cell_files",
    "departments", "indicator_cooperators", "indicator_milestones", "indicator_versions", "indicators",
    "outbox_events", "towns",
    "webhooks", "webhook_deliveries", "webhook_attempts", "webhook_dispatch_cursor", "rate_limit_counters",
}


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(migrations.alembic_config("sqlite://"))


def _tables(url: str) -> set[str]:
    engine = create_sync_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_there_is_a_single_head() -> None:
    assert len(_script().get_heads()) == 1


def test_revision_files_are_dated() -> None:
    for revision in _script().walk_revisions():
        assert revision.path is not None
        assert re.search(r"/\d{4}_\d{2}_\d{2}_\d{4}-[0-9a-f]+_\w+\.py$", revision.path), revision.path


def test_every_revision_upgrades_and_downgrades(empty_database_url: str) -> None:
    revisions = [r.revision for r in reversed(list(_script().walk_revisions()))]
    for revision in revisions:
        migrations.upgrade(empty_database_url, revision)
    assert _tables(empty_database_url) == EXPECTED_TABLES
    for _ in revisions:
        migrations.downgrade(empty_database_url, "-1")
    assert _tables(empty_database_url) <= {"alembic_version"}
    migrations.upgrade(empty_database_url, "head")
    assert _tables(empty_database_url) == EXPECTED_TABLES


def test_models_match_the_migrated_schema(empty_database_url: str) -> None:
    migrations.upgrade(empty_database_url, "head")
    engine = create_sync_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []
