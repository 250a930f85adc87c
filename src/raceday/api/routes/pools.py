"""GET /api/race-pools: a race's tote pool totals in integer cents."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from raceday.api.deps import Conn
from raceday.api.errors import ERROR_RESPONSES, NOT_FOUND, ApiError
from raceday.api.params import RaceIdQuery
from raceday.api.schemas.pools import RacePools
from raceday.db import queries

router = APIRouter(tags=["pools"])


@router.get(
    "/race-pools",
    response_model=RacePools,
    responses={**ERROR_RESPONSES, **NOT_FOUND},
    summary="Pool totals of a race (integer cents; stored in dollars)",
)
async def race_pools(conn: Conn, race_id: RaceIdQuery) -> Any:
    row = await queries.race_pools(conn, race_id)
    if row is None:
        raise ApiError(404, "Pool data not found", f"No pool data for race {race_id!r}")
    return row
