"""The bounds of an indicator's values (SPEC §6.1): defaults, the check, and how they read in both languages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.core.errors import Unprocessable
from app.core.issues import issue

BOUND_ISSUES: dict[str, tuple[str, str]] = {
    "out_of_range": ("{value} is out of range: it must be {bounds}", "{value} 超出取值范围：应{bounds_zh}"),
}


def number_text(number: float) -> str:
    """A number as people write it: 100 (not 100.0), 0.5, -3.2, 1000000 (not 1e+06)."""
    if float(number).is_integer() and abs(number) < 1e15:
        return str(int(number))
    return format(Decimal(repr(float(number))).normalize(), "f")


def default_bounds(value_type: str) -> tuple[float | None, float | None]:
    """The bounds of an indicator defined through the API without them: a percentage 0–100, any other number
    at least 0, a boolean none."""
    if value_type == "boolean":
        return None, None
    return 0.0, (100.0 if value_type == "percent" else None)


def bounds_text(minimum: float | None, maximum: float | None) -> tuple[str, str]:
    """The bounds in words, English and Chinese: "between 0 and 100" / "在 0 到 100 之间"."""
    if minimum is not None and maximum is not None:
        return (f"between {number_text(minimum)} and {number_text(maximum)}",
                f"在 {number_text(minimum)} 到 {number_text(maximum)} 之间")
    if minimum is not None:
        return f"at least {number_text(minimum)}", f"不小于 {number_text(minimum)}"
    if maximum is not None:
        return f"at most {number_text(maximum)}", f"不大于 {number_text(maximum)}"
    return "any number", "为任意数值"


def within_bounds(value: float, minimum: float | None, maximum: float | None) -> bool:
    return (minimum is None or value >= minimum) and (maximum is None or value <= maximum)


def out_of_range(loc: list[str | int], value: float, minimum: float | None, maximum: float | None
                 ) -> dict[str, Any]:
    """The issue of a value outside the bounds, naming them."""
    english, chinese = bounds_text(minimum, maximum)
    return issue(loc, "out_of_range", BOUND_ISSUES, value=number_text(value), bounds=english, bounds_zh=chinese)


def refused(issues: list[dict[str, Any]]) -> Unprocessable:
    """The 422 of refused fields: `out_of_range` when values outside their bounds are all that is wrong (the
    client's one fix is the value), else `validation_failed`; `errors` lists every issue either way."""
    if issues and all(found["type"] == "out_of_range" for found in issues):
        return Unprocessable("out_of_range", errors=issues)
    return Unprocessable(errors=issues)
