"""Who is acting: the authenticated caller of a request, or the system (CLI, seed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, get_args

Scope = Literal[
    "admin",
    "indicators:admin",
    "submissions:write",
    "submissions:review",
    "cells:write",
    "cells:review",
    "aggregates:read",
]
SCOPES: tuple[str, ...] = get_args(Scope)


@dataclass(frozen=True)
class Actor:
    department: str | None
    department_kind: str | None = None
    token_id: int | None = None
    token_name: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    expires_at: datetime | None = None
    request_id: str | None = None

    @classmethod
    def system(cls) -> Actor:
        """The command-line tool acting on the operator's behalf (no token)."""
        return cls(department=None)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def is_lead_office(self) -> bool:
        return self.department_kind == "lead_office"
