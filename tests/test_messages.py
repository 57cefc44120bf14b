"""The texts people read, in English and Chinese: every problem detail and every field issue.

Three kinds of check. Rendering: every text of `app.core.errors.MESSAGES` and of every `ISSUES` table,
rendered in both languages with sample parameters (every status and action there is), leaves no
placeholder, puts no English status or action word into a Chinese sentence, counts items from 1 in
Chinese, and writes "an" before a vowel in English. Raise sites: every place that raises a problem or
builds an issue (found by reading the source) gives every parameter its code's English and Chinese texts
name, so a Chinese reason cannot be left out. And over HTTP, on both databases, the answers themselves.
"""

from __future__ import annotations

import ast
import importlib
import itertools
import pkgutil
import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest

import app as app_package
from app.cells.schemas import CellStatus
from app.core import errors
from app.core.config import Settings
from app.core.errors import MESSAGES, AppError, render_text
from app.core.i18n import VALIDATION_MESSAGES_ZH, VALUE_ERRORS_ZH, validation_message
from app.core.issues import issue
from app.submissions.schemas import Status
from app.submissions.workflow import TRANSITIONS
from tests.factories import assert_problem, bearer, make_token, serving
from tests.test_cells import PASSING, applied, certified, evaluate
from tests.test_submissions import acted, create

APP = Path(app_package.__file__).resolve().parent
ZH = {"Accept-Language": "zh-CN"}
FORMATTER = string.Formatter()

# Parameters the renderer adds itself: the request id, and the Chinese names of a status and an action.
DERIVED = {"request_id": None, "status_zh": "status", "action_zh": "action"}
# A parameter that is a 0-based index (as in `loc`): Chinese texts count from 1 and never show it.
ZERO_BASED = {"first"}
# Parameters that hold English words (a reason given in English): Chinese texts take their `…_zh` twin.
ENGLISH_PARAMS = {"reason"}


def placeholders(*templates: str) -> set[str]:
    return {name for template in templates for _, name, _, _ in FORMATTER.parse(template) if name}


def modules() -> Iterator[Any]:
    for info in pkgutil.walk_packages(app_package.__path__, "app."):
        yield importlib.import_module(info.name)


def issue_tables() -> dict[str, Mapping[str, tuple[str, str]]]:
    """Every `*ISSUES` table of the service, once each, by where it is defined."""
    found: dict[int, tuple[str, Mapping[str, tuple[str, str]]]] = {}
    for module in modules():
        for name, value in vars(module).items():
            if name.endswith("ISSUES") and isinstance(value, dict):
                found.setdefault(id(value), (f"{module.__name__}.{name}", value))
    return dict(found.values())


