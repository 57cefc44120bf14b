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

    id: str = Field(description="The file's id; name it in a submission's `evidence` or an inspection's `photos`.")
    sha256: str = Field(description="Hex SHA-256 of the content.")
    size: int = Field(description="Size in bytes.")
    media_type: MediaType = Field(description="The type recognised from the content (never from the name).")
    filename: str = Field(description="The name the client gave, without any directory part.")
    department: str = Field(description="The uploading department.")
    created_at: datetime
