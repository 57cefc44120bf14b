from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="Event number (事件编号), assigned increasing; the list is ordered by it.")
    at: datetime = Field(description="When the write happened (操作时间), UTC ISO 8601.")
    department: str | None = Field(
        description="Code of the acting department (操作部门); null when the system acted (the `zwc` command "
                    "line, such as `zwc seed`, or a cell certificate's automatic expiry).")
    token_id: int | None = Field(
        description="Id of the token that made the request (操作令牌编号); null when the system acted.")
    request_id: str | None = Field(
        description="The request's `X-Request-ID` (请求编号), to find it in the logs; null when the system acted.")
    action: str = Field(description="What was done (操作类型), `<entity>.<verb>`: e.g. `submission.approved`, "
                                    "`indicator.revised`, `token.revoked`, `cell.certified`.")
    entity: str = Field(description="Kind of object written (对象类型): e.g. `submission`, `indicator`, "
                                    "`department`, `token`, `file`, `cell`, `cell_quota`, `webhook`.")
    entity_id: str = Field(description="The object's key (对象编号): its id or code as text (`year/type` for a "
                                       "cell quota).")
    before: dict[str, Any] | None = Field(
        description="The object before the write (变更前内容); null when the write created it.")
    after: dict[str, Any] | None = Field(description="The object after the write (变更后内容).")
