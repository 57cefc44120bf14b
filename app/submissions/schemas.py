from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, FiniteFloat

from app.indicators.schemas import NumberOrBool

Status = Literal["draft", "submitted", "approved", "returned"]

FILE_ID_PATTERN = r"^[0-9a-f]{32}$"


class EvidenceLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    url: AnyHttpUrl = Field(description="An http(s) link to the evidence.")




class SubmissionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    indicator: str = Field(min_length=1, max_length=32, description="Indicator code, e.g. `1.4.03`.",
                           examples=["2.3.01"])
    period: str = Field(min_length=4, max_length=7, description="`YYYY`, `YYYYQn` or `YYYY-MM`, matching the "
                                                                "indicator's frequency.", examples=["2025"])
    value: NumberOrBool | None = Field(default=None, description="The value; computed when numerator and "
                                                                 "denominator are given. `0` is a value.")
    numerator: FiniteFloat | None = Field(default=None, ge=0, description="For rates: the numerator (分子).")
    denominator: FiniteFloat | None = Field(default=None, gt=0, description="For rates: the denominator (分母).")
    note: str | None = Field(default=None, max_length=4000, description="Explanation (说明).")
    evidence: list[EvidenceLink | str] = Field(
        default_factory=list, max_length=50,
        description="Evidence (佐证材料): file ids from `POST /v1/files`, or `{title, url}` links.",
    )


class SubmissionPatch(BaseModel):
    """Any of these; `null` clears a field."""

    model_config = ConfigDict(extra="forbid")

    value: NumberOrBool | None = None
    numerator: FiniteFloat | None = Field(default=None, ge=0)
    denominator: FiniteFloat | None = Field(default=None, gt=0)
    note: str | None = Field(default=None, max_length=4000)
    evidence: list[EvidenceLink | str] | None = Field(default=None, max_length=50)


class ActionNote(BaseModel):
    """Optional body of `submit` and `approve`."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=4000, description="For `submit`: the submission's "
                                                                        "note; for `approve`: the reviewer's.")


class ActionReason(BaseModel):
    """Body of `return` and `reopen`."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=4000, pattern=r"\S", description="Why (退回/重新打开原因).")


class SubmissionWarning(BaseModel):
    code: str = Field(description="e.g. `outlier`.")
    msg: str


class SubmissionPreview(BaseModel):
    """A submission's fields as they are (or, in a dry run, would be) stored."""

    indicator: str
    period: str
    department: str
    value: bool | int | float | None
    numerator: float | None
    denominator: float | None
    note: str | None
    evidence: list[EvidenceLink | str]
    status: Status
    warnings: list[SubmissionWarning]


class SubmissionOut(SubmissionPreview):
    id: int
    version: int
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    approved_at: datetime | None
    reviewer_note: str | None


class RevisionOut(BaseModel):
    revision: int
    action: Literal["created", "edited", "submitted", "approved", "returned", "reopened"]
    at: datetime
    status: Status
    value: bool | int | float | None
    numerator: float | None
    denominator: float | None
    note: str | None
    evidence: list[EvidenceLink | str]
    reason: str | None
    department: str | None = Field(description="The department that acted.")
    token_id: int | None = Field(description="The token that acted.")


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[SubmissionCreate] = Field(min_length=1, max_length=500)


class BatchCreated(BaseModel):
    items: list[SubmissionOut]


class BatchPreview(BaseModel):
    items: list[SubmissionPreview]
