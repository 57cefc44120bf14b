from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.core.actor import Scope
from app.departments.schemas import DepartmentOut


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100, description="A label for people.")
    scopes: list[Scope] = Field(min_length=1, max_length=7, description="What the token may do.")
    expires_in_days: int | None = Field(default=None, ge=1, le=3650,
                                        description="Lifetime in days (default: the service setting, 365).")

    @field_validator("scopes")
    @classmethod
    def _unique(cls, scopes: list[Scope]) -> list[Scope]:
        if len(set(scopes)) != len(scopes):
            raise ValueError("scopes must not repeat")
        return scopes


class TokenCreated(BaseModel):
    id: int
    token: str = Field(description="The secret, shown in this answer only. Send as `Authorization: Bearer …`.")
    department: str
    scopes: list[Scope]
    expires_at: datetime | None


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str = Field(description="The secret's first characters, to recognise it; never the secret.")
    department: str
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class Me(BaseModel):
    token_id: int
    token_name: str
    department: DepartmentOut
    scopes: list[Scope]
    expires_at: datetime | None
