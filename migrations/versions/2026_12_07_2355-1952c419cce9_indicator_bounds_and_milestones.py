"""indicator bounds and milestones: min_value/max_value on every version, targets as milestones (SPEC §6.1)

Every version gets the bounds it was validated with until now (the value type's: a percentage 0–100, any
other number at least 0, booleans none), so that the rows say what was enforced when they were in force;
the catalogue's corrections (rates of change without a minimum) arrive as new versions through `zwc seed`.
A version's single target is copied into ``indicator_milestones``, which holds one or several per version.
``target_year``/``target_value`` stay (the new code keeps them equal to the last milestone), so that replicas of
the previous release keep answering during a rolling upgrade (the expand step of docs/OPERATIONS.md); a later
release drops them.

``indicator_versions`` is append-only: the triggers that refuse UPDATE are set aside for the one backfill
statement and put back in the same transaction.

Revision ID: 1952c419cce9
Revises: 7c2e4b9d1f3a
Create Date: 2026-12-07 23:55:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy import event

revision: str = '1952c419cce9'
down_revision: str | Sequence[str] | None = '7c2e4b9d1f3a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_CHECKS = (
    ("ck_indicator_versions_bounds_ordered", "min_value IS NULL OR max_value IS NULL OR min_value <= max_value"),
    ("ck_indicator_versions_no_bounds_for_booleans",
     "value_type <> 'boolean' OR (min_value IS NULL AND max_value IS NULL)"),
    ("ck_indicator_versions_baseline_within_bounds",
     "baseline_value IS NULL OR ((min_value IS NULL OR baseline_value >= min_value) "
     "AND (max_value IS NULL OR baseline_value <= max_value))"),
)
# The bounds every value was held to before this revision (app.indicators.service.value_issues).
IMPLIED_BOUNDS = ("UPDATE indicator_versions SET "
                  "min_value = CASE WHEN value_type = 'boolean' THEN NULL ELSE 0 END, "
                  "max_value = CASE WHEN value_type = 'percent' THEN 100 ELSE NULL END")


def _sqlite_foreign_keys_off() -> None:
    """SQLite rebuilds the table to drop columns: rows referring to it would trip their foreign keys when
    the old table is dropped, so the keys are off meanwhile (as in revision 0ca7f0bbdad4) and every reference
    is checked before the keys come back on at commit."""
    raw = op.get_bind().connection.dbapi_connection
    assert raw is not None
    if raw.in_transaction:
        raw.execute("COMMIT")
    raw.execute("PRAGMA foreign_keys=OFF")
    raw.execute("BEGIN IMMEDIATE")


def _sqlite_foreign_keys_checked_and_on() -> None:
    bind = op.get_bind()
    broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"rows whose references do not hold: {broken[:10]}")

    def switch_on(connection: Any) -> None:
        raw = connection.connection.dbapi_connection
        raw.execute("COMMIT")
        raw.execute("PRAGMA foreign_keys=ON")

    event.listen(bind, "commit", switch_on, once=True)


def _sqlite_refuse_changes() -> None:
    for action in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER indicator_versions_no_{action.lower()} BEFORE {action} ON indicator_versions "
                   "BEGIN SELECT RAISE(ABORT, 'indicator_versions is append-only'); END")


def _backfill(statement: str, dialect: str) -> None:
    """One UPDATE of the append-only table. SQLite has no disabled triggers: they are dropped, and made again
    once the table has been rebuilt with its new checks (a rebuilt table has none of the old one's triggers)."""
    if dialect == "postgresql":
        op.execute("ALTER TABLE indicator_versions DISABLE TRIGGER indicator_versions_append_only")
        op.execute(statement)
        op.execute("ALTER TABLE indicator_versions ENABLE TRIGGER indicator_versions_append_only")
    else:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS indicator_versions_no_{action}")
        op.execute(statement)


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        _sqlite_foreign_keys_off()
    op.create_table(
        'indicator_milestones',
        sa.Column('version_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.CheckConstraint('year BETWEEN 2000 AND 2100', name=op.f('ck_indicator_milestones_year_range')),
        sa.ForeignKeyConstraint(['version_id'], ['indicator_versions.id'],
                                name=op.f('fk_indicator_milestones_version_id_indicator_versions')),
        sa.PrimaryKeyConstraint('version_id', 'year', name=op.f('pk_indicator_milestones')),
    )
    op.execute("INSERT INTO indicator_milestones (version_id, year, value) "
               "SELECT id, target_year, target_value FROM indicator_versions WHERE target_year IS NOT NULL")
    with op.batch_alter_table('indicator_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('min_value', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('max_value', sa.Float(), nullable=True))
    _backfill(IMPLIED_BOUNDS, dialect)
    with op.batch_alter_table('indicator_versions', schema=None) as batch_op:
        for name, sql in NEW_CHECKS:
            batch_op.create_check_constraint(op.f(name), sql)
    if dialect == "sqlite":
        _sqlite_refuse_changes()
        _sqlite_foreign_keys_checked_and_on()


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        _sqlite_foreign_keys_off()
    with op.batch_alter_table('indicator_versions', schema=None) as batch_op:
        for name, _sql in reversed(NEW_CHECKS):
            batch_op.drop_constraint(op.f(name), type_='check')
        batch_op.drop_column('max_value')
        batch_op.drop_column('min_value')
    op.drop_table('indicator_milestones')
    if dialect == "sqlite":
        _sqlite_refuse_changes()
        _sqlite_foreign_keys_checked_and_on()
