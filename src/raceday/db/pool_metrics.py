"""The connection pool, seen from outside: gauges read at scrape time, and a log line every 5 minutes
(a warning when it is nearly exhausted, before requests start timing out)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from psycopg_pool import AsyncConnectionPool

from raceday.core.log import get_logger
from raceday.core.metrics import Metrics

log = get_logger(__name__)

LOG_EVERY_S = 300.0
WARN_AT = 0.9


@dataclass(frozen=True)
class PoolUsage:
    max: int
    in_use: int
    idle: int
    waiting: int
    request_errors: int

    @property
    def use(self) -> float:
        """Connections in use as a share of the pool's maximum."""
        return self.in_use / self.max if self.max else 0.0


def pool_usage(pool: AsyncConnectionPool) -> PoolUsage:
    stats = pool.get_stats()
    size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
    return PoolUsage(
        max=stats.get("pool_max", pool.max_size),
        in_use=max(size - idle, 0),
        idle=idle,
        waiting=stats.get("requests_waiting", 0),
        request_errors=stats.get("requests_errors", 0),
    )


class PoolCollector:
    """raceday_db_pool_* for one pool, read when Prometheus scrapes."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    def collect(self) -> Iterator[Metric]:
        usage = pool_usage(self.pool)
        connections = GaugeMetricFamily(
            "raceday_db_pool_connections", "Pool connections by state", labels=["state"]
        )
        connections.add_metric(["in_use"], usage.in_use)
        connections.add_metric(["idle"], usage.idle)
        yield connections
        yield GaugeMetricFamily(
            "raceday_db_pool_waiting", "Requests waiting for a connection", value=usage.waiting
        )
        yield GaugeMetricFamily(
            "raceday_db_pool_max", "The pool's maximum size (DB_POOL_MAX)", value=usage.max
        )
        yield CounterMetricFamily(
            "raceday_db_pool_request_errors",
            "Requests that got no connection (timed out, or the pool was closing)",
            value=usage.request_errors,
        )


def log_pool_usage(pool: AsyncConnectionPool) -> PoolUsage:
    usage = pool_usage(pool)
    fields = {"max": usage.max, "in_use": usage.in_use, "idle": usage.idle, "waiting": usage.waiting}
    if usage.use >= WARN_AT:
        log.warning("database pool nearly exhausted", use_pct=round(usage.use * 100), **fields)
    else:
        log.info("database pool", use_pct=round(usage.use * 100), **fields)
    return usage


async def watch_pool(pool: AsyncConnectionPool, every_s: float = LOG_EVERY_S) -> None:
    """Log the pool's use every `every_s` until cancelled."""
    while True:
        await asyncio.sleep(every_s)
        log_pool_usage(pool)


@contextlib.asynccontextmanager
async def observed_pool(
    pool: AsyncConnectionPool, metrics: Metrics, every_s: float = LOG_EVERY_S
) -> AsyncIterator[None]:
    """The pool's gauges in `metrics` and its log line every `every_s`, for as long as the block runs."""
    collector = PoolCollector(pool)
    metrics.register(collector)
    watcher = asyncio.create_task(watch_pool(pool, every_s), name="pool watch")
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        metrics.unregister(collector)
