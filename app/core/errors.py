"""One error family, one problem+json shape (RFC 9457), bilingual texts.

Every error the service answers is an :class:`AppError` (or is turned into one by the handlers
in :mod:`app.core.problems`). ``code`` is stable and machine-readable; ``title`` and ``detail``
follow ``Accept-Language``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from app.core.i18n import Language

# code → (English title, Chinese title, English detail, Chinese detail); details are templates.
MESSAGES: dict[str, tuple[str, str, str, str]] = {
    "not_found": ("Not found", "未找到", "No {entity} '{id}' exists or it is not visible to you.",
                  "{entity}“{id}”不存在或您无权查看。"),
    "route_not_found": ("Not found", "未找到", "There is no such route: {path}.", "不存在该路径：{path}。"),
    "method_not_allowed": ("Method not allowed", "方法不被允许", "{method} is not allowed on {path}.",
                           "{path} 不支持 {method} 方法。"),
    "validation_failed": ("Validation failed", "校验失败", "The request is not valid; see errors.",
                          "请求内容不合法，详见 errors。"),
    "out_of_range": ("Out of range", "超出取值范围",
                     "A value is outside the indicator's bounds; see errors for the bounds.",
                     "数值超出该指标的取值范围，取值范围见 errors。"),
    "malformed_json": ("Malformed JSON", "JSON 格式错误", "The request body is not valid JSON.",
                       "请求体不是合法的 JSON。"),
    "unsupported_media_type": ("Unsupported media type", "不支持的内容类型",
                               "This endpoint takes {expected}, not {actual}.",
                               "该接口接受 {expected}，而不是 {actual}。"),
    "payload_too_large": ("Payload too large", "请求体过大",
                          "The body is larger than the limit of {limit} bytes.",
                          "请求体超过了 {limit} 字节的上限。"),
    "unsupported_file_type": ("Unsupported file type", "不支持的文件类型",
                              "The file's content is not JPEG, PNG, PDF or XLSX.",
                              "文件内容不是 JPEG、PNG、PDF 或 XLSX 格式。"),
    "unsupported_import_type": ("Unsupported file type", "不支持的文件类型",
                                "Import takes an XLSX workbook, or CSV with the template's headers in UTF-8 (a BOM "
                                "allowed) or GB18030/GBK (Excel's \"CSV (逗号分隔)\" on Chinese Windows).",
                                "导入仅支持 XLSX 工作簿，或带模板表头的 CSV 文件（UTF-8 编码，可带 BOM；"
                                "或 GB18030/GBK 编码，即中文版 Windows 上 Excel 另存的“CSV (逗号分隔)”）。"),
    "token_missing": ("Authentication required", "需要认证",
                      "Send 'Authorization: Bearer <token>'.", "请在请求头中提供 'Authorization: Bearer <token>'。"),
    "token_malformed": ("Invalid token", "令牌无效", "The bearer token is malformed.", "令牌格式不正确。"),
    "token_unknown": ("Invalid token", "令牌无效", "The bearer token is not known.", "令牌不存在。"),
    "token_expired": ("Token expired", "令牌已过期", "The bearer token has expired.", "令牌已过期。"),
    "token_revoked": ("Token revoked", "令牌已撤销", "The bearer token has been revoked.", "令牌已被撤销。"),
    "scope_required": ("Forbidden", "权限不足", "This needs one of the scopes: {scopes}.",
                       "此操作需要以下权限之一：{scopes}。"),
    "forbidden": ("Forbidden", "禁止访问", "{reason}", "{reason_zh}"),
    "precondition_required": ("Precondition required", "需要前置条件",
                              "Send 'If-Match' with the ETag you last read.",
                              "请在 'If-Match' 请求头中提供最近读取到的 ETag。"),
    "precondition_failed": ("Precondition failed", "前置条件不满足",
                            "The resource has changed since you read it (current ETag {etag}).",
                            "资源在您读取之后已被修改（当前 ETag 为 {etag}）。"),
    "department_exists": ("Conflict", "冲突", "Department '{code}' already exists.", "部门 '{code}' 已存在。"),
    "indicator_exists": ("Conflict", "冲突", "Indicator '{code}' already exists.", "指标 '{code}' 已存在。"),
    "conflict": ("Conflict", "冲突", "The request conflicts with the stored state.", "请求与已存储的数据冲突。"),
    "invalid_valid_from": ("Validation failed", "校验失败",
                           "valid_from must not be earlier than the current version's ({current}).",
                           "valid_from 不得早于当前版本的生效时间（{current}）。"),
    "cors_refused": ("CORS preflight refused", "跨域预检被拒绝", "{reason}.",
                     "跨域预检未通过：{reason_zh}不在允许之列。"),
    "invalid_idempotency_key": ("Bad request", "请求错误",
                                "Idempotency-Key must be 1 to 255 visible ASCII characters.",
                                "Idempotency-Key 必须为 1 到 255 个可见 ASCII 字符。"),
    "idempotency_key_reused": ("Validation failed", "校验失败",
                               "This Idempotency-Key was used with a different request.",
                               "该 Idempotency-Key 已用于另一个不同的请求。"),
    "idempotency_key_in_progress": ("Conflict", "冲突",
                                    "A request with this Idempotency-Key is still being processed; retry later.",
                                    "使用该 Idempotency-Key 的请求仍在处理中，请稍后重试。"),
    "not_responsible": ("Forbidden", "禁止访问",
                        "Your department neither leads nor cooperates on this indicator.",
                        "本部门不是该指标的牵头或配合部门。"),
    "not_own_submission": ("Forbidden", "禁止访问", "Only the submitting department may do this.",
                           "只有填报部门可以执行此操作。"),
    "self_review": ("Forbidden", "禁止访问",
                    "A department does not review its own submissions or cell applications.",
                    "部门不能审核本部门的填报或无废细胞申报。"),
    "submission_exists": ("Conflict", "冲突", "A submission for this indicator and period exists (id {id}).",
                          "该指标该期间已有填报（id {id}）。"),
    "batch_conflict": ("Conflict", "冲突",
                       "Another request stored one of these submissions meanwhile; nothing was written. "
                       "Send the batch again to see which.",
                       "其他请求同时保存了本批次中的某项填报，本批次未写入任何数据。请重新提交以查看冲突项。"),
    "submission_locked": ("Conflict", "冲突", "A submission cannot be edited while its status is {status}.",
                          "状态为“{status_zh}”的填报不能修改。"),
    "invalid_transition": ("Conflict", "冲突", "Cannot {action} while the status is {status}.",
                           "状态为“{status_zh}”时不能执行“{action_zh}”操作。"),
    "note_required": ("Validation failed", "校验失败",
                      "The value is an outlier against the previous approved value; add a note.",
                      "数值与上一期已审核数值差异过大，请填写说明。"),
    "value_required": ("Validation failed", "校验失败", "A value is needed before submitting.",
                       "提交前必须填写数值。"),
    "not_responsible_for_type": ("Forbidden", "禁止访问",
                                 "Only the type's responsible department or the lead office may do this "
                                 "for '{type}' cells.",
                                 "只有该类型（{type}）的责任部门或领导小组办公室可以执行此操作。"),
    "cell_locked": ("Conflict", "冲突", "A cell cannot be edited while its status is {status}.",
                    "状态为“{status_zh}”的无废细胞不能修改。"),
    "no_evaluation": ("Conflict", "冲突", "The cell has no evaluation since its last certificate; evaluate it first.",
                      "该无废细胞自上次认定以来没有评估记录，请先评估。"),
    "evaluation_not_passed": ("Conflict", "冲突",
                              "The latest evaluation scored {total}, below the pass score of {pass_score}.",
                              "最近一次评估得分 {total}，低于合格分数 {pass_score}。"),
    "export_too_large": ("Validation failed", "校验失败",
                         "More than {limit} rows match; narrow the filters to export them.",
                         "符合条件的记录超过 {limit} 行，请缩小筛选范围后再导出。"),
    "invalid_cursor": ("Bad request", "请求错误", "The cursor is not valid for this list.",
                       "分页游标无效。"),
    "database_unavailable": ("Service unavailable", "服务暂不可用",
                             "The database is unavailable; retry after {retry_after} seconds.",
                             "数据库暂不可用，请在 {retry_after} 秒后重试。"),
    "rate_limited": ("Too many requests", "请求过于频繁",
                     "This token has made more than {requests} {period}; retry after {wait}.",
                     "该令牌{period_zh}最多可发送 {amount} 次请求，已超出限额，请在 {retry_after} 秒后重试。"),
    "not_ready": ("Service unavailable", "服务未就绪", "{reason}", "{reason_zh}"),
    "internal_error": ("Internal server error", "服务器内部错误",
                       "An unexpected error occurred; it has been logged (request {request_id}).",
                       "发生了意外错误，已记录（请求 {request_id}）。"),
}


# Entity names as they read in Chinese texts.
ENTITIES_ZH = {
    "indicator": "指标",
    "department": "部门",
    "token": "令牌",
    "submission": "填报",
    "cell": "无废细胞",
    "certificate": "证书",
    "file": "文件",
    "webhook": "订阅",
    "cell evaluation": "无废细胞评估",
    "cell inspection": "无废细胞检查",
}


# Statuses (of submissions, SPEC §4.3, and of cells) and the actions that change them, as Chinese texts
# name them; a Chinese text reads `{status_zh}` and `{action_zh}`, never the English codes.
STATUSES_ZH = {
    "draft": "草稿", "submitted": "已提交", "approved": "已通过", "returned": "已退回",
    "planned": "计划创建", "applied": "已申报", "evaluated": "已评估", "certified": "已认证", "expired": "已过期",
    "revoked": "已撤销",
}
ACTIONS_ZH = {
    "submit": "提交", "approve": "通过", "return": "退回", "reopen": "重新打开",
    "apply": "申报", "evaluate": "评估", "certify": "认证", "revoke": "撤销",
}


def render_text(code: str, lang: Language, params: Mapping[str, Any]) -> tuple[str, str]:
    """Title and detail in ``lang``. A Chinese text never falls back on an English parameter: a reason is
    raised with its ``reason_zh`` (tests/test_messages.py reads every raise site for it)."""
    title_en, title_zh, detail_en, detail_zh = MESSAGES[code]
    values = dict(params)
    if lang == "zh" and "entity" in values:
        values["entity"] = ENTITIES_ZH.get(str(values["entity"]), values["entity"])
    if "status" in values:
        values["status_zh"] = STATUSES_ZH.get(str(values["status"]), values["status"])
    if "action" in values:
        values["action_zh"] = ACTIONS_ZH.get(str(values["action"]), values["action"])
    template = detail_zh if lang == "zh" else detail_en
    try:
        detail = template.format(**values)
    except (KeyError, IndexError):
        detail = template
    return (title_zh if lang == "zh" else title_en), detail


class AppError(Exception):
    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        code: str | None = None,
        /,
        *,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> None:
        self.code = code or self.default_code
        if self.code not in MESSAGES:
            raise KeyError(f"unknown error code {self.code!r}")
        self.params = params
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        super().__init__(self.code)


class BadRequest(AppError):
    status = 400
    default_code = "malformed_json"


class Unauthorized(AppError):
    status = 401
    default_code = "token_missing"


class Forbidden(AppError):
    status = 403
    default_code = "forbidden"


class NotFound(AppError):
    status = 404
    default_code = "not_found"


class MethodNotAllowed(AppError):
    status = 405
    default_code = "method_not_allowed"


class Conflict(AppError):
    status = 409
    default_code = "conflict"


class PreconditionFailed(AppError):
    status = 412
    default_code = "precondition_failed"


class PayloadTooLarge(AppError):
    status = 413
    default_code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status = 415
    default_code = "unsupported_media_type"


class Unprocessable(AppError):
    status = 422
    default_code = "validation_failed"


class PreconditionRequired(AppError):
    status = 428
    default_code = "precondition_required"


class TooManyRequests(AppError):
    status = 429
    default_code = "rate_limited"


class ServiceUnavailable(AppError):
    status = 503
    default_code = "database_unavailable"
