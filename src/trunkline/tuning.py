"""Process-wide tuning for a long-running trunkline (``serve``) and its benchmarks."""

from __future__ import annotations

import gc

#: Allocations between young-generation collections. CPython's default (700) makes a
#: busy call server spend about a fifth of its time in the cycle collector; calls
#: allocate many short-lived objects, most freed by reference counting anyway.
GC_GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Collect less often: measured 1,125 -> 1,364 IVR calls/s in bench/ivr.py."""
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, max(gen1, 20), max(gen2, 20))
