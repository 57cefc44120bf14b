"""The metadata every table model shares.

The naming convention must be set before any table is defined, so every table module imports
:class:`SQLModel` from here rather than from ``sqlmodel`` directly.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint
from sqlmodel import SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLModel.metadata.naming_convention = NAMING_CONVENTION


def one_of(column: str, values: tuple[str, ...]) -> str:
    """The SQL of a CHECK that ``column`` holds one of ``values``."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def per_dialect(name: str, *, postgresql: str, sqlite: str) -> tuple[CheckConstraint, CheckConstraint]:
    """One CHECK constraint written in each database's own SQL (regular expressions and JSONB functions
    on PostgreSQL, GLOB and JSON functions on SQLite), under one name (docs/decisions/0015)."""
    return (CheckConstraint(postgresql, name=name).ddl_if(dialect="postgresql"),
            CheckConstraint(sqlite, name=name).ddl_if(dialect="sqlite"))


def lower_hex(name: str, column: str, length: int | None = None) -> tuple[CheckConstraint, CheckConstraint]:
    """``column`` is lower-case hexadecimal digits (or NULL): ``length`` of them, when given."""
    if length is None:
        return per_dialect(name, postgresql=f"{column} ~ '^[0-9a-f]*$'", sqlite=f"{column} NOT GLOB '*[^0-9a-f]*'")
    return per_dialect(name, postgresql=f"{column} ~ '^[0-9a-f]{{{length}}}$'",
                       sqlite=f"length({column}) = {length} AND {column} NOT GLOB '*[^0-9a-f]*'")


__all__ = ["NAMING_CONVENTION", "SQLModel", "lower_hex", "one_of", "per_dialect"]
