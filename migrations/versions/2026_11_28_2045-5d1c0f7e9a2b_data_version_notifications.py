"""data version notifications: NOTIFY zwc_data_version when a figure's inputs change (PostgreSQL)

The data version (app/scores/repository.py, `data_version`) is three maxima: outbox events, indicator
versions and quota changes. A statement-level trigger on each of the three tables notifies the channel,
so that every process's read cache (app/readcache/) learns of a change at commit, from any writer.

Revision ID: 5d1c0f7e9a2b
Revises: a3e736d04910
Create Date: 2026-11-28 20:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op


revision: str = '5d1c0f7e9a2b'
down_revision: str | Sequence[str] | None = 'a3e736d04910'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "zwc_data_version"
TABLES = ("outbox_events", "indicator_versions", "cell_quota_changes")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no NOTIFY; its processes read the version from the database every time
    # NOTIFY is sent at commit, once per transaction however many statements fired it. Updates leave the
    # maxima as they are (deliveries update outbox rows all the time), so only inserts and deletes notify.
    op.execute(f"""
        CREATE FUNCTION zwc_notify_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
            RETURN NULL;
        END
        $$
    """)
    for table in TABLES:
        op.execute(f"CREATE TRIGGER {table}_data_version AFTER INSERT OR DELETE OR TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION zwc_notify_data_version()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_data_version ON {table}")
    op.execute("DROP FUNCTION zwc_notify_data_version()")
