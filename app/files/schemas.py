from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MediaType = Literal[
    "image/jpeg",
    "image/png",
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
]


class FileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="File id (文件编号), 32 lower-case hex characters: name it in the `evidence` "
                                "(佐证材料) of a submission or cell, or in an inspection's `photos`.")
    sha256: str = Field(description="SHA-256 of the content (文件摘要), 64 lower-case hex characters.")
    size: int = Field(description="Size in bytes (文件大小).")
    media_type: MediaType = Field(description="File type (文件类型), recognised from the content, never from the "
                                              "name: JPEG, PNG, PDF or XLSX.")
    filename: str = Field(description="The name the client gave (文件名), without any directory part or control "
                                      "characters; `upload` when it gave none.")
    department: str = Field(description="Code of the uploading department (上传部门).")
    created_at: datetime = Field(description="When it was uploaded (上传时间), UTC ISO 8601.")
