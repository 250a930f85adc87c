"""Elapsed wall time in milliseconds, as every metric and log line reports it."""

from __future__ import annotations

import time


def elapsed_ms(since: float, digits: int = 1) -> float:
    """Milliseconds since `since` (a `time.perf_counter()` reading), rounded to `digits`."""
    return round((time.perf_counter() - since) * 1000, digits)
