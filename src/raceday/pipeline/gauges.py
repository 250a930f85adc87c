"""The races being polled as Prometheus gauges: those with a poll job waiting or running in the shared
queue, by the interval they are polled at now on the data clock."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import datetime

import psycopg
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from psycopg_pool import AsyncConnectionPool

from raceday.core.clock import Clock
from raceday.core.log import get_logger
from raceday.domain.schedule import poll_interval_s
from raceday.pipeline.queue import POLL_TASK

log = get_logger(__name__)

INTERVALS = (60, 30, 15)
REFRESH_TIMEOUT_S = 2.0
"""A scrape waits no longer for the database (the pool's own wait is as long): /metrics must answer
during an outage, which is when it is read most."""

# A job defers its successor before it ends, so a race can have one job running and one waiting: one
# start per race (the lock is the race id), the newest job's (a race re-timed).
TRACKED_STARTS = """
SELECT DISTINCT ON (lock) args->>'start' FROM procrastinate_jobs
WHERE task_name = %s AND status IN ('todo', 'doing')
ORDER BY lock, id DESC
"""


class TrackedRacesCollector:
    """raceday_tracked_races{interval="60s"|"30s"|"15s"}: every interval is exported, zero included.

    A collector's `collect()` is synchronous and the queue is read through the async pool, so the counts
    are read by `refresh()` just before a scrape (`Metrics.register(..., refresh=...)`); when that read
    fails the family is left out rather than exported stale."""

    def __init__(self, pool: AsyncConnectionPool, clock: Clock) -> None:
        self.pool = pool
        self.clock = clock
        self.counts: Counter[int] | None = None

    async def refresh(self) -> None:
        try:
            async with asyncio.timeout(REFRESH_TIMEOUT_S), self.pool.connection() as conn:
                cursor = await conn.execute(TRACKED_STARTS, (POLL_TASK,))
                starts = [datetime.fromisoformat(row[0]) for row in await cursor.fetchall()]
        except (psycopg.Error, TimeoutError) as error:
            log.warning("tracked races not counted", error=str(error) or type(error).__name__)
            self.counts = None
            return
        now = self.clock.now()
        self.counts = Counter(poll_interval_s((start - now).total_seconds()) for start in starts)

    def collect(self) -> Iterator[Metric]:
        if self.counts is None:
            return
        family = GaugeMetricFamily(
            "raceday_tracked_races", "Races being polled, by their polling interval now", labels=["interval"]
        )
        for interval in INTERVALS:
            family.add_metric([f"{interval}s"], self.counts.get(interval, 0))
        yield family
