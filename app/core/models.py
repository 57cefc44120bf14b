"""The metadata every table model shares.

The naming convention must be set before any table is defined, so every table module imports
:class:`SQLModel` from here rather than from ``sqlmodel`` directly.
"""

from __future__ import annotations

from sqlmodel import SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLModel.metadata.naming_convention = NAMING_CONVENTION

__all__ = ["NAMING_CONVENTION", "SQLModel"]
