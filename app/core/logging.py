"""Logging: one line per record on stderr. Secrets are never passed to loggers."""

from __future__ import annotations

import logging


def configure_logging(level: int = logging.INFO) -> None:
    root = logging.getLogger("zwc")
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
