"""Language negotiation and the bilingual texts of problems and validation messages."""

from __future__ import annotations

from typing import Literal

Language = Literal["en", "zh"]


def preferred_language(accept_language: str | None) -> Language:
    """Chinese when the client prefers any ``zh`` variant over English, else English."""
    if not accept_language:
        return "en"
    best: tuple[float, Language] = (0.0, "en")
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        # Earlier entries win ties, as the header's order expresses preference.
        quality -= position * 1e-6
        primary = tag.strip().lower().split("-")[0]
        if primary in ("zh", "en") and quality > best[0]:
            best = (quality, "zh" if primary == "zh" else "en")
    return best[1]


# Pydantic error types → Chinese message templates (``{...}`` filled from the error's ctx).
VALIDATION_MESSAGES_ZH: dict[str, str] = {
    "missing": "缺少必填字段",
    "extra_forbidden": "不允许的字段",
    "string_type": "应为字符串",
    "string_too_short": "长度至少为 {min_length}",
    "string_too_long": "长度至多为 {max_length}",
    "string_pattern_mismatch": "格式不符合要求：{pattern}",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "finite_number": "应为有限数字",
    "number_or_bool_type": "应为数字或布尔值",
    "bool_type": "应为布尔值",
    "bool_parsing": "应为布尔值",
    "list_type": "应为列表",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "literal_error": "应为以下取值之一：{expected}",
    "enum": "应为以下取值之一：{expected}",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应大于或等于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应小于或等于 {le}",
    "too_short": "至少需要 {min_length} 项",
    "too_long": "至多允许 {max_length} 项",
    "datetime_type": "应为日期时间",
    "datetime_parsing": "日期时间格式无效",
    "datetime_from_date_parsing": "日期时间格式无效",
    "timezone_aware": "日期时间应带时区",
    "date_parsing": "日期格式无效",
    "date_from_datetime_parsing": "日期格式无效",
    "json_invalid": "JSON 格式错误",
    "value_error": "取值无效：{error}",
    "assertion_error": "取值无效：{error}",
    "uuid_parsing": "应为 UUID",
    "url_parsing": "应为网址",
    "url_scheme": "网址协议不受支持",
}


# The messages of the request models' own validators (a `ValueError` there is a 422 `value_error`), in
# Chinese; tests/test_messages.py finds every such message in the schemas and requires it here.
VALUE_ERRORS_ZH: dict[str, str] = {
    "scopes must not repeat": "权限不得重复",
    "may not be null": "不能为 null",
}


def validation_message(error_type: str, english: str, ctx: dict[str, object] | None, lang: Language) -> str:
    if lang == "en":
        return english
    template = VALIDATION_MESSAGES_ZH.get(error_type)
    if template is None:
        return english
    if error_type == "value_error" and ctx and str(ctx.get("error")) in VALUE_ERRORS_ZH:
        ctx = {**ctx, "error": VALUE_ERRORS_ZH[str(ctx["error"])]}
    try:
        return template.format(**(ctx or {}))
    except (KeyError, IndexError):
        return template.split("：")[0]
