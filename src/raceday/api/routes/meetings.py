"""GET /api/meetings (by NZ day and race type) and GET /api/meetings/{meeting_id}."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from raceday.api.deps import Conn
from raceday.api.errors import ERROR_RESPONSES, NOT_FOUND, not_found
from raceday.api.params import MeetingIdPath
from raceday.api.schemas.common import RaceType
from raceday.api.schemas.meetings import Meeting
from raceday.db import queries

router = APIRouter(tags=["meetings"])


@router.get(
    "/meetings",
    response_model=list[Meeting],
    responses=ERROR_RESPONSES,
    summary="Meetings of an NZ racing day",
    description="Ordered by date, then name. Both filters are optional; `race_type` is accepted too.",
)
async def list_meetings(
    conn: Conn,
    day: Annotated[
        date | None, Query(alias="date", description="NZ racing day, YYYY-MM-DD", examples=["2025-07-17"])
    ] = None,
    race_type: Annotated[RaceType | None, Query(alias="raceType", examples=["thoroughbred"])] = None,
) -> Any:
    return await queries.meetings(conn, day, race_type)


@router.get(
    "/meetings/{meeting_id}",
    response_model=Meeting,
    responses={**ERROR_RESPONSES, **NOT_FOUND},
    summary="One meeting",
)
async def get_meeting(conn: Conn, meeting_id: MeetingIdPath) -> Any:
    row = await queries.meeting(conn, meeting_id)
    if row is None:
        raise not_found("Meeting", meeting_id)
    return row
