from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.core.actor import Scope
from app.departments.schemas import DepartmentOut

TokenIdField = Annotated[int, Field(description="The token's id (令牌编号), assigned by the service; "
                                                "`DELETE /v1/tokens/{id}` revokes it.")]
DepartmentCodeField = Annotated[str, Field(description="Code of the department the token acts for (所属部门), "
                                                       "e.g. `sthj`.")]
ExpiresAtField = Annotated[
    datetime | None,
    Field(description="When the token stops working (有效期至), UTC ISO 8601; null: it never expires."),
]


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100,
                             description="A label for people (令牌名称), 1–100 characters; "
                                         "default `<department code> token`.")
    scopes: list[Scope] = Field(min_length=1, max_length=7,
                                description="What the token may do (权限范围): one or more scopes, none repeated.")
    expires_in_days: int | None = Field(default=None, ge=1, le=3650,
                                        description="Lifetime in days (有效天数), 1–3650, counted from now "
                                                    "(default: the service setting, 365).")

    @field_validator("scopes")
    @classmethod
    def _unique(cls, scopes: list[Scope]) -> list[Scope]:
        if len(set(scopes)) != len(scopes):
            raise ValueError("scopes must not repeat")
        return scopes


class TokenCreated(BaseModel):
    id: TokenIdField
    token: str = Field(description="The secret (令牌密钥): `zwc_` and URL-safe characters, shown in this answer "
                                   "only. Send as `Authorization: Bearer …`.")
    department: DepartmentCodeField
    scopes: list[Scope] = Field(description="What the token may do (权限范围), as requested.")
    expires_at: ExpiresAtField


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: TokenIdField
    name: str = Field(description="The label given at creation (令牌名称), or `<department code> token`.")
    prefix: str = Field(description="The secret's first 12 characters (令牌前缀), to recognise it; "
                                    "never the secret.")
    department: DepartmentCodeField
    scopes: list[Scope] = Field(description="What the token may do (权限范围).")
    created_at: datetime = Field(description="When the token was minted (创建时间), UTC ISO 8601.")
    expires_at: ExpiresAtField
    last_used_at: datetime | None = Field(
        description="When the token last authenticated a request (最近使用时间), UTC ISO 8601, updated at most "
                    "once a minute by default; null: never used.")
    revoked_at: datetime | None = Field(
        description="When the token was revoked (吊销时间), UTC ISO 8601; null: not revoked.")


class Me(BaseModel):
    token_id: int = Field(description="The calling token's id (令牌编号).")
    token_name: str = Field(description="The calling token's label (令牌名称).")
    department: DepartmentOut = Field(description="The department the token acts for (所属部门).")
    scopes: list[Scope] = Field(description="What the calling token may do (权限范围), in alphabetical order.")
    expires_at: ExpiresAtField
