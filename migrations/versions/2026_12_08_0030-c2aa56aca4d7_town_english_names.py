"""towns: English names

`GET /v1/towns` answers each town's English name as well (SPEC §4). The column starts empty (null) in a
database that already has towns; the next `zwc seed` fills it in from the catalogue.

Revision ID: c2aa56aca4d7
Revises: 1952c419cce9
Create Date: 2026-12-08 00:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'c2aa56aca4d7'
down_revision: str | Sequence[str] | None = '1952c419cce9'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Adding a nullable column needs no table rebuild on SQLite (cells refer to towns).
    op.add_column("towns", sa.Column("name_en", sa.String(length=100), nullable=True))


def downgrade() -> None:
    # SQLite (3.35+) drops a column in place; a batch rebuild would drop and recreate the table that
    # cells refer to.
    op.execute("ALTER TABLE towns DROP COLUMN name_en")
