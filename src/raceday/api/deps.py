"""What a route needs, as FastAPI dependencies: the runtime it serves, its settings and clock, a connection.

Each is a coroutine: FastAPI runs a plain function on a worker thread, a thread hop per request.
A connection is taken from the pool for the route's body only (`scope="function"`) and returned before the
response is sent, so a slow client never holds one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from psycopg import AsyncConnection

from raceday.api.live import Live
from raceday.core.config import Settings
from raceday.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_live(request: Request) -> Live:
    """The app's cache and streams (started by its lifespan)."""
    live: Live = request.app.state.live
    return live


LiveDep = Annotated[Live, Depends(get_live)]


async def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


async def get_now(runtime: RuntimeDep) -> datetime:
    """The runtime's "now": the simulator's clock while it feeds raceday, so pages agree with the data."""
    return runtime.clock.now()


async def get_connection(runtime: RuntimeDep) -> AsyncIterator[AsyncConnection[Any]]:
    async with runtime.pool.connection() as conn:
        yield conn


SettingsDep = Annotated[Settings, Depends(get_settings)]
Now = Annotated[datetime, Depends(get_now)]
Conn = Annotated[AsyncConnection[Any], Depends(get_connection, scope="function")]
