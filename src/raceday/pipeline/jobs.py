"""Daily jobs on New Zealand wall-clock time (the racing day): baseline at 06:00, partitions at 00:05."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from raceday.clock import Clock
from raceday.log import get_logger

log = get_logger(__name__)
NZ = ZoneInfo("Pacific/Auckland")


def next_nz_time(now: datetime, at: time) -> datetime:
    """The next instant strictly after `now` when NZ wall-clock time is `at` (DST-aware)."""
    local = now.astimezone(NZ)
    candidate = datetime.combine(local.date(), at, tzinfo=NZ)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=NZ)
    return candidate


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
