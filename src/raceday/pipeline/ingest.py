"""The pipeline as one unit: workers, processor, scheduler and daily jobs, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import time
from typing import Protocol

import stamina
from psycopg_pool import AsyncConnectionPool

from raceday.core.clock import Clock
from raceday.core.config import Settings
from raceday.core.log import get_logger
from raceday.core.metrics import Metrics
from raceday.db.partitions import PartitionKeeper
from raceday.pipeline.baseline import BaselineSummary, MeetingSource, rediscover, run_baseline
from raceday.pipeline.gauges import TrackedRacesCollector
from raceday.pipeline.jobs import run_daily
from raceday.pipeline.maintenance import archive_partitions, maintain_partitions
from raceday.pipeline.processor import EventSource, RaceProcessor
from raceday.pipeline.recorder import MeetingsRecorder
from raceday.pipeline.scheduler import Scheduler
from raceday.pipeline.workers import WorkerPool

log = get_logger(__name__)

BASELINE_AT = time(6, 0)
PARTITIONS_AT = time(0, 5)
# After the partitions job has detached the expired days: archive, verify and drop them.
ARCHIVE_AT = time(0, 15)
# The meetings list is re-read this often (data time) to follow races added or changed after 06:00.
REDISCOVER_EVERY_S = 300.0
BASELINE_RETRY_INITIAL_S = 1.0
BASELINE_RETRY_MAX_S = 300.0


class Source(MeetingSource, EventSource, Protocol):
    """The NZ TAB client's surface the pipeline uses."""


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        pool: AsyncConnectionPool,
        source: Source,
        clock: Clock,
        *,
        time_scale: float = 1.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics(process=False)
        self.pool = pool
        self.source = source
        self.clock = clock
        self.time_scale = time_scale
        self.workers = WorkerPool(settings.max_worker_threads)
        self.partitions = PartitionKeeper()
        self.processor = RaceProcessor(
            source, self.workers, pool, clock, self.partitions, metrics=self.metrics
        )
        self.scheduler = Scheduler(
            self.processor.process,
            clock,
            concurrency=settings.poll_concurrency,
            time_scale=time_scale,
            metrics=self.metrics,
        )
        self.metrics.register(TrackedRacesCollector(self.scheduler))
        self.record_response = MeetingsRecorder(pool, clock, self.partitions)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._baseline_lock = asyncio.Lock()

    async def baseline(self) -> BaselineSummary:
        """One daily baseline at a time: a second request waits for the first and runs after it."""
        async with self._baseline_lock:
            return await run_baseline(
                self.source,
                self.processor,
                self.scheduler,
                self.pool,
                self.clock,
                countries=self.settings.tracked_countries,
                categories=self.settings.tracked_categories,
                stop=self._stop,
            )

    async def baseline_until_done(self) -> BaselineSummary:
        """The baseline, retried with back-off (capped at 5 minutes) until it succeeds or raceday stops."""
        async for attempt in stamina.retry_context(
            on=Exception,
            attempts=None,
            timeout=None,
            wait_initial=BASELINE_RETRY_INITIAL_S,
            wait_max=BASELINE_RETRY_MAX_S,
        ):
            with attempt:
                try:
                    return await self.baseline()
                except Exception as error:
                    log.warning("daily baseline failed; retrying", attempt=attempt.num, error=str(error))
                    raise
        raise AssertionError("unreachable: the baseline is retried until it succeeds")

    async def rediscover(self) -> list[str]:
        return await rediscover(
            self.source,
            self.scheduler,
            self.pool,
            self.clock,
            countries=self.settings.tracked_countries,
            categories=self.settings.tracked_categories,
        )

    async def _rediscover_every(self, interval_s: float) -> None:
        """Re-read the meetings list every `interval_s` of data time, after the baseline has run."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=interval_s / self.time_scale)
                return
            try:
                await self.rediscover()
            except Exception as error:
                log.warning("meetings re-read failed; next one in due course", error=str(error))

    async def maintain_partitions(self) -> None:
        await maintain_partitions(self.pool, self.partitions, self.settings.retention_days)

    async def archive_partitions(self) -> None:
        await archive_partitions(
            self.pool, self.partitions, self.settings.archive_path, self.settings.retention_days
        )

    async def _discover(self) -> None:
        await self.baseline_until_done()
        await self._rediscover_every(REDISCOVER_EVERY_S)

    async def start(self) -> None:
        await self.workers.warm_up()
        await self.maintain_partitions()
        scale = self.time_scale
        self._tasks = [
            asyncio.create_task(self.scheduler.run(self._stop), name="scheduler"),
            asyncio.create_task(self._discover(), name="baseline and re-reads"),
            asyncio.create_task(
                run_daily(
                    "baseline",
                    BASELINE_AT,
                    self.baseline_until_done,
                    self.clock,
                    self._stop,
                    time_scale=scale,
                ),
                name="daily baseline",
            ),
            asyncio.create_task(
                run_daily(
                    "partitions",
                    PARTITIONS_AT,
                    self.maintain_partitions,
                    self.clock,
                    self._stop,
                    time_scale=scale,
                ),
                name="daily partitions",
            ),
            asyncio.create_task(
                run_daily(
                    "archive", ARCHIVE_AT, self.archive_partitions, self.clock, self._stop, time_scale=scale
                ),
                name="daily archive",
            ),
        ]
        log.info(
            "pipeline started",
            workers=self.workers.size,
            concurrency=self.settings.poll_concurrency,
            countries=sorted(self.settings.tracked_countries),
            categories=sorted(self.settings.tracked_categories),
        )

    async def stop(self, grace_s: float = 5.0) -> None:
        """Let in-flight polls finish (up to `grace_s`; queued ones, the baseline's included, are not
        started), then cancel what is left; the workers are shut down off the event loop."""
        self._stop.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.to_thread(self.workers.close)
        log.info("pipeline stopped")
