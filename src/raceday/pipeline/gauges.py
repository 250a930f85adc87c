"""The races being polled as Prometheus gauges: those with a poll waiting or running in the shared
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

log = get_logger(__name__)

INTERVALS = (60, 30, 15)
REFRESH_TIMEOUT_S = 2.0
"""A scrape waits no longer for the database (the pool's own wait is as long): /metrics must answer
during an outage, which is when it is read most."""

TRACKED_STARTS = "SELECT start_time FROM race_polls"


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
                cursor = await conn.execute(TRACKED_STARTS)
                starts: list[datetime] = [row[0] for row in await cursor.fetchall()]
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
