"""A limit in words, for the 429 problem: "100 requests in a minute", "每分钟最多可发送 100 次请求".

`limits` writes a limit as "100 per 1 minute", which reads as code, not as a sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

from limits import RateLimitItem

# granularity → (English for one of it, English plural, Chinese for one of it, Chinese unit after a number)
_PERIODS = {
    "second": ("a second", "seconds", "每秒", "秒"),
    "minute": ("a minute", "minutes", "每分钟", "分钟"),
    "hour": ("an hour", "hours", "每小时", "小时"),
    "day": ("a day", "days", "每天", "天"),
    "month": ("a month", "months", "每月", "个月"),
    "year": ("a year", "years", "每年", "年"),
}


@dataclass(frozen=True)
class RefusalWords:
    """The parameters of the ``rate_limited`` texts (app/core/errors.py) but ``retry_after``."""

    requests: str  # "100 requests"
    period: str  # "in a minute", "in 10 minutes"
    wait: str  # "7 seconds"
    amount: int  # 100
    period_zh: str  # "每分钟", "每 10 分钟"


def refusal_words(limit: RateLimitItem, retry_after: int) -> RefusalWords:
    """The words of the ``rate_limited`` texts for a request refused by ``limit``."""
    one, many, one_zh, unit_zh = _PERIODS[limit.GRANULARITY.name]
    multiples = limit.multiples
    return RefusalWords(
        requests=f"{limit.amount} request" if limit.amount == 1 else f"{limit.amount} requests",
        period=f"in {one}" if multiples == 1 else f"in {multiples} {many}",
        wait="1 second" if retry_after == 1 else f"{retry_after} seconds",
        amount=limit.amount,
        period_zh=one_zh if multiples == 1 else f"每 {multiples} {unit_zh}",
    )