def raise_sites() -> Iterator[tuple[str, ast.Call]]:
    for path in sorted(APP.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                yield f"{path.relative_to(APP.parent)}:{node.lineno}", node


def callee(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def constant(node: ast.expr | None) -> Any:
    return node.value if isinstance(node, ast.Constant) else None


APP_ERRORS = {cls.__name__: cls for cls in AppError.__subclasses__()}
STATUSES = sorted({*get_args(Status), *get_args(CellStatus)})


def actions() -> list[str]:
    """The actions a transition can be refused for: the submissions' and those named where cells refuse one."""
    named = {constant(keyword.value) for _, node in raise_sites() if callee(node) in APP_ERRORS
             and node.args and constant(node.args[0]) == "invalid_transition"
             for keyword in node.keywords if keyword.arg == "action"}
    return sorted({*TRANSITIONS, *(action for action in named if isinstance(action, str))})


# English words of statuses and actions, which a Chinese text must say in Chinese.
ENGLISH_WORDS = re.compile(r"\b(" + "|".join(sorted({*STATUSES, *actions(), "reopened"})) + r")\b", re.I)
A_BEFORE_VOWEL = re.compile(r"\b[Aa] (?=[AEIOUaeiou])")

SAMPLE = {
    "id": "17", "path": "/v1/nowhere", "method": "PUT", "expected": "application/json", "actual": "text/plain",
    "limit": 1048576, "scopes": "admin, submissions:review", "reason": "the reason", "reason_zh": "原因",
    "etag": '"submission-1-v2"', "code": "sthj", "current": "2016-01-01T00:00:00Z", "type": "school",
    "total": 79, "pass_score": 80, "retry_after": 5, "request_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    # issues
    "first": 0, "first_number": 1, "max_points": 10, "computed": 41.5, "existing_id": 17, "frequency": "annual",
    "frequency_zh": "年度", "previous": "40", "threshold": 50, "value": 42, "columns": "指标代码 (code)",
    "count": 501, "event": "cell.inspected",
    "bounds": "between 0 and 100", "bounds_zh": "在 0 到 100 之间", "ceiling": "100000", "in_unit": " in 万吨",
    "in_unit_zh": "以“万吨”计的", "requests": "100 requests", "period": "in a minute", "wait": "7 seconds",
    "amount": 100, "period_zh": "每分钟", "typed": "62.5%", "unit": "万吨", "field": "period", "field_zh": "期间",
    "zh": "期间", "en": "period",
}


def variants(names: set[str]) -> Iterator[dict[str, Any]]:
    """Sample parameters for ``names``: every entity, status and action in turn."""
    choices = {"entity": sorted(errors.ENTITIES_ZH), "status": STATUSES, "action": actions()}
    varying = [name for name in choices if name in names]
    for combination in itertools.product(*(choices[name] for name in varying)):
        yield {**SAMPLE, **dict(zip(varying, combination, strict=True))}


@dataclass(frozen=True)
class Rendered:
    source: str
    english: str
    chinese: str
    zh_template: str


def varied(params: Mapping[str, Any]) -> str:
    return " ".join(f"{name}={params[name]}" for name in ("entity", "status", "action") if name in params)


def rendered() -> Iterator[Rendered]:
    for code, (_title_en, title_zh, detail_en, detail_zh) in MESSAGES.items():
        for params in variants(placeholders(detail_en, detail_zh)):
            english = " ".join(render_text(code, "en", params))
            chinese = " ".join(render_text(code, "zh", params))
            yield Rendered(f"MESSAGES[{code!r}] {varied(params)}", english, chinese, title_zh + detail_zh)
    for table, texts in issue_tables().items():
        for kind, (english, chinese) in texts.items():
            for params in variants(placeholders(english, chinese)):
                found = issue([], kind, texts, **params)
                yield Rendered(f"{table}[{kind!r}] {varied(params)}", found["msg"], found["msg_zh"], chinese)
    for kind, template in VALIDATION_MESSAGES_ZH.items():
        ctx: dict[str, object] = dict.fromkeys(placeholders(template), "1")
        errors_ = [ValueError(english) for english in VALUE_ERRORS_ZH] if "error" in ctx else [None]
        for error in errors_:
            if error is not None:
                ctx["error"] = error
            chinese = validation_message(kind, "", ctx, "zh")
            yield Rendered(f"VALIDATION_MESSAGES_ZH[{kind!r}] {error or ''}", "", chinese, template)


# ------------------------------------------------------------------------------------------ rendering


def test_every_text_renders_in_both_languages(subtests: pytest.Subtests) -> None:
    texts = list(rendered())
    assert len(texts) > 200
    for text in texts:
        with subtests.test(msg=text.source):
            assert re.search(r"[{}]", text.english + text.chinese) is None, text.english + text.chinese
            assert ENGLISH_WORDS.search(text.chinese) is None, text.chinese
            assert A_BEFORE_VOWEL.search(text.english) is None, text.english
            assert placeholders(text.zh_template) & (ZERO_BASED | ENGLISH_PARAMS) == set(), text.zh_template


def test_the_chinese_names_of_statuses_and_actions_are_complete() -> None:
    assert sorted(errors.STATUSES_ZH) == STATUSES
    assert sorted(errors.ACTIONS_ZH) == actions()
    assert all(re.search(r"[\u4e00-\u9fff]", name) for name in [*errors.STATUSES_ZH.values(),
                                                                *errors.ACTIONS_ZH.values()])


def test_a_missing_chinese_reason_is_not_replaced_by_the_english_one() -> None:
    assert render_text("forbidden", "zh", {"reason": "only the lead office may do this"})[1] != (
        "only the lead office may do this")


# ------------------------------------------------------------------------------------------ raise sites


def needed(*templates: str) -> set[str]:
    names = placeholders(*templates)
    return {DERIVED.get(name) or name for name in names if DERIVED.get(name, name) is not None}


def given(node: ast.Call) -> set[str] | None:
    """Keyword names of a call (None when some are spread from a mapping)."""
    if any(keyword.arg is None for keyword in node.keywords):
        return None
    return {str(keyword.arg) for keyword in node.keywords}


def dict_keys(node: ast.expr | None) -> set[str] | None:
    if not isinstance(node, ast.Dict) or any(key is None for key in node.keys):
        return None
    return {str(constant(key)) for key in node.keys}


def test_every_problem_raised_gives_every_parameter_its_texts_name(subtests: pytest.Subtests) -> None:
    """`AppError` subclasses, `problem_body(code=…, params={…})` and the middleware's `_problem(…)`."""
    checked = 0
    for where, node in raise_sites():
        name = callee(node)
        if name in APP_ERRORS:
            code = constant(node.args[0]) if node.args else APP_ERRORS[name].default_code
            names = given(node)
        elif name == "problem_body":
            keywords = {keyword.arg: keyword.value for keyword in node.keywords}
            if not isinstance(keywords.get("code"), ast.Constant):
                continue  # renders an AppError, or the middleware's _problem: checked where those are made
            code, names = constant(keywords.get("code")), dict_keys(keywords.get("params"))
        elif name == "_problem" and len(node.args) == 5:
            code, names = constant(node.args[3]), dict_keys(node.args[4])
        else:
            continue
        with subtests.test(msg=f"{where} {code}"):
            assert code in MESSAGES, "the code must be written out where it is raised"
            assert names is not None, "parameters must be named where the problem is raised"
            _title_en, _title_zh, detail_en, detail_zh = MESSAGES[code]
            assert needed(detail_en, detail_zh) <= names
        checked += 1
    assert checked > 50


def test_every_issue_built_gives_every_parameter_its_texts_name(subtests: pytest.Subtests) -> None:
    checked = 0
    for where, node in raise_sites():
        if callee(node) != "issue" or len(node.args) != 3:
            continue
        kind_node, table_node = node.args[1], node.args[2]
        assert isinstance(table_node, ast.Name)
        module = importlib.import_module(where.split(":")[0].removesuffix(".py").replace("/", "."))
        texts = getattr(module, table_node.id)
        kinds = [constant(kind_node)] if constant(kind_node) else [
            kind for kind, (english, chinese) in texts.items() if not placeholders(english, chinese)]
        for kind in kinds:
            with subtests.test(msg=f"{where} {kind}"):
                names = given(node)
                assert names is not None
                assert needed(*texts[kind]) <= names
            checked += 1
    assert checked > 30


def test_every_value_error_of_a_request_model_has_chinese() -> None:
    """A validator's `ValueError` reaches people as a 422 `value_error`: its message needs a Chinese text."""
    messages = set()
    for path in APP.rglob("schemas.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and callee(node.exc) == "ValueError":
                messages.add(constant(node.exc.args[0]))
    assert messages
    assert messages <= set(VALUE_ERRORS_ZH)


# ------------------------------------------------------------------------------------------ over HTTP


@pytest.fixture
async def cgj(app: Any) -> str:
    return await make_token(app, "cgj", ["submissions:write"])


@pytest.fixture
async def lead(app: Any) -> str:
    return await make_token(app, "lead", ["submissions:review"])


async def detail(response: httpx.Response, status: int, code: str) -> str:
    return str(assert_problem(response, status, code)["detail"])


async def test_a_locked_submission_and_a_refused_transition_read_well(client: httpx.AsyncClient, cgj: str,
                                                                      lead: str) -> None:
    draft = await create(client, cgj, "2.3.01", "2025", value=42.5)
    url = f"/v1/submissions/{draft['id']}"
    await acted(client, cgj, draft["id"], "submit")
    reopen = f"{url}/reopen"
    reason = {"reason": "口径调整"}
    assert await detail(await client.post(reopen, json=reason, headers=bearer(lead)), 409,
                        "invalid_transition") == "Cannot reopen while the status is submitted."
    assert await detail(await client.post(reopen, json=reason, headers=bearer(lead, **ZH)), 409,
                        "invalid_transition") == "状态为“已提交”时不能执行“重新打开”操作。"
    approved = await acted(client, lead, draft["id"], "approve")
    for headers, expected in (({}, "A submission cannot be edited while its status is approved."),
                              (ZH, "状态为“已通过”的填报不能修改。")):
        edit = await client.patch(url, json={"note": "x"}, headers=bearer(cgj, **headers, **{
            "If-Match": f'"submission-{approved["id"]}-v3"'}))
        assert await detail(edit, 409, "submission_locked") == expected
    submit_again = await client.post(f"{url}/submit", headers=bearer(cgj, **ZH))
    assert await detail(submit_again, 409, "invalid_transition") == "状态为“已通过”时不能执行“提交”操作。"


async def test_a_locked_cell_and_a_refused_transition_read_well(app: Any, client: httpx.AsyncClient) -> None:
    jyj = await make_token(app, "jyj", ["cells:write"])
    reviewer = await make_token(app, "sthj", ["cells:review"])
    cell = await certified(client, jyj, reviewer)
    url = f"/v1/cells/{cell['id']}"
    for headers, expected in (({}, "A cell cannot be edited while its status is certified."),
                              (ZH, "状态为“已认证”的无废细胞不能修改。")):
        edit = await client.patch(url, json={"name": "x"}, headers=bearer(jyj, **headers, **{
            "If-Match": f'"cell-{cell["id"]}-v{cell["version"]}"'}))
        assert await detail(edit, 409, "cell_locked") == expected
    again = await client.post(f"{url}/certify", headers=bearer(reviewer, **ZH))
    assert await detail(again, 409, "invalid_transition") == "状态为“已认证”时不能执行“认证”操作。"
    evaluated = await client.post(f"{url}/evaluations", headers=bearer(reviewer), json={
        "date": "2026-01-05", "evaluator": "王评审", "items": PASSING})
    assert await detail(evaluated, 409, "invalid_transition") == "Cannot evaluate while the status is certified."


async def test_a_repeated_batch_item_is_counted_from_1_in_chinese(client: httpx.AsyncClient, cgj: str) -> None:
    item = {"indicator": "2.3.01", "period": "2025", "value": 40}
    other = {"indicator": "2.4.01", "period": "2025", "value": 40}
    for headers, expected in (({}, "the same indicator and period appear earlier in this batch (items[1])"),
                              (ZH, "同一指标同一期间已在本批次第 2 项出现")):
        response = await client.post("/v1/submissions/batch", json={"items": [other, item, item]},
                                     headers=bearer(cgj, **headers))
        body = assert_problem(response, 422, "validation_failed")
        assert body["errors"] == [{"loc": ["items", 2, "period"], "msg": expected, "type": "duplicate_in_batch"}]


async def test_a_repeated_criterion_is_counted_from_1_in_chinese(app: Any, client: httpx.AsyncClient) -> None:
    jyj = await make_token(app, "jyj", ["cells:write"])
    reviewer = await make_token(app, "sthj", ["cells:review"])
    cell = await applied(client, jyj)
    items = [*PASSING[:2], PASSING[1]]
    for headers, expected in (({}, "this criterion is scored earlier in the list (items[1])"),
                              (ZH, "该评分项已在第 2 项评分")):
        response = await evaluate(client, reviewer, cell["id"], items, **headers)
        body = assert_problem(response, 422, "validation_failed")
        assert body["errors"] == [{"loc": ["items", 2, "criterion"], "msg": expected,
                                   "type": "duplicate_criterion"}]


async def test_a_refused_webhook_address_is_explained_in_chinese(settings: Settings) -> None:
    async with serving(settings, webhook_allow_private=False) as (strict, http):
        token = await make_token(strict, "zzwf", ["aggregates:read"])
        for url, expected in (
            ("http://127.0.0.1:8080/x", "订阅地址必须是公网地址：127.0.0.1 不是公网地址。"),
            ("http://localhost/x", "订阅地址必须是公网地址：localhost 指向本机。"),
        ):
            response = await http.post("/v1/webhooks", json={"url": url, "events": ["cell.applied"]},
                                       headers=bearer(token, **ZH))
            body = assert_problem(response, 422, "validation_failed")
            assert [(e["loc"], e["msg"], e["type"]) for e in body["errors"]] == [(["url"], expected,
                                                                                  "url_not_public")]


async def test_a_refused_cors_preflight_is_explained_in_chinese(settings: Settings) -> None:
    async with serving(settings, cors_origins=["https://dash.example"]) as (_cors_app, http):
        for headers, expected in (
            ({"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
             "跨域预检未通过：来源（Origin）不在允许之列。"),
            ({"Origin": "https://evil.example", "Access-Control-Request-Method": "TRACE",
              "Access-Control-Request-Headers": "X-Secret"},
             "跨域预检未通过：来源（Origin）、方法、请求头不在允许之列。"),
        ):
            preflight = await http.options("/v1/departments", headers={**headers, **ZH})
            assert await detail(preflight, 400, "cors_refused") == expected
            english = await http.options("/v1/departments", headers=headers)
            assert (await detail(english, 400, "cors_refused")).startswith("Disallowed CORS origin")


async def test_a_repeated_scope_is_explained_in_chinese(app: Any, client: httpx.AsyncClient) -> None:
    admin = await make_token(app, "lead", ["admin"])
    response = await client.post("/v1/departments/cgj/tokens", json={"scopes": ["cells:write", "cells:write"]},
                                 headers=bearer(admin, **ZH))
    body = assert_problem(response, 422, "validation_failed")
    assert [(e["loc"], e["msg"], e["type"]) for e in body["errors"]] == [(["scopes"], "取值无效：权限不得重复",
                                                                          "value_error")]
