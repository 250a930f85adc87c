"""Races, navigation between them and the upcoming window."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from raceday.api.schemas.common import MEETING_ID, RACE_ID, Cents, DataSource, Instant, RaceStatus

_RACE_EXAMPLE: dict[str, Any] = {
    "race_id": RACE_ID,
    "meeting_id": MEETING_ID,
    "meeting_name": "Awapuni Synthetic",
    "name": "PRYDA HANDICAP 1700",
    "race_number": 1,
    "start_time": "2025-07-17T00:50:00.000Z",
    "actual_start": "2025-07-17T00:52:46.000Z",
    "status": "final",
    "race_date_nz": "2025-07-17",
    "start_time_nz": "12:50:00 NZST",
    "distance": 1700,
    "track_condition": "Synthetic",
    "track_surface": "Synthetic",
    "weather": "Overcast",
    "type": "T",
    "country": "NZ",
    "entrant_count": 8,
    "field_size": 8,
    "positions_paid": 3,
    "total_prize_money": 1700000,
    "silk_url": "https://cdn.prod.pricekinetics.com/silks/sprites/cerberus/betmakers-cmFjZToxNzI4MjM0_SPRITE_64x64.png",
    "silk_base_url": "drr38safykj6s.cloudfront.net",
    "data_source": "nztab",
    "created_at": "2025-07-16T18:00:03.020Z",
    "updated_at": "2025-07-17T11:17:00.415Z",
}


class Race(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_RACE_EXAMPLE]})

    race_id: str
    meeting_id: str
    meeting_name: str
    name: str
    race_number: int
    start_time: Instant
    actual_start: Instant | None
    status: RaceStatus
    race_date_nz: dt.date | None
    start_time_nz: str | None = Field(
        description="NZ local start time as NZ TAB gives it, e.g. 12:50:00 NZST"
    )
    distance: int | None = Field(description="Metres")
    track_condition: str | None
    track_surface: str | None
    weather: str | None
    type: str | None = Field(description="NZ TAB category code: T, H or G")
    country: str | None
    entrant_count: int | None
    field_size: int | None
    positions_paid: int | None
    total_prize_money: Cents | None
    silk_url: str | None
    silk_base_url: str | None
    data_source: DataSource
    created_at: Instant | None
    updated_at: Instant | None


class NavigationRace(BaseModel):
    race_id: str
    name: str
    race_number: int
    start_time: Instant
    status: RaceStatus
    meeting_id: str
    meeting_name: str


class Navigation(BaseModel):
    """Neighbours in start-time order across all meetings (ties broken by race_id)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "previousRace": None,
                    "nextRace": {
                        "race_id": "3a89a853-30e8-42a3-8400-437846b0f79e",
                        "name": "REGENT CAR COURT HANDICAP TROT",
                        "race_number": 2,
                        "start_time": "2025-07-17T01:25:00.000Z",
                        "status": "open",
                        "meeting_id": MEETING_ID,
                        "meeting_name": "Awapuni Synthetic",
                    },
                    "nextScheduledRace": None,
                }
            ]
        }
    )

    previousRace: NavigationRace | None
    nextRace: NavigationRace | None
    nextScheduledRace: NavigationRace | None = Field(
        description="The first race still to start whose status is open, closed or interim"
    )


class UpcomingWindow(BaseModel):
    lower_bound: Instant
    upper_bound: Instant
    window_minutes: int
    lookback_minutes: int


class UpcomingRaces(BaseModel):
    races: list[Race]
    total: int = Field(description="Number of races in this response")
    timestamp: Instant
    window: UpcomingWindow
