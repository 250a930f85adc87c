"""The money-flow timeline: one row per entrant and bucket, paged by id."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from raceday.api.schemas.common import Cents, Instant, Odds, Percent


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
    next_cursor: str | None = Field(
        description="While has_more: the largest row id in this page, to pass as cursorAfter; else null"
    )
    next_created_at: Instant | None
    has_more: bool = Field(description="True when the page is full: ask again with cursorAfter=next_cursor")
    limit: int
    created_after: Instant | None
    message: str | None = None
    query_optimizations: list[str]
