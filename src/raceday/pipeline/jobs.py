"""Daily jobs on New Zealand wall-clock time (the racing day): baseline at 06:00, partitions at 00:05."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import time

from raceday.core.clock import Clock
from raceday.core.log import get_logger
from raceday.core.nztime import next_nz_time

log = get_logger(__name__)


async def run_daily(
    name: str,
    at: time,
    job: Callable[[], Awaitable[object]],
    clock: Clock,
    stop: asyncio.Event,
    *,
    time_scale: float = 1.0,
) -> None:
    """Run `job` every day at NZ time `at` until `stop`; a failing run is logged, not fatal."""
    while not stop.is_set():
        due = next_nz_time(clock.now(), at)
        wait = (due - clock.now()).total_seconds() / time_scale
        try:
            await asyncio.wait_for(stop.wait(), timeout=max(wait, 0.0))
            return
        except TimeoutError:
            pass
        try:
            await job()
        except Exception:
            log.exception("daily job failed", job=name)
