"""The fenced code blocks of a guide in docs/, and which of them a test runs (the mark line right above)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    tested: bool


def read_blocks(name: str, mark: str) -> list[Block]:
    text = (DOCS / name).read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        line_before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        found.append(Block(match.group(1), match.group(2), line_before.strip() == mark))
    assert text.count(mark) == sum(block.tested for block in found), f"{name}: a mark not right above a block"
    return found
