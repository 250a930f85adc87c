"""Response and request models of the REST API: the field names the web client reads (domain §7).

Units are part of the contract: every amount is integer cents, percentages are 0-100, odds are decimal
odds, instants are ISO 8601 UTC ending in `Z`. The examples are the real NZ TAB sample race
(Awapuni Synthetic R1, 2025-07-17) as raceday stores it.
"""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

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


def instant(value: datetime) -> str:
    """An aware datetime as the API writes instants: ISO 8601 in UTC, milliseconds, `Z`."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
_SILKS = "https://cdn.prod.pricekinetics.com/silks/events/racing/betmakers-cmFjZToxNzI4MjM0/"


class ErrorBody(BaseModel):
    """Every error: a short title and what exactly was wrong."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"error": "Invalid query parameter", "details": "raceId is required"}]
        }
    )

    error: str
    details: str


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


class OddsPoint(BaseModel):
    odds: Odds | None
    type: str = Field(description="fixed_win, fixed_place, pool_win or pool_place", examples=["fixed_win"])
    timestamp: Instant


class MoneyFlowPoint(BaseModel):
    hold_percentage: Percent | None
    bet_percentage: Percent | None
    win_pool_amount: Cents | None
    place_pool_amount: Cents | None
    time_to_start: int | None = Field(description="Whole minutes to the start (negative after it)")
    time_interval: int | None = Field(description="Timeline bucket: 60, 55, ..., 5, 4, 3, 2, 1, 0, -1, ...")
    interval_type: str | None = Field(description="5m, 2m, 30s or live")
    timestamp: Instant


class Entrant(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "entrant_id": ENTRANT_ID,
                    "race_id": RACE_ID,
                    "name": "Ruji",
                    "runner_number": 4,
                    "barrier": 1,
                    "jockey": "Liam Kauri",
                    "trainer_name": "Suzy Gordon",
                    "silk_colours": "White, emerald green shamrock (b&f) & white cap",
                    "silk_url": _SILKS + "ruji_64x64.png",
                    "silk_url_64": _SILKS + "ruji_64x64.png",
                    "silk_url_128": _SILKS + "ruji_128x128.png",
                    "win_odds": 4.2,
                    "place_odds": 1.65,
                    "fixed_win_odds": 4.2,
                    "fixed_place_odds": 1.65,
                    "pool_win_odds": 4.8,
                    "pool_place_odds": 1.9,
                    "hold_percentage": 16.0,
                    "bet_percentage": 17.0,
                    "win_pool_percentage": 16.0,
                    "place_pool_percentage": 16.0,
                    "win_pool_amount": 146422,
                    "place_pool_amount": 62776,
                    "is_scratched": False,
                    "is_late_scratched": False,
                    "is_emergency": False,
                    "scratch_time": None,
                    "favourite": False,
                    "mover": False,
                    "created_at": "2025-07-16T18:00:03.020Z",
                    "updated_at": "2025-07-17T11:17:00.415Z",
                    "odds_history": [
                        {"odds": 4.2, "type": "fixed_win", "timestamp": "2025-07-17T00:49:45.000Z"}
                    ],
                    "money_flow_history": [
                        {
                            "hold_percentage": 16.0,
                            "bet_percentage": 17.0,
                            "win_pool_amount": 146422,
                            "place_pool_amount": 62776,
                            "time_to_start": 0,
                            "time_interval": 0,
                            "interval_type": "live",
                            "timestamp": "2025-07-17T00:49:45.000Z",
                        }
                    ],
                }
            ]
        }
    )

    entrant_id: str
    race_id: str
    name: str
    runner_number: int
    barrier: int | None
    jockey: str | None = Field(description="Jockey, or the driver in harness racing")
    trainer_name: str | None
    silk_colours: str | None
    silk_url: str | None = Field(description="The 64x64 silk image (same as silk_url_64)")
    silk_url_64: str | None
    silk_url_128: str | None
    win_odds: Odds | None = Field(description="Fixed win odds, else the legacy win_odds column")
    place_odds: Odds | None = Field(description="Fixed place odds, else the legacy place_odds column")
    fixed_win_odds: Odds | None
    fixed_place_odds: Odds | None
    pool_win_odds: Odds | None
    pool_place_odds: Odds | None
    hold_percentage: Percent | None
    bet_percentage: Percent | None
    win_pool_percentage: Percent | None
    place_pool_percentage: Percent | None
    win_pool_amount: Cents | None = Field(description="The entrant's share of the win pool, integer cents")
    place_pool_amount: Cents | None = Field(
        description="The entrant's share of the place pool, integer cents"
    )
    is_scratched: bool
    is_late_scratched: bool
    is_emergency: bool
    scratch_time: Instant | None
    favourite: bool
    mover: bool
    created_at: Instant | None
    updated_at: Instant | None
    odds_history: list[OddsPoint] = Field(
        description="The latest odds rows (API_HISTORY_LIMIT), oldest first"
    )
    money_flow_history: list[MoneyFlowPoint] = Field(
        description="The latest money-flow rows (API_HISTORY_LIMIT), oldest first"
    )


