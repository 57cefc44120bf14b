"""idempotency retention check on SQLite: compare both sides as SQLite computes them

SQLite's date functions round to the millisecond, so `expires_at >= datetime(created_at, '+24 hours')`
compared a stored `…:28.999600` with a computed `…:29` and refused a key kept exactly 24 hours (about one
claim in two thousand answered 409 `conflict`). Both sides now go through julianday(). PostgreSQL's check
compares exact timestamps and is left as it is.

Revision ID: 7c2e4b9d1f3a
Revises: 5d1c0f7e9a2b
Create Date: 2026-11-28 22:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op


revision: str = '7c2e4b9d1f3a'
down_revision: str | Sequence[str] | None = '5d1c0f7e9a2b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ck_idempotency_keys_kept_24_hours"


def _replace(check: str) -> None:
    # Nothing refers to idempotency_keys, so rebuilding it trips no foreign key.
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(NAME), type_="check")
        batch_op.create_check_constraint(op.f(NAME), check)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _replace("julianday(expires_at) >= julianday(created_at, '+24 hours')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _replace("expires_at >= datetime(created_at, '+24 hours')")
