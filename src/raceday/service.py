"""What runs beside the HTTP server: the pool and migrations, and the pipeline with its data source.

The API's lifespan starts a Runtime and stops it in reverse; routes reach it through `app.state`.
The data source is the real NZ TAB API when NZTAB_API_URL is set; otherwise (never in production)
the built-in simulator, served on a local port and announced as simulated.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from psycopg_pool import AsyncConnectionPool

from raceday.clock import SystemClock
from raceday.config import Settings
from raceday.db.migrate import apply_migrations
from raceday.db.pool import PoolConfig, open_pool
from raceday.log import get_logger
from raceday.nztab.client import NzTabClient
from raceday.pipeline.runner import Pipeline
from raceday.pipeline.workers import WorkerPool

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
    settings: Settings
    pool: AsyncConnectionPool
    # True when the data comes from the built-in simulator: every response says so.
    simulated: bool = False
    pipeline: Pipeline | None = None
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    @property
    def workers(self) -> WorkerPool | None:
        return self.pipeline.workers if self.pipeline else None

    async def stop(self) -> None:
        await self._stack.aclose()
        log.info("closing database pool")
        await self.pool.close()


async def start_runtime(
    settings: Settings, database_url: str, *, pipeline: bool = False, simulate: bool | None = None
) -> Runtime:
    """Migrate, open the pool and, with `pipeline`, start polling (simulator or NZ TAB)."""
    await apply_migrations(database_url)
    pool = await open_pool(database_url, PoolConfig(max=settings.db_pool_max))
    runtime = Runtime(settings=settings, pool=pool)
    if not pipeline:
        return runtime
    try:
        await _start_pipeline(runtime, simulate)
    except BaseException:
        await runtime.stop()
        raise
    return runtime


async def _start_pipeline(runtime: Runtime, simulate: bool | None) -> None:
    settings = runtime.settings
    stack = runtime._stack
    if wants_simulator(settings, simulate):
        from raceday.nztab.simulator import serve_simulator

        simulator = await stack.enter_async_context(
            serve_simulator(seed=settings.simulator_seed, speed=settings.simulator_speed)
        )
        runtime.simulated = True
        base_url: str | None = simulator.base_url
        clock = simulator.clock
        time_scale = settings.simulator_speed
        log.warning(
            "SIMULATED DATA: polling the built-in NZ TAB simulator, not the real API",
            simulator=base_url,
            seed=settings.simulator_seed,
            speed=settings.simulator_speed,
        )
    else:
        base_url, clock, time_scale = None, SystemClock(), 1.0
    client = await stack.enter_async_context(NzTabClient.from_settings(settings, base_url=base_url))
    runtime.pipeline = Pipeline(settings, runtime.pool, client, clock, time_scale=time_scale)
    stack.push_async_callback(runtime.pipeline.stop)
    await runtime.pipeline.start()
