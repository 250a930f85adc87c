"""Races: a meeting's races, one race, its neighbours, the upcoming window and the next scheduled race."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from raceday.api.deps import Conn, Now
from raceday.api.errors import ERROR_RESPONSES, NOT_FOUND, not_found
from raceday.api.params import MeetingIdQuery, RaceIdPath, RaceIdQuery, clamp
from raceday.api.schemas.races import Navigation, Race, UpcomingRaces
from raceday.core.nztime import iso_z
from raceday.db import queries

router = APIRouter(tags=["races"])


@router.get(
    "/races",
    response_model=list[Race],
    responses={**ERROR_RESPONSES, **NOT_FOUND},
    summary="A meeting's races, by race number",
)
async def list_races(conn: Conn, meeting_id: MeetingIdQuery) -> Any:
    rows = await queries.races_of_meeting(conn, meeting_id)
    if rows is None:
        raise not_found("Meeting", meeting_id)
    return rows


@router.get(
    "/races/upcoming",
    response_model=UpcomingRaces,
    responses=ERROR_RESPONSES,
    summary="Unsettled races starting in (now - lookback, now + window]",
    description="Out-of-range values are clamped: windowMinutes 0-480, lookbackMinutes 0-120, limit 1-100.",
)
async def upcoming_races(
    conn: Conn,
    now: Now,
    window_minutes: Annotated[int, Query(alias="windowMinutes", examples=[120])] = 120,
    lookback_minutes: Annotated[int, Query(alias="lookbackMinutes", examples=[5])] = 5,
    limit: Annotated[int, Query(examples=[50])] = 50,
) -> Any:
    window_minutes = clamp(window_minutes, 0, 480)
    lookback_minutes = clamp(lookback_minutes, 0, 120)
    lower = now - timedelta(minutes=lookback_minutes)
    upper = now + timedelta(minutes=window_minutes)
    races = await queries.upcoming_races(conn, lower, upper, clamp(limit, 1, 100))
    return {
        "races": races,
        "total": len(races),
        "timestamp": iso_z(now),
        "window": {
            "lower_bound": iso_z(lower),
            "upper_bound": iso_z(upper),
            "window_minutes": window_minutes,
            "lookback_minutes": lookback_minutes,
        },
    }


@router.get(
    "/races/next-scheduled",
    response_model=Race | None,
    responses=ERROR_RESPONSES,
    summary="The first race still to start whose status is open, closed or interim (or null)",
)
async def next_scheduled_race(conn: Conn, now: Now) -> Any:
    return await queries.next_scheduled_race(conn, now)


@router.get(
    "/races/navigation",
    response_model=Navigation,
    responses={**ERROR_RESPONSES, **NOT_FOUND},
    summary="Previous, next and next scheduled race",
)
async def race_navigation(conn: Conn, now: Now, race_id: RaceIdQuery) -> Any:
    found = await queries.navigation(conn, race_id, now)
    if found is None:
        raise not_found("Race", race_id)
    return {
        "previousRace": found["previous"],
        "nextRace": found["next"],
        "nextScheduledRace": found["next_scheduled"],
    }


@router.get(
    "/races/{race_id}",
    response_model=Race,
    responses={**ERROR_RESPONSES, **NOT_FOUND},
    summary="One race",
)
async def get_race(conn: Conn, race_id: RaceIdPath) -> Any:
    row = await queries.race(conn, race_id)
    if row is None:
        raise not_found("Race", race_id)
    return row
