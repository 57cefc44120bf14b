from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, FiniteFloat

from app.indicators.schemas import NumberOrBool

Status = Literal["draft", "submitted", "approved", "returned"]

FILE_ID_PATTERN = r"^[0-9a-f]{32}$"

# What each submission field means; the request, preview, answer and revision models share these texts.
ABOUT = {
    "indicator": "Indicator code (指标编码), e.g. `1.4.03`: an indicator of the catalogue (`GET /v1/indicators`) "
                 "fed by submissions, which the caller's department leads (牵头部门) or cooperates on (配合部门).",
    "period": "Reporting period (统计周期): `YYYY`, `YYYYQn` or `YYYY-MM`, matching the indicator's frequency; "
              "from 2016 up to the current period (Asia/Shanghai): a period that has not started is refused.",
    "value": "The reported value (指标值) in the indicator's unit: a number (0–100 for `percent`, a whole number "
             "for `count`, never negative) or true/false for boolean indicators. `0` is a value.",
    "numerator": "For rates (`percent`, `ratio`) only: the numerator (分子), ≥ 0; given together with `denominator`.",
    "denominator": "For rates (`percent`, `ratio`) only: the denominator (分母), > 0; given together with "
                   "`numerator`.",
    "note": "Explanation (填报说明) by the reporting department, up to 4000 characters; needed to submit a value "
            "that carries an `outlier` warning.",
    "evidence": "Evidence (佐证材料), at most 50 items: ids of files the caller's department uploaded with "
                "`POST /v1/files`, or `{title, url}` links.",
}
SHOWN = {
    "value": "The value (指标值) as stored: computed as 100 × numerator / denominator (`percent`) or numerator / "
             "denominator (`ratio`) when those are given; true/false for boolean indicators, a whole number for "
             "`count`. Null when no value has been given yet.",
    "numerator": "For rates: the numerator (分子); null when not given (then `denominator` is null too).",
    "denominator": "For rates: the denominator (分母); null when not given (then `numerator` is null too).",
    "note": "Explanation (填报说明) by the reporting department; null when none.",
    "evidence": "Evidence (佐证材料): file ids (`GET /v1/files/{id}`) and `{title, url}` links, in the order "
                "given; empty when none.",
    "status": "Status (填报状态): `draft` (草稿), `submitted` (已提交, awaiting review 待审核), `approved` "
              "(审核通过) or `returned` (已退回, to be corrected and submitted again).",
}
KEEP_OR_CLEAR = " Omit it to keep the current one; null clears it."


class EvidenceLink(BaseModel):
    """A link to evidence kept elsewhere (外部佐证材料链接)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200, description="Title of the evidence (材料名称), 1–200 "
                                                                 "characters.", examples=["2024年度统计公报"])
    url: AnyHttpUrl = Field(description="An http(s) link to the evidence (材料链接).")


class SubmissionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    indicator: str = Field(min_length=1, max_length=32, description=ABOUT["indicator"], examples=["2.3.01"])
    period: str = Field(min_length=4, max_length=7, description=ABOUT["period"], examples=["2025"])
    value: NumberOrBool | None = Field(
        default=None, description=ABOUT["value"] + " Computed when numerator and denominator are given (a value "
                                                    "given as well must agree within 1e-6). May be left out of a "
                                                    "draft; submitting needs one.")
    numerator: FiniteFloat | None = Field(default=None, ge=0, description=ABOUT["numerator"])
    denominator: FiniteFloat | None = Field(default=None, gt=0, description=ABOUT["denominator"])
    note: str | None = Field(default=None, max_length=4000, description=ABOUT["note"])
    evidence: list[EvidenceLink | str] = Field(default_factory=list, max_length=50,
                                               description=ABOUT["evidence"] + " Default none.")


class SubmissionPatch(BaseModel):
    """Any of these; `null` clears a field."""

    model_config = ConfigDict(extra="forbid")

    value: NumberOrBool | None = Field(
        default=None, description=ABOUT["value"] + KEEP_OR_CLEAR + " With numerator and denominator (kept or "
                                                                   "changed) the value is computed from them.")
    numerator: FiniteFloat | None = Field(default=None, ge=0, description=ABOUT["numerator"] + KEEP_OR_CLEAR)
    denominator: FiniteFloat | None = Field(default=None, gt=0, description=ABOUT["denominator"] + KEEP_OR_CLEAR)
    note: str | None = Field(default=None, max_length=4000, description=ABOUT["note"] + KEEP_OR_CLEAR)
    evidence: list[EvidenceLink | str] | None = Field(
        default=None, max_length=50, description=ABOUT["evidence"] + " Replaces the whole list; omit it to keep "
                                                                     "the current one; null or `[]` empties it.")


class ActionNote(BaseModel):
    """Optional body of `submit` and `approve`."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=4000,
                             description="For `submit`: the explanation (填报说明), replacing the submission's "
                                         "`note` when given (needed for an outlier without a note). For "
                                         "`approve`: the review opinion (审核意见), stored as `reviewer_note`.")


