"""The FastAPI application; its lifespan starts and stops the service's Runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from raceday import __version__
from raceday.api.routes import health
from raceday.config import Settings
from raceday.service import start_runtime


def create_app(
    settings: Settings, database_url: str, *, pipeline: bool = False, simulate: bool | None = None
) -> FastAPI:
    """The service's app; `pipeline` also starts polling (`raceday run`), tests mostly serve only."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await start_runtime(settings, database_url, pipeline=pipeline, simulate=simulate)
        app.state.runtime = runtime
        app.state.pool = runtime.pool
        app.state.workers = runtime.workers
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title="raceday", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.include_router(health.router)
    return app
