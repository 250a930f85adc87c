"""What the HTTP app is handed: the pool and, with ingestion on, the poll workers and their data source.

`open_runtime` migrates, opens the pool and (for `raceday run`) starts the poll worker processes, which
take the races' due polls from the shared queue as `raceday worker` does; leaving it stops everything in
reverse. The data source is the real NZ TAB API when NZTAB_API_URL is set; otherwise (never in
production) the built-in simulator, served on a local port and announced as simulated.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from psycopg_pool import AsyncConnectionPool

from raceday.core.clock import Clock, ScaledClock, SystemClock
from raceday.core.config import Settings
from raceday.core.log import get_logger
from raceday.core.metrics import Metrics
from raceday.db.migrate import apply_migrations
from raceday.db.pool import PoolConfig, open_pool
from raceday.db.pool_metrics import observed_pool
from raceday.pipeline.gauges import TrackedRacesCollector
from raceday.pipeline.poll_workers import DataClock, PollWorkers, WorkerSpec, running_workers
from raceday.simulator import Simulator, serve_simulator

log = get_logger(__name__)


class ConfigurationError(RuntimeError):
    """The settings ask for something this run cannot do (e.g. the simulator in production)."""


def wants_simulator(settings: Settings, simulate: bool | None) -> bool:
    """`--simulate` forces the simulator; without it, the simulator stands in for an unset NZ TAB URL."""
    if simulate and settings.is_production:
        raise ConfigurationError("the simulator is not available with NODE_ENV=production")
    if simulate is False and settings.nztab_api_url is None:
        raise ConfigurationError("--no-simulate needs NZTAB_API_URL")
    if simulate is not None:
        return simulate
    if settings.nztab_api_url is None:
        if settings.is_production:
            raise ConfigurationError("NZTAB_API_URL is required when NODE_ENV=production")
        return True
    return False


@dataclass
class Runtime:
    """The running service's parts, as the API reads them."""

    settings: Settings
    pool: AsyncConnectionPool
    clock: Clock = field(default_factory=SystemClock)
    """The time the data runs on: the simulator's clock while it feeds raceday, else the wall clock."""
    simulated: bool = False
    """True when the data comes from the built-in simulator: every response says so."""
    workers: PollWorkers | None = None
    simulator: Simulator | None = None
    """The built-in simulator while it feeds raceday (its faults and request log: tests, demos)."""
    metrics: Metrics = field(default_factory=Metrics)
    """This service's Prometheus series (`/metrics`): its own registry, shared with no other runtime; with
    ingestion on, the poll families are its workers', read from their files in a directory of its own."""


async def _close_pool(pool: AsyncConnectionPool) -> None:
    log.info("closing database pool")
    await pool.close()


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings, database_url: str, *, ingest: bool = False, simulate: bool | None = None
) -> AsyncIterator[Runtime]:
    """Migrate, open the pool and, with `ingest`, poll (simulator or NZ TAB) until the block ends."""
    await apply_migrations(database_url)
    async with contextlib.AsyncExitStack() as stack:
        pool = await open_pool(database_url, PoolConfig(max=settings.db_pool_max))
        stack.push_async_callback(_close_pool, pool)
        runtime = Runtime(settings=settings, pool=pool)
        await stack.enter_async_context(observed_pool(pool, runtime.metrics))
        if ingest:
            await _start_polling(runtime, stack, database_url, simulate)
        yield runtime


async def _start_polling(
    runtime: Runtime, stack: contextlib.AsyncExitStack, database_url: str, simulate: bool | None
) -> None:
    settings = runtime.settings
    base_url: str | None = None
    data_clock: DataClock | None = None
    if wants_simulator(settings, simulate):
        clock = ScaledClock(speed=settings.simulator_speed)
        simulator = await stack.enter_async_context(
            serve_simulator(seed=settings.simulator_seed, speed=settings.simulator_speed, clock=clock)
        )
        runtime.simulated = True
        runtime.simulator = simulator
        runtime.clock = clock
        base_url = simulator.base_url
        data_clock = DataClock.of(clock)
        log.warning(
            "SIMULATED DATA: polling the built-in NZ TAB simulator, not the real API",
            simulator=base_url,
            seed=settings.simulator_seed,
            speed=settings.simulator_speed,
        )
    tracked = TrackedRacesCollector(runtime.pool, runtime.clock)
    runtime.metrics.register(tracked, refresh=tracked.refresh)
    stack.callback(runtime.metrics.unregister, tracked)
    # The workers' series, in files of this runtime's own (removed after the workers have stopped).
    metrics_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="raceday-metrics-"))
    runtime.metrics.export_workers(metrics_dir)
    spec = WorkerSpec(
        database_url, base_url, settings.poll_concurrency, data_clock, settings, metrics_dir=metrics_dir
    )
    runtime.workers = await stack.enter_async_context(running_workers(spec, settings.max_worker_threads))