class ActionReason(BaseModel):
    """Body of `return` and `reopen`."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=4000, pattern=r"\S",
                        description="Why (退回原因 / 重新打开原因): required, not blank, up to 4000 characters; stored "
                                    "as `reviewer_note`.")


class SubmissionWarning(BaseModel):
    code: str = Field(description="Warning code (提示代码): `outlier` (异常值) — the value is more than the "
                                  "threshold (50% by default) above or below the indicator's latest approved value "
                                  "of an earlier period.", examples=["outlier"])
    msg: str = Field(description="The warning in words (提示信息), in Chinese with `Accept-Language: zh-CN`, "
                                 "else English.")


class SubmissionPreview(BaseModel):
    """A submission's fields as they are (or, in a dry run, would be) stored."""

    indicator: str = Field(description="Indicator code (指标编码).", examples=["2.3.01"])
    period: str = Field(description="Reporting period (统计周期): `YYYY`, `YYYYQn` or `YYYY-MM`.",
                        examples=["2025"])
    department: str = Field(description="Code of the reporting department (填报部门), the creating token's.",
                            examples=["sthj"])
    value: bool | int | float | None = Field(description=SHOWN["value"])
    numerator: float | None = Field(description=SHOWN["numerator"])
    denominator: float | None = Field(description=SHOWN["denominator"])
    note: str | None = Field(description=SHOWN["note"])
    evidence: list[EvidenceLink | str] = Field(description=SHOWN["evidence"])
    status: Status = Field(description=SHOWN["status"] + " A dry-run preview is always `draft`.")
    warnings: list[SubmissionWarning] = Field(
        description="Warnings (异常提示), worked out afresh on every read: an `outlier` while the value is far "
                    "from the latest approved one; empty when none.")


class SubmissionOut(SubmissionPreview):
    id: int = Field(description="Submission id (填报记录 ID), assigned by the service.", examples=[17])
    version: int = Field(description="Version (版本号): 1 on creation, one more on every edit and transition; "
                                     "the `ETag` follows it.", examples=[1])
    created_at: datetime = Field(description="Creation time (创建时间), UTC ISO 8601 with offset.")
    updated_at: datetime = Field(description="Last change (更新时间): edit or transition, UTC ISO 8601 with offset.")
    submitted_at: datetime | None = Field(description="When it was last submitted (提交时间), UTC ISO 8601 with "
                                                      "offset; null if it never was.")
    approved_at: datetime | None = Field(description="When it was approved (审核通过时间), UTC ISO 8601 with "
                                                     "offset; null unless `status` is `approved`.")
    reviewer_note: str | None = Field(description="Review opinion (审核意见): the reason of the last return or "
                                                  "reopening (退回原因), or the note given on approval; null when "
                                                  "there is none.")


class RevisionOut(BaseModel):
    revision: int = Field(description="Revision number (修订序号): 1 for the creation, then one more per change; "
                                      "equals the submission's `version` after that change.", examples=[1])
    action: Literal["created", "edited", "submitted", "approved", "returned", "reopened"] = Field(
        description="What was done (操作): `created` (新建), `edited` (修改), `submitted` (提交), `approved` "
                    "(审核通过), `returned` (退回) or `reopened` (重新打开, an approval withdrawn).")
    at: datetime = Field(description="When (操作时间), UTC ISO 8601 with offset.")
    status: Status = Field(description="The status after this change (操作后状态): `draft`, `submitted`, "
                                       "`approved` or `returned`.")
    value: bool | int | float | None = Field(description="The value (指标值) after this change; null when none.")
    numerator: float | None = Field(description="The numerator (分子) after this change; null when none.")
    denominator: float | None = Field(description="The denominator (分母) after this change; null when none.")
    note: str | None = Field(description="The explanation (填报说明) after this change; null when none.")
    evidence: list[EvidenceLink | str] = Field(description="The evidence (佐证材料) after this change.")
    reason: str | None = Field(description="For `returned` and `reopened`: the reviewer's reason (退回原因); "
                                           "null for every other action.")
    department: str | None = Field(description="The department that acted (操作部门); null for the "
                                               "command-line tool.")
    token_id: int | None = Field(description="Id of the token that acted (操作令牌 ID), as in `GET /v1/tokens`; "
                                             "null for the command-line tool.")


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[SubmissionCreate] = Field(min_length=1, max_length=500,
                                          description="The submissions to create (批量填报), 1–500, each as for "
                                                      "`POST /v1/submissions`; all or nothing.")


class BatchCreated(BaseModel):
    items: list[SubmissionOut] = Field(description="The created submissions (已创建的填报), all `draft`, in the "
                                                   "order of the request's items.")


class BatchPreview(BaseModel):
    items: list[SubmissionPreview] = Field(description="What would be created (预览), in the order of the "
                                                       "request's items; nothing was written.")
