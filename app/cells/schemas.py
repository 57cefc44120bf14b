from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, FiniteFloat, field_validator

from app.submissions.schemas import EvidenceLink

CellStatus = Literal["planned", "applied", "evaluated", "certified", "expired", "revoked"]
CertificateStatus = Literal["certified", "expired", "revoked"]

# Texts shared by several models (SPEC §2, §4.1); each says what the field means, its format and who sets it.
TYPE_CODE = "Cell-type code (无废细胞类型), one of the codes of `GET /v1/cell-types`, e.g. `school` (无废学校)."
TOWN_CODE = ("Town code (乡镇(街道)) from the catalogue's towns list, e.g. `chengguan` (城关镇) or `qingpingjie` "
             "(青屏街街道).")
CELL_NAME = "Name of the place (细胞名称), e.g. `新密市实验小学`: 1–200 characters, not blank."
ADDRESS = "Street address (详细地址), up to 500 characters."
CONTACT = ("Contact person and telephone (联系人及联系电话), up to 200 characters; never shown publicly, and in "
           "answers only to those allowed to see it.")
EVIDENCE = ("Evidence (佐证材料): file ids from `POST /v1/files` uploaded by the caller's department (422 "
            "`unknown_file` otherwise), or `{title, url}` links; at most 50.")
CELL_ID = "Id of the cell (无废细胞编号) the record belongs to."
CERTIFICATE_NO = ("Certificate number (证书编号), e.g. `XM-WF-2026-SCH-0001`: issued as `XM-WF-<year>-<TYPE>-<seq>` "
                  "(certification year in Asia/Shanghai, the type code's first three letters in capitals, a "
                  "four-digit sequence per year and type); never reused.")
VALID_UNTIL = ("Last day of validity (有效期至), a date (`YYYY-MM-DD`, Asia/Shanghai): the certification date plus "
               "the type's `validity_years`; from the next day the certificate reads `expired`.")
PLANNED = "Cells now `planned` (计划创建): named in the plan, not yet applied for."
APPLIED = "Cells now `applied` or `evaluated` (已申报): awaiting evaluation or certification."
CERTIFIED = ("Cells certified and valid at the end of the year (已认证): a certificate issued before the year's "
             "end (Asia/Shanghai), valid on 31 December and not revoked by then.")
REVOKED = "Cells whose certificate was revoked during the year (已撤销)."
POSTED_BY = ("Code of the department whose token posted it ({term}); null only for records not made "
                       "through the API.")
RECEIVED_AT = "When the server recorded it (创建时间), UTC ISO 8601."
KEEP = " Omit it to keep the current value."
KEEP_OR_CLEAR = " Omit it to keep the current value; null clears it."


def _latitude(what: str, more: str = "") -> Any:
    return Field(default=None, ge=-90, le=90,
                 description=f"WGS-84 latitude (纬度) of {what}, in decimal degrees from −90 to 90.{more}")


def _longitude(what: str, more: str = "") -> Any:
    return Field(default=None, ge=-180, le=180,
                 description=f"WGS-84 longitude (经度) of {what}, in decimal degrees from −180 to 180.{more}")


class CriterionOut(BaseModel):
    code: str = Field(description="Criterion code (评分项编码), e.g. `sorting`: what an evaluation item's "
                                  "`criterion` names.")
    name_zh: str = Field(description="Chinese name of the checklist item (评分项名称), e.g. `分类收集：…`.")
    name_en: str = Field(description="English name of the checklist item (评分项英文名称).")
    max_points: int = Field(description="Full marks of the item (分值): an evaluation gives it whole points from 0 "
                                        "to this.")
    bonus: bool = Field(description="A bonus item (加分项): its points are added on top of the base items', so "
                                    "they can make up for points lost elsewhere.")


class CellTypeOut(BaseModel):
    code: str = Field(description="Cell-type code (类型编码), e.g. `school`; what a cell's `type` names.")
    name_zh: str = Field(description="Chinese name (类型名称), e.g. `无废学校`.")
    name_en: str = Field(description="English name (英文名称), e.g. `Zero-waste school`.")
    responsible_department: str = Field(
        description="Code of the responsible department (责任部门), e.g. `jyj` for schools: its `cells:write` tokens "
                    "apply for, edit and inspect cells of this type (the lead office may for every type).")
    pass_score: int = Field(description="Pass score (合格分数线): the least evaluation `total` that may be "
                                        "certified, e.g. 80.")
    validity_years: int = Field(description="Validity of a certificate in years (有效期年限), counted from the "
                                            "certification date (Asia/Shanghai).")
    criteria: list[CriterionOut] = Field(description="The evaluation checklist (评分细则): base items first, bonus "
                                                     "items last, each ordered by code.")


