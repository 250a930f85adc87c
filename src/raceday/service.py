"""What runs beside the HTTP server: the pool and migrations (and, later, the pipeline).

The API's lifespan starts a Runtime and stops it in reverse; routes reach it through `app.state`.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from raceday.config import Settings
from raceday.db.migrate import apply_migrations
from raceday.db.pool import PoolConfig, open_pool
from raceday.log import get_logger

log = get_logger(__name__)


@dataclass
class Runtime:
    settings: Settings
    pool: AsyncConnectionPool
    # True when the data comes from the built-in simulator: every response says so.
    simulated: bool = False

    async def stop(self) -> None:
        log.info("closing database pool")
        await self.pool.close()


async def start_runtime(settings: Settings, database_url: str) -> Runtime:
    await apply_migrations(database_url)
    pool = await open_pool(database_url, PoolConfig(max=settings.db_pool_max))
    return Runtime(settings=settings, pool=pool)
