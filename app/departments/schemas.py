from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DepartmentKind = Literal["department", "lead_office", "external"]


class DepartmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9]{1,15}$", description="Short pinyin abbreviation, e.g. `sthj`.",
                      examples=["sthj"])
    name_zh: str = Field(min_length=1, max_length=200, description="Chinese name (中文名称).")
    name_en: str = Field(min_length=1, max_length=200, description="English name.")
    kind: DepartmentKind = Field(default="department", description="`department`, `lead_office` or `external`.")


class DepartmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name_zh: str
    name_en: str
    kind: DepartmentKind
    created_at: datetime
    updated_at: datetime
