"""GET /health: the Epic 1 contract, answered within 3 s whatever the database does."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Literal

import psycopg
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel

from raceday.api.deps import RuntimeDep
from raceday.core.log import get_logger
from raceday.core.nztime import iso_z

log = get_logger(__name__)
router = APIRouter()

# Under the 3 s the contract allows: the pool's own 2 s acquire timeout fires first.
CHECK_TIMEOUT_S = 2.5


class Healthy(BaseModel):
    status: Literal["healthy"] = "healthy"
    timestamp: str
    database: Literal["connected"] = "connected"
    workers: Literal["operational", "degraded"]


class Unhealthy(BaseModel):
    status: Literal["unhealthy"] = "unhealthy"
    timestamp: str
    error: str


@router.get(
    "/health",
    response_model=Healthy,
    responses={503: {"model": Unhealthy, "description": "The database did not answer"}},
)
async def health(runtime: RuntimeDep) -> JSONResponse:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            async with runtime.pool.connection() as conn:
                await conn.execute("SELECT 1")
    except (TimeoutError, PoolTimeout, psycopg.Error) as error:
        message = str(error) or f"database did not answer within {CHECK_TIMEOUT_S} s"
        log.error("Health check failed", error=message)
        body = Unhealthy(timestamp=iso_z(datetime.now(UTC)), error=message)
        return JSONResponse(body.model_dump(), status_code=503)
    healthy = runtime.workers is None or runtime.workers.healthy
    body_ok = Healthy(timestamp=iso_z(datetime.now(UTC)), workers="operational" if healthy else "degraded")
    return JSONResponse(body_ok.model_dump())