class TownOut(BaseModel):
    code: str = Field(description="Town code (乡镇(街道)编码), e.g. `chengguan`: what a cell's `town` names.",
                      examples=["chengguan"])
    name_zh: str = Field(description="Chinese name (名称), e.g. `城关镇`.", examples=["城关镇"])
    name_en: str | None = Field(description="English name (英文名称), e.g. `Chengguan Town`; null only in a database "
                                            "not seeded since English names were added, until the next "
                                            "`zwc seed`.", examples=["Chengguan Town"])
    kind: Literal["subdistrict", "town", "township", "district"] = Field(
        description="Kind (类型): `subdistrict` (街道), `town` (镇), `township` (乡) or `district` (the Fuxishan "
                    "tourism development zone, 伏羲山旅游开发区).")


class CellCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=16,
                      description=TYPE_CODE + " Unknown codes answer 422 `unknown_type`; the caller must be the "
                                              "type's responsible department or the lead office (403).",
                      examples=["school"])
    name: str = Field(min_length=1, max_length=200, pattern=r"\S", description=CELL_NAME)
    town: str = Field(min_length=1, max_length=32, description=TOWN_CODE + " Unknown codes answer 422 "
                                                                           "`unknown_town`.",
                      examples=["chengguan"])
    address: str | None = Field(default=None, max_length=500, description=ADDRESS + " Optional.")
    contact: str | None = Field(default=None, max_length=200, description=CONTACT + " Optional.")
    latitude: FiniteFloat | None = _latitude("the place", " Optional.")
    longitude: FiniteFloat | None = _longitude("the place", " Optional.")
    evidence: list[EvidenceLink | str] = Field(default_factory=list, max_length=50,
                                               description=EVIDENCE + " Default none.")


