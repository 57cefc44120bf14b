"""The catalogue of problem `code`s (docs/ERRORS.md), generated from the code so that it cannot drift:
the bilingual texts from `app.core.errors.MESSAGES`, and each code's HTTP statuses from where the service
raises it (an `AppError` subclass named with the code, a class's default code, or a status given with it).
`zwc errors` writes it; a test compares the committed file with this output."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from app.core import errors
from app.core.errors import MESSAGES, AppError

APP = Path(errors.__file__).resolve().parents[1]
_CLASSES = {cls.__name__: cls for cls in AppError.__subclasses__()}
_RAISED = re.compile(r"\b(" + "|".join(_CLASSES) + r")\(\s*\"([a-z_]+)\"")
_WITH_STATUS = re.compile(r"(?:status=|_problem\(scope, \w+, )(\d{3}),? (?:code=)?\"([a-z_]+)\"")

HEADER = """# Problem codes / 错误代码

Every error is an RFC 9457 `application/problem+json` answer whose `code` is stable: program against the
`code`, show the `title` and `detail` (in Chinese with `Accept-Language: zh-CN`). A `422` lists what is
wrong in `errors` (`loc`, `type`, `msg`). New codes may appear within `/v1` (docs/VERSIONING.md): treat an
unknown one by its status. Generated from the code by `zwc errors --output docs/ERRORS.md`.

| code | status | title | 标题 | detail | 说明 |
|---|---|---|---|---|---|
"""


def statuses() -> dict[str, list[int]]:
    """Each code's statuses, from the service's source."""
    found: dict[str, set[int]] = defaultdict(set)
    for cls in _CLASSES.values():
        found[cls.default_code].add(cls.status)
    found["internal_error"].add(500)
    for path in APP.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for name, code in _RAISED.findall(text):
            found[code].add(_CLASSES[name].status)
        for status, code in _WITH_STATUS.findall(text):
            found[code].add(int(status))
    return {code: sorted(found[code]) for code in MESSAGES}


def markdown() -> str:
    rows = []
    by_status = statuses()
    for code, (title_en, title_zh, detail_en, detail_zh) in sorted(MESSAGES.items(),
                                                                   key=lambda item: (by_status[item[0]], item[0])):
        status = ", ".join(str(value) for value in by_status[code])
        cells = [f"`{code}`", status, title_en, title_zh, detail_en, detail_zh]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return HEADER + "\n".join(rows) + "\n"