class RacePools(BaseModel):
    """Pool totals of a race, every amount in integer cents."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "race_id": RACE_ID,
                    "race_pool_id": RACE_ID,
                    "win_pool_total": 915138,
                    "place_pool_total": 392351,
                    "quinella_pool_total": 534106,
                    "trifecta_pool_total": 797624,
                    "exacta_pool_total": 0,
                    "first4_pool_total": 461792,
                    "total_race_pool": 3913672,
                    "currency": "$",
                    "data_quality_score": 95,
                    "extracted_pools": 6,
                    "last_updated": "2025-07-17T11:17:00.415Z",
                    "created_at": None,
                    "updated_at": "2025-07-17T11:17:00.415Z",
                    "is_live": False,
                }
            ]
        }
    )

    race_id: str
    race_pool_id: str = Field(description="The race's id: a race has one pools row")
    win_pool_total: Cents
    place_pool_total: Cents
    quinella_pool_total: Cents
    trifecta_pool_total: Cents
    exacta_pool_total: Cents
    first4_pool_total: Cents
    total_race_pool: Cents = Field(
        description="Every tote pool of the race (the pipeline's total), else the sum of the six named pools"
    )
    currency: str
    data_quality_score: int | None
    extracted_pools: int | None
    last_updated: Instant | None
    created_at: Instant | None = Field(default=None, description="Not recorded for pools: always null")
    updated_at: Instant | None
    is_live: bool = Field(description="True while betting is open, so the totals can still change")


class RaceResults(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "race_id": RACE_ID,
                    "results_available": True,
                    "results_data": [
                        {
                            "position": 1,
                            "name": "Frosbie",
                            "runner_number": 2,
                            "barrier": 2,
                            "margin_length": 0,
                        }
                    ],
                    "dividends_data": [
                        {"product_name": "Pool Win", "status": "Final", "dividend": 7.7, "pool_size": 9151.38}
                    ],
                    "fixed_odds_data": {"2": {"fixed_win_odds": 7.5, "fixed_place_odds": 2.3}},
                    "result_status": "final",
                    "photo_finish": False,
                    "stewards_inquiry": False,
                    "protest_lodged": False,
                    "result_time": "2025-07-17T00:58:10.000Z",
                    "created_at": "2025-07-17T00:55:01.000Z",
                    "updated_at": "2025-07-17T00:58:10.000Z",
                }
            ]
        }
    )

    race_id: str
    results_available: bool
    results_data: Any = Field(description="Placings as the pipeline stored them from NZ TAB")
    dividends_data: Any = Field(
        description="Dividends as NZ TAB reports them (dividend and pool_size in dollars)"
    )
    fixed_odds_data: Any
    result_status: Literal["interim", "final", "protest"] | None
    photo_finish: bool
    stewards_inquiry: bool
    protest_lodged: bool
    result_time: Instant | None
    created_at: Instant
    updated_at: Instant


class TimelineDocument(BaseModel):
    """The latest money-flow row of one entrant in one interval bucket."""

    id: str = Field(description="Row id; pass the response's next_cursor as cursorAfter for the next page")
    race_id: str
    entrant_id: str
    type: str | None = Field(examples=["bucketed_aggregation"])
    time_interval: int | None
    time_to_start: int | None
    interval_type: str | None
    hold_percentage: Percent | None
    bet_percentage: Percent | None
    incremental_amount: Cents | None
    incremental_win_amount: Cents | None = Field(description="Win amount added since the previous bucket")
    incremental_place_amount: Cents | None = Field(description="Place amount added since the previous bucket")
    win_pool_amount: Cents | None
    place_pool_amount: Cents | None
    total_pool_amount: Cents | None
    winPoolAmount: Cents | None = Field(description="Same as win_pool_amount (the client's older name)")
    placePoolAmount: Cents | None = Field(description="Same as place_pool_amount (the client's older name)")
    win_pool_percentage: Percent | None
    place_pool_percentage: Percent | None
    fixed_win_odds: Odds | None
    fixed_place_odds: Odds | None
    pool_win_odds: Odds | None
    pool_place_odds: Odds | None
    pool_type: str | None
    event_timestamp: Instant
    polling_timestamp: Instant
    created_at: Instant | None
    updated_at: Instant | None = Field(description="History rows are never updated: equals created_at")


class CriticalGap(BaseModel):
    entrant_id: str = Field(description="The last 8 characters of the entrant id")
    missing_intervals: list[int]


class CoverageSummary(BaseModel):
    total_documents: int
    entrants_covered: int
    intervals_covered: list[int]
    critical_period_gaps: list[CriticalGap] = Field(description="Entrants missing any of the intervals 5..0")
    coverage_report: str


class EntrantCoverage(BaseModel):
    entrant_id: str
    document_count: int
    intervals_covered: list[int]
    critical_period_coverage: list[int] = Field(description="Which of the intervals 60..0 are present")
    missing_critical_intervals: list[int]


class IntervalCoverage(BaseModel):
    summary: CoverageSummary
    entrants: list[EntrantCoverage]


class Timeline(BaseModel):
    """One page of the money-flow timeline, in (time_interval, created_at) order; coverage is of this page."""

    success: Literal[True] = True
    documents: list[TimelineDocument]
    total: int = Field(description="Documents in this page")
    race_id: str
    entrant_ids: list[str]
    pool_type: Literal["win", "place", "odds"] = Field(description="Echoed; every page carries all amounts")
    bucketed_data: bool = Field(description="Always true: the timeline serves bucketed rows only")
    interval_coverage: IntervalCoverage
    next_cursor: str | None = Field(description="The largest row id in this page (or the cursor given)")
    next_created_at: Instant | None
    has_more: bool = Field(description="True when the page is full: ask again with cursorAfter=next_cursor")
    limit: int
    created_after: Instant | None
    message: str | None = None
    query_optimizations: list[str]


class AlertIndicator(BaseModel):
    indicator_id: str
    user_id: str
    indicator_type: Literal["percentage_range"]
    percentage_range_min: Percent
    percentage_range_max: Percent | None = Field(description="null: open-ended")
    color: str = Field(pattern=r"^#[0-9A-F]{6}$", examples=["#E5E7EB"])
    is_default: bool
    enabled: bool
    display_order: int = Field(ge=1, le=6)
    audible_alerts_enabled: bool
    created_at: Instant
    updated_at: Instant


class AlertConfigs(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "Default User",
                    "indicators": [
                        {
                            "indicator_id": "2b0f1f5e-8f53-4b52-9a8e-3f8b8f1f6a11",
                            "user_id": "Default User",
                            "indicator_type": "percentage_range",
                            "percentage_range_min": 5.0,
                            "percentage_range_max": 10.0,
                            "color": "#E5E7EB",
                            "is_default": True,
                            "enabled": True,
                            "display_order": 1,
                            "audible_alerts_enabled": True,
                            "created_at": "2025-07-17T00:00:00.000Z",
                            "updated_at": "2025-07-17T00:00:00.000Z",
                        }
                    ],
                    "toggle_all": True,
                    "audible_alerts_enabled": True,
                }
            ]
        }
    )

    user_id: str
    indicators: list[AlertIndicator] = Field(description="Six indicators, by display_order")
    toggle_all: bool = Field(description="True when every indicator is enabled")
    audible_alerts_enabled: bool


class AlertConfigsSaved(AlertConfigs):
    success: Literal[True] = True


def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


UserId = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_nul)]


class IndicatorInput(BaseModel):
    """One indicator to save; snake_case and the client's camelCase names are both accepted."""

    model_config = ConfigDict(extra="ignore")

    indicator_id: UUID | None = Field(
        default=None, validation_alias=AliasChoices("indicator_id", "indicatorId", "$id")
    )
    user_id: UserId | None = Field(default=None, validation_alias=AliasChoices("user_id", "userId"))
    indicator_type: Literal["percentage_range"] = Field(
        default="percentage_range", validation_alias=AliasChoices("indicator_type", "indicatorType")
    )
    percentage_range_min: float = Field(
        ge=0, le=100, validation_alias=AliasChoices("percentage_range_min", "percentageRangeMin")
    )
    percentage_range_max: float | None = Field(
        default=None,
        ge=0,
        le=100,
        validation_alias=AliasChoices("percentage_range_max", "percentageRangeMax"),
    )
    color: str = Field(pattern=r"^#[0-9A-Fa-f]{6}$", examples=["#BFDBFE"])
    is_default: bool = Field(default=False, validation_alias=AliasChoices("is_default", "isDefault"))
    enabled: bool = True
    display_order: int = Field(ge=1, le=6, validation_alias=AliasChoices("display_order", "displayOrder"))

    @field_validator("percentage_range_min", "percentage_range_max")
    @classmethod
    def _two_decimals(cls, value: float | None) -> float | None:
        """The columns are NUMERIC(5,2): compare what will be stored."""
        return None if value is None else round(value, 2)

    @model_validator(mode="after")
    def _max_above_min(self) -> IndicatorInput:
        if self.percentage_range_max is not None and self.percentage_range_max <= self.percentage_range_min:
            raise ValueError("percentage_range_max must be greater than percentage_range_min")
        return self