class CellPatch(BaseModel):
    """Any of these; `null` clears an optional field. `status: "applied"` applies for a `planned` cell."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"\S",
                             description=CELL_NAME + KEEP + " It may not be null.")
    town: str | None = Field(default=None, min_length=1, max_length=32,
                             description=TOWN_CODE + " Unknown codes answer 422 `unknown_town`." + KEEP
                                         + " It may not be null.")
    address: str | None = Field(default=None, max_length=500, description=ADDRESS + KEEP_OR_CLEAR)
    contact: str | None = Field(default=None, max_length=200, description=CONTACT + KEEP_OR_CLEAR)
    latitude: FiniteFloat | None = _latitude("the place", KEEP_OR_CLEAR)
    longitude: FiniteFloat | None = _longitude("the place", KEEP_OR_CLEAR)
    evidence: list[EvidenceLink | str] | None = Field(
        default=None, max_length=50,
        description=EVIDENCE + " Replaces the whole list; omit it to keep the current one, null or `[]` empties it.")
    status: Literal["applied"] | None = Field(
        default=None, description="`applied` (申报): apply for a `planned` cell (409 `invalid_transition` for a "
                                  "cell in any other status). Omit it, or null, to leave the status as it is.")

    @field_validator("name", "town")
    @classmethod
    def _not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("may not be null")
        return value


class CellOut(BaseModel):
    id: int = Field(description="Cell id (无废细胞编号), assigned by the server; use it in `/v1/cells/{cell_id}`.")
    type: str = Field(description=TYPE_CODE)
    name: str = Field(description="Name of the place (细胞名称).")
    town: str = Field(description=TOWN_CODE)
    address: str | None = Field(description="Street address (详细地址); null when none was given.")
    contact: str | None = Field(description="Contact person and telephone (联系人及联系电话): shown only to the "
                                            "applicant's department, the type's responsible department, the lead "
                                            "office and `cells:review` tokens; null for everyone else, or when "
                                            "none was given.")
    latitude: float | None = Field(description="WGS-84 latitude (纬度) in decimal degrees; null when none was given.")
    longitude: float | None = Field(description="WGS-84 longitude (经度) in decimal degrees; null when none was "
                                                "given.")
    evidence: list[EvidenceLink | str] = Field(description="Evidence (佐证材料): file ids (read them with `GET "
                                                           "/v1/files/{id}`) and `{title, url}` links, in the order "
                                                           "given; may be empty.")
    department: str = Field(description="Code of the applicant's department (申报单位); for the cells the plan "
                                        "names, the type's responsible department.")
    status: CellStatus = Field(
        description="Status (状态): `planned` (计划创建, named in the plan), `applied` (已申报), `evaluated` (已评估), "
                    "`certified` (已认证), `expired` (已过期, the day after `valid_until`) or `revoked` (已撤销).")
    certificate_no: str | None = Field(description=CERTIFICATE_NO + " The latest certificate's number, kept after "
                                                                    "it expires or is revoked; null until first "
                                                                    "certified.")
    certified_at: dt.datetime | None = Field(description="When the latest certificate was issued (认证时间), UTC "
                                                         "ISO 8601; null until first certified.")
    valid_until: dt.date | None = Field(description=VALID_UNTIL + " The latest certificate's; null until first "
                                                                  "certified.")
    version: int = Field(description="Revision number (版本号): 1 when created, one more on every change (edit, "
                                     "evaluation, certification, revocation, expiry); the `ETag` follows it.")
    created_at: dt.datetime = Field(description="When the cell was recorded (创建时间): applied for through the "
                                                "API, or loaded by `zwc seed` for the cells the plan names; UTC "
                                                "ISO 8601.")
    updated_at: dt.datetime = Field(description="When it last changed (更新时间), UTC ISO 8601; equals "
                                                "`created_at` until the first change.")


class EvaluationItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    criterion: str = Field(min_length=1, max_length=32,
                           description="Criterion code (评分项编码) of the cell's type, from the type's `criteria` "
                                       "in `GET /v1/cell-types`, e.g. `sorting`; each at most once (422 "
                                       "`unknown_criterion` / `duplicate_criterion`).")
    points: int = Field(strict=True, description="Points given (得分): a whole number from 0 to the criterion's "
                                                 "`max_points` (422 `points_out_of_range`).")


class EvaluationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: dt.date = Field(description="Date of the evaluation (评估日期), `YYYY-MM-DD`.")
    evaluator: str = Field(min_length=1, max_length=200, pattern=r"\S",
                           description="Who evaluated (评估人): the evaluator's or panel's name(s), 1–200 "
                                       "characters, not blank.")
    items: list[EvaluationItem] = Field(min_length=1, max_length=50,
                                        description="The points per checklist item (评分明细), 1–50 items; items "
                                                    "left out score nothing.")
    note: str | None = Field(default=None, max_length=4000, description="Remarks (评估意见), up to 4000 "
                                                                        "characters; optional.")


class EvaluationOut(BaseModel):
    id: int = Field(description="Evaluation id (评估记录编号), assigned by the server.")
    cell_id: int = Field(description=CELL_ID)
    date: dt.date = Field(description="Date of the evaluation (评估日期), `YYYY-MM-DD`, as given.")
    evaluator: str = Field(description="Who evaluated (评估人), as given.")
    items: list[EvaluationItem] = Field(description="The points per checklist item (评分明细), as given.")
    total: int = Field(description="Total score (总分), computed: the sum of the points, bonus items included.")
    passed: bool = Field(description="Whether it passed (是否达标), computed: `total` at or above the type's "
                                     "`pass_score`.")
    note: str | None = Field(description="Remarks (评估意见); null when none were given.")
    department: str | None = Field(description=POSTED_BY.format(term="评估部门"))
    created_at: dt.datetime = Field(description=RECEIVED_AT)


class RevokeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=4000, pattern=r"\S",
                        description="Why the certificate is revoked (撤销原因): 1–4000 characters, not blank; "
                                    "kept in the audit trail and sent with the `cell.revoked` event.")


class InspectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inspected_at: AwareDatetime = Field(description="When the inspection took place (检查时间), ISO 8601 with a "
                                                    "UTC offset, e.g. `2026-05-12T09:30:00+08:00`; stored in UTC.")
    inspector: str = Field(min_length=1, max_length=200, pattern=r"\S",
                           description="Who inspected (检查人员): 1–200 characters, not blank.")
    findings: str = Field(min_length=1, max_length=8000,
                          description="What was found (检查情况), 1–8000 characters.")
    score: FiniteFloat | None = Field(default=None, ge=0, le=110,
                                      description="Score on the spot (检查得分), 0–110 (the checklist scale, bonus "
                                                  "included); optional and for the record only: it changes neither "
                                                  "the cell's status nor its evaluations.")
    latitude: FiniteFloat | None = _latitude("where the inspection took place", " Optional.")
    longitude: FiniteFloat | None = _longitude("where the inspection took place", " Optional.")
    photos: list[str] = Field(default_factory=list, max_length=30,
                              description="On-site photos (现场照片): file ids from `POST /v1/files` uploaded by "
                                          "the caller's department (422 `unknown_file` otherwise); at most 30, "
                                          "default none.")


class InspectionOut(BaseModel):
    id: int = Field(description="Inspection id (检查记录编号), assigned by the server.")
    cell_id: int = Field(description=CELL_ID)
    inspected_at: dt.datetime = Field(description="When the inspection took place (检查时间), UTC ISO 8601.")
    inspector: str = Field(description="Who inspected (检查人员), as given.")
    findings: str = Field(description="What was found (检查情况), as given.")
    score: float | None = Field(description="Score on the spot (检查得分), 0–110; null when none was given.")
    latitude: float | None = Field(description="WGS-84 latitude (纬度) where the inspection took place; null when "
                                               "none was given.")
    longitude: float | None = Field(description="WGS-84 longitude (经度) where the inspection took place; null "
                                                "when none was given.")
    photos: list[str] = Field(description="On-site photos (现场照片): file ids, read with `GET /v1/files/{id}`; may "
                                          "be empty.")
    department: str | None = Field(description=POSTED_BY.format(term="检查部门"))
    created_at: dt.datetime = Field(description=RECEIVED_AT)


class QuotaBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quota: int = Field(strict=True, ge=0, le=100000,
                       description="Quota (目标任务数): how many cells of the type Zhengzhou wants certified and "
                                   "valid at the end of the year, a whole number from 0 to 100000; replaces any "
                                   "earlier quota of that year and type.")


class QuotaOut(BaseModel):
    year: int = Field(description="Calendar year (年度) the quota is for.")
    type: str = Field(description=TYPE_CODE)
    quota: int = Field(description="Quota (目标任务数) now in force; the registry indicators' targets follow it "
                                   "(1.4.02: the sum over types; 5.1.04: the `scenic` quota).")
    updated_at: dt.datetime = Field(description="When it was last set (更新时间), UTC ISO 8601.")


CUMULATIVE = ("Built to date (累计建成): cells certified by the end of the year whose latest certificate by then "
              "was not revoked; an expired certificate still counts (the cell was built), a re-certified cell "
              "counts once.")


class SummaryItem(BaseModel):
    type: str = Field(description=TYPE_CODE + " Every type has an item.")
    planned: int = Field(description=PLANNED)
    applied: int = Field(description=APPLIED)
    certified: int = Field(description=CERTIFIED)
    cumulative: int = Field(description=CUMULATIVE + " The figure of indicators 1.4.02 (all types) and 5.1.04 "
                                                     "(`scenic`), SPEC §4.2.")
    revoked: int = Field(description=REVOKED)
    quota: int | None = Field(description="The year's quota (目标任务数) set with `PUT /v1/cell-quotas/{year}/{type}`; "
                                          "null when none is set.")
    progress: float | None = Field(description="Progress (完成率): `certified` / `quota` as a fraction (1 = quota "
                                               "met; may exceed 1), rounded to 4 decimals; null without a quota or "
                                               "with a quota of 0.")


class TownSummaryItem(BaseModel):
    """`by=town`: the figures of one (town, type) pair; quotas and progress are per type only."""

    town: str = Field(description=TOWN_CODE + " A cell counts in its current town.")
    type: str = Field(description=TYPE_CODE)
    planned: int = Field(description=PLANNED)
    applied: int = Field(description=APPLIED)
    certified: int = Field(description=CERTIFIED)
    cumulative: int = Field(description=CUMULATIVE)
    revoked: int = Field(description=REVOKED)


class PublicCertificate(BaseModel):
    certificate_no: str = Field(description=CERTIFICATE_NO)
    name: str = Field(description="Name of the certified place (细胞名称), as the registry has it now.")
    type: str = Field(description=TYPE_CODE)
    status: CertificateStatus = Field(description="This certificate's status (证书状态): `certified` (有效, valid "
                                                  "today), `expired` (已过期, after `valid_until`) or `revoked` "
                                                  "(已撤销).")
    certified_at: dt.datetime = Field(description="When this certificate was issued (认证时间), UTC ISO 8601.")
    valid_until: dt.date = Field(description=VALID_UNTIL)

