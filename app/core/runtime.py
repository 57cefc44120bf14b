"""Process-wide settings of a serving process.

CPython's cyclic garbage collector runs its youngest generation every 700 net allocations. A request
allocates thousands of short-lived objects (ORM rows, pydantic models, dicts), so collections, and the
full ones that walk every object the process holds, land in the middle of requests: a third of the
p99 latency measured with wrk (bench/perf.py, docs/PERFORMANCE.md). Raising the thresholds makes
collections rarer, and freezing what start-up created (modules, the app, its routes and schemas) keeps
the full collections from walking it again and again. Reference counting still frees almost everything
at once; only cycles wait longer.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 50, 100)


def tune_garbage_collector() -> None:
    gc.set_threshold(*THRESHOLDS)
    gc.freeze()