class AlertConfigsInput(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "user_id": "Default User",
                    "indicators": [
                        {
                            "percentage_range_min": 10,
                            "percentage_range_max": 15,
                            "color": "#BFDBFE",
                            "is_default": False,
                            "enabled": False,
                            "display_order": 2,
                        }
                    ],
                    "audible_alerts_enabled": False,
                }
            ]
        },
    )

    user_id: UserId | None = Field(default=None, validation_alias=AliasChoices("user_id", "userId"))
    indicators: list[IndicatorInput] = Field(max_length=6)
    audible_alerts_enabled: bool | None = Field(
        default=None, validation_alias=AliasChoices("audible_alerts_enabled", "audibleAlertsEnabled")
    )

    @model_validator(mode="after")
    def _consistent(self) -> AlertConfigsInput:
        users = {i.user_id for i in self.indicators if i.user_id is not None}
        if self.user_id is not None:
            users.add(self.user_id)
        if len(users) > 1:
            raise ValueError("every indicator must have the same user_id")
        orders = [i.display_order for i in self.indicators]
        if len(set(orders)) != len(orders):
            raise ValueError("display_order values must be distinct")
        ids = [i.indicator_id for i in self.indicators if i.indicator_id is not None]
        if len(set(ids)) != len(ids):
            raise ValueError("indicator_id values must be distinct")
        return self

    def resolved_user(self, default: str) -> str:
        """The top-level user_id, else the indicators', else `default`."""
        if self.user_id is not None:
            return self.user_id
        return next((i.user_id for i in self.indicators if i.user_id is not None), default)
