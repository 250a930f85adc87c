"""GET /api/race-pools: a race's tote pool totals in integer cents, from the race cache."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from psycopg import AsyncConnection
from pydantic import TypeAdapter

from raceday.api.cache import CacheKey, answer
from raceday.api.deps import LiveDep
from raceday.api.errors import ERROR_RESPONSES, NOT_FOUND, ApiError
from raceday.api.params import RaceIdQuery
from raceday.api.schemas.pools import RacePools
from raceday.db import queries

router = APIRouter(tags=["pools"])
_POOLS = TypeAdapter(RacePools)


@router.get(
    "/race-pools",
    response_model=RacePools,
    responses={**ERROR_RESPONSES, **NOT_FOUND},
    summary="Pool totals of a race (integer cents; stored in dollars)",
)
async def race_pools(request: Request, live: LiveDep, race_id: RaceIdQuery) -> Response:
    async def load(conn: AsyncConnection[Any]) -> bytes | None:
        row = await queries.race_pools(conn, race_id)
        return None if row is None else _POOLS.dump_json(_POOLS.validate_python(row), by_alias=True)

    response = await answer(request, live.cache, CacheKey(race_id, "race-pools"), load)
    if response is None:
        raise ApiError(404, "Pool data not found", f"No pool data for race {race_id!r}")
    return response
