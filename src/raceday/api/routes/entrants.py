"""GET /api/entrants: a race's runners with their latest odds and money-flow history.

The body comes ready-made from PostgreSQL (queries.ENTRANTS_JSON_SQL); `Entrant` documents it.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from raceday.api.deps import Conn, SettingsDep
from raceday.api.errors import ERROR_RESPONSES, NOT_FOUND, not_found
from raceday.api.params import RaceIdQuery
from raceday.api.schemas.entrants import Entrant
from raceday.db import queries

router = APIRouter(tags=["entrants"])


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
async def list_entrants(conn: Conn, settings: SettingsDep, race_id: RaceIdQuery) -> Response:
    body = await queries.entrants_json(conn, race_id, settings.api_history_limit)
    if body is None:
        raise not_found("Race", race_id)
    return Response(body, media_type="application/json")
