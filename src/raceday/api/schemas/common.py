"""What every resource shares: units, statuses, error bodies; examples are the real sample race."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Instant = Annotated[
    str,
    Field(
        json_schema_extra={"format": "date-time"},
        description="ISO 8601 instant in UTC, ending in Z",
        examples=["2025-07-17T00:50:00.000Z"],
    ),
]
Cents = Annotated[int, Field(description="Integer cents (NZ$ 1.00 = 100)")]
Percent = Annotated[float, Field(description="Percentage, 0-100")]
Odds = Annotated[float, Field(description="Decimal odds (a $1 bet returns this many dollars)")]


RaceStatus = Literal["open", "closed", "interim", "final", "abandoned"]
MeetingStatus = Literal["active", "completed", "cancelled"]
RaceType = Literal["thoroughbred", "harness", "greyhound"]
DataSource = Annotated[
    Literal["nztab", "simulator"],
    Field(description="Where the data came from; `simulator` data is also flagged by X-Raceday-Simulated"),
]

MEETING_ID = "e9f2039d-d489-4a7d-aae1-d66225f1a5f4"
RACE_ID = "0f57e087-00d9-4c61-9549-835abe2ae2ed"
ENTRANT_ID = "7346bd2c-c03d-41c3-bcb9-2b085c4e72cd"
SILKS = "https://cdn.prod.pricekinetics.com/silks/events/racing/betmakers-cmFjZToxNzI4MjM0/"


class ErrorBody(BaseModel):
    """Every error: a short title and what exactly was wrong."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"error": "Invalid query parameter", "details": "raceId is required"}]
        }
    )

    error: str
    details: str
