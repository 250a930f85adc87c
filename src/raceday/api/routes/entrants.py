"""GET /api/entrants: a race's runners with their latest odds and money-flow history.

The body comes ready-made from PostgreSQL (queries.ENTRANTS_JSON_SQL), kept in the race cache with its
gzip; `Entrant` documents it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from psycopg import AsyncConnection

from raceday.api.cache import CacheKey, Entry, Load, answer
from raceday.api.deps import LiveDep, SettingsDep
from raceday.api.errors import ERROR_RESPONSES, NOT_FOUND, not_found
from raceday.api.live import Live
from raceday.api.params import RaceIdQuery
from raceday.api.schemas.entrants import Entrant
from raceday.db import queries

router = APIRouter(tags=["entrants"])


def _load(race_id: str, history_limit: int) -> Load:
    async def load(conn: AsyncConnection[Any]) -> bytes | None:
        body = await queries.entrants_json(conn, race_id, history_limit)
        return None if body is None else body.encode()

    return load


async def runners_entry(live: Live, race_id: str) -> Entry | None:
    """The race's entrants without history (the same query with no history rows: a fraction of the cost),
    current as of the call; None for an unknown race. What the race's stream sends."""
    return await live.cache.get(CacheKey(race_id, "entrants", "no history"), _load(race_id, 0))


@router.get(
    "/entrants",
    response_model=list[Entrant],
    responses={**ERROR_RESPONSES, **NOT_FOUND},
    summary="A race's entrants by runner number, with history",
    description=(
        "Each entrant carries its latest API_HISTORY_LIMIT (default 50) odds_history and money_flow_history "
        "rows, oldest first. Amounts are integer cents."
    ),
)
async def list_entrants(
    request: Request, live: LiveDep, settings: SettingsDep, race_id: RaceIdQuery
) -> Response:
    key = CacheKey(race_id, "entrants")
    response = await answer(request, live.cache, key, _load(race_id, settings.api_history_limit))
    if response is None:
        raise not_found("Race", race_id)
    return response
