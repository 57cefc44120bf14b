"""Logging: one JSON object per line on stderr, with secrets masked.

Every record (the application's ``zwc.*`` loggers, uvicorn's error log, and our own one-line-per-request
record that replaces uvicorn's access log) goes through one handler on the root logger: a
:class:`RedactingFilter` masks anything that looks like a token, a webhook secret, an ``Authorization``
value or a signature, then :class:`JsonFormatter` writes ``ts``, ``level``, ``logger``, ``msg`` and the
request fields. Secrets are never passed to loggers in the first place; the filter is defence in depth.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

MASK = "***"

# (pattern, replacement) pairs, applied in order.
_SECRETS: list[tuple[re.Pattern[str], Any]] = [
    # An Authorization header value, however it is quoted or spelled.
    (re.compile(r"""(?i)(authorization['"]?\s*[:=]\s*['"]?)(?:(bearer|basic)\s+)?[^\s'",;)}\]]+"""),
     lambda match: f"{match[1]}{match[2] + ' ' if match[2] else ''}{MASK}"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {MASK}"),
    (re.compile(r"zwc_[A-Za-z0-9_-]{8,}"), f"zwc_{MASK}"),
    (re.compile(r"whsec_[A-Za-z0-9_-]+"), f"whsec_{MASK}"),
    (re.compile(r"\bv1=[0-9a-fA-F]{8,}"), f"v1={MASK}"),
]

# Request fields a record may carry (``extra=``); nothing else from a record reaches the output.
REQUEST_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "department", "token_id", "exc_type")


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message, arguments, request fields and traceback, before formatting."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what there is
            message = f"{record.msg} {record.args}"
        record.msg = redact(message)
        record.args = None
        for name in REQUEST_FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (UTC ISO 8601), ``level``, ``logger``, ``msg``, request fields,
    ``exc_type`` for errors, and the traceback (``exc``) only at ERROR and above."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in REQUEST_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry.setdefault("exc_type", record.exc_info[0].__name__)
        if record.levelno >= logging.ERROR:
            if record.exc_info and not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
            if record.exc_text:
                entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (so captured or replaced streams keep working)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _level(level: int | str) -> int:
    return level if isinstance(level, int) else logging.getLevelNamesMapping()[level.upper()]


def log_config(level: int | str = logging.INFO) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary (passed to uvicorn by `zwc serve`): JSON on stderr for
    everything, uvicorn's access log off (the application writes its own request records)."""
    name = logging.getLevelName(_level(level))
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "filters": {"redact": {"()": RedactingFilter}},
        "handlers": {"stderr": {"()": StderrHandler, "formatter": "json", "filters": ["redact"]}},
        "root": {"handlers": ["stderr"], "level": name},
        "loggers": {
            "zwc": {"handlers": [], "level": name, "propagate": True},
            "uvicorn": {"handlers": [], "level": name, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": name, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def configure_logging(level: int | str = logging.INFO) -> None:
    """Install the JSON handler on the root logger (once; later calls only set the levels)."""
    numeric = _level(level)
    root = logging.getLogger()
    if not any(isinstance(handler, StderrHandler) for handler in root.handlers):
        handler = StderrHandler()
        handler.setFormatter(JsonFormatter())
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(numeric)
    zwc = logging.getLogger("zwc")
    zwc.setLevel(numeric)
    zwc.propagate = True
    for old in list(zwc.handlers):  # the plain-text handler of earlier versions
        zwc.removeHandler(old)
