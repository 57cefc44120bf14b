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


# Request fields → their Chinese names, so that "field required" says which one in both languages
# (a field not listed here is named by its key alone).
FIELD_NAMES_ZH: dict[str, str] = {
    "indicator": "指标", "period": "期间", "value": "数值", "numerator": "分子", "denominator": "分母",
    "note": "说明", "evidence": "佐证材料", "reason": "理由", "items": "条目", "file": "文件",
    "code": "代码", "name": "名称", "name_zh": "中文名称", "name_en": "英文名称", "kind": "类别", "type": "类型",
    "category": "类别", "group": "分组", "unit": "单位", "value_type": "数值类型", "direction": "方向",
    "frequency": "频次", "lead_department": "牵头部门", "definition": "定义", "target": "目标值",
    "town": "乡镇", "address": "地址", "date": "日期", "year": "年份", "month": "月份", "evaluator": "评估人",
    "criterion": "评分项", "points": "分数", "inspected_at": "检查时间", "inspector": "检查人",
    "findings": "检查发现", "quota": "配额", "scopes": "权限范围", "url": "网址", "title": "标题",
    "summary": "进展摘要", "region_code": "行政区划代码", "base_url": "服务地址", "token": "令牌",
}


def missing_field_messages(name: str) -> tuple[str, str]:
    """"Field required", naming the field: (English, Chinese)."""
    chinese = FIELD_NAMES_ZH.get(name)
    return f"Field required: {name}", f"缺少必填字段：{name}" + (f"（{chinese}）" if chinese else "")


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
