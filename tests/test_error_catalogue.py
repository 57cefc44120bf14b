"""docs/ERRORS.md, the catalogue of problem codes (issue 9): generated from the code, complete, current."""

from __future__ import annotations

from pathlib import Path

from app.core.error_catalogue import markdown, statuses
from app.core.errors import MESSAGES

COMMITTED = (Path(__file__).resolve().parent.parent / "docs" / "ERRORS.md").read_text(encoding="utf-8")


def test_every_code_is_raised_somewhere_with_a_status() -> None:
    found = statuses()
    assert set(found) == set(MESSAGES)
    assert {code for code, values in found.items() if not values} == set()
    # A few by hand, from SPEC §5 and the routes that raise them.
    assert found["scope_required"] == [403]
    assert found["idempotency_key_in_progress"] == [409]
    assert found["rate_limited"] == [429]
    assert found["database_unavailable"] == [503]
    assert found["payload_too_large"] == [413]


def test_the_committed_catalogue_is_the_generated_one() -> None:
    assert markdown() == COMMITTED, "run: .venv/bin/zwc errors --output docs/ERRORS.md"
    for code in MESSAGES:
        assert f"| `{code}` |" in COMMITTED
