"""The FastAPI application; its lifespan owns the pool and the migrations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from raceday import __version__
from raceday.api.routes import health
from raceday.config import Settings
from raceday.db.migrate import apply_migrations
from raceday.db.pool import PoolConfig, open_pool
from raceday.log import get_logger

log = get_logger(__name__)


def create_app(settings: Settings, database_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await apply_migrations(database_url)
        pool = await open_pool(database_url, PoolConfig(max=settings.db_pool_max))
        app.state.pool = pool
        try:
            yield
        finally:
            log.info("closing database pool")
            await pool.close()

    app = FastAPI(title="raceday", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.include_router(health.router)
    return app
