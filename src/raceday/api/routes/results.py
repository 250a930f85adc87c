"""GET /api/race-results: placings and dividends once a race is interim or final."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from raceday.api.deps import Conn
from raceday.api.errors import ERROR_RESPONSES, NOT_FOUND, ApiError
from raceday.api.params import RaceIdQuery
from raceday.api.schemas.results import RaceResults
from raceday.db import queries

router = APIRouter(tags=["results"])


@router.get(
    "/race-results",
    response_model=RaceResults,
    responses={**ERROR_RESPONSES, **NOT_FOUND},
    summary="Results of a race (404 until the race has results)",
)
async def race_results(conn: Conn, race_id: RaceIdQuery) -> Any:
    row = await queries.race_results(conn, race_id)
    if row is None:
        raise ApiError(404, "Race results not found", f"No results for race {race_id!r}")
    return row
