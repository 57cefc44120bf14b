from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DepartmentKind = Literal["department", "lead_office", "external"]

CODE_DESCRIPTION = "Department code (部门编码): a short pinyin abbreviation, e.g. `sthj`."
NAME_ZH_DESCRIPTION = "Chinese name (部门名称), e.g. `郑州市生态环境局新密分局`."
NAME_EN_DESCRIPTION = "English name (英文名称)."
KIND_DESCRIPTION = (
    "Kind (部门类型): `department` (职能部门, a city bureau), `lead_office` (领导小组办公室, the programme's "
    "lead office; with `cells:write` it acts for every cell type) or `external` (外部单位, e.g. Zhengzhou's "
    "platform `zzwf`)."
)


class DepartmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9]{1,15}$",
                      description="Department code (部门编码): a short pinyin abbreviation, 2–16 lower-case letters "
                                  "and digits starting with a letter, e.g. `sthj`; it cannot be changed later.",
                      examples=["sthj"])
    name_zh: str = Field(min_length=1, max_length=200, description=NAME_ZH_DESCRIPTION)
    name_en: str = Field(min_length=1, max_length=200, description=NAME_EN_DESCRIPTION)
    kind: DepartmentKind = Field(default="department", description=f"{KIND_DESCRIPTION} Default `department`.")


class DepartmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str = Field(description=CODE_DESCRIPTION)
    name_zh: str = Field(description=NAME_ZH_DESCRIPTION)
    name_en: str = Field(description=NAME_EN_DESCRIPTION)
    kind: DepartmentKind = Field(description=KIND_DESCRIPTION)
    created_at: datetime = Field(description="When the department was created (创建时间), UTC ISO 8601.")
    updated_at: datetime = Field(description="When its names or kind last changed (更新时间), UTC ISO 8601, "
                                             "e.g. by `zwc seed`; equals `created_at` until then.")
