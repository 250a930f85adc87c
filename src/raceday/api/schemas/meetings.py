"""A meeting as GET /api/meetings returns it."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from raceday.api.schemas.common import MEETING_ID, DataSource, Instant, MeetingStatus, RaceType


class Meeting(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "meeting_id": MEETING_ID,
                    "meeting_name": "Awapuni Synthetic",
                    "country": "NZ",
                    "state": "NZ",
                    "race_type": "thoroughbred",
                    "category": "T",
                    "category_name": "Thoroughbred Horse Racing",
                    "date": "2025-07-17",
                    "status": "active",
                    "track_condition": "Synthetic",
                    "tote_status": "Open",
                    "weather": "Overcast",
                    "data_source": "nztab",
                    "created_at": "2025-07-16T18:00:02.114Z",
                    "updated_at": "2025-07-17T11:17:00.412Z",
                }
            ]
        }
    )

    meeting_id: str
    meeting_name: str
    country: str
    state: str | None
    race_type: RaceType
    category: str | None = Field(description="NZ TAB category code: T, H or G")
    category_name: str | None
    date: dt.date = Field(description="The NZ racing day")
    status: MeetingStatus
    track_condition: str | None
    tote_status: str | None
    weather: str | None = Field(description="Weather reported for the meeting's most recently updated race")
    data_source: DataSource
    created_at: Instant | None
    updated_at: Instant | None
