"""Placings and dividends of a race, with NZ TAB's numbers as JSON numbers (the client calls .toFixed)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from raceday.api.schemas.common import ENTRANT_ID, RACE_ID, Instant, Odds

# An integer where NZ TAB sends one (margin 0, jackpot 0), else a float; never a numeric string.
Number = Annotated[int | float, Field(description="A JSON number, as NZ TAB sends it")]
Dollars = Annotated[int | float, Field(description="Dollars, as NZ TAB sends them (a JSON number)")]


class Placing(BaseModel):
    """A finisher as NZ TAB reports it; fields NZ TAB adds later are passed through."""

    model_config = ConfigDict(extra="allow")

    position: int
    name: str
    runner_number: int
    entrant_id: str | None = None
    barrier: int | str | None = None
    margin_length: Number | None = Field(default=None, description="Lengths behind the winner")
    positional_margin: str | None = Field(default=None, examples=["LG NK"])
    winning_time: Number | None = Field(default=None, description="Seconds (the winner only)")
    time_ran: Number | None = Field(default=None, description="Seconds (the winner only)")


class DividendPosition(BaseModel):
    runner_number: int
    position: int


class Dividend(BaseModel):
    """One tote dividend (Pool Place once per placed runner); fields NZ TAB adds are passed through."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    product_name: str = Field(examples=["Pool Win"])
    status: str = Field(description="Interim or Final", examples=["Final"])
    dividend: Dollars = Field(description="Dollars paid per $1 unit (a JSON number)")
    tote: str | None = None
    pool_size: Dollars | None = None
    jackpot_size: Dollars | None = None
    positions: list[DividendPosition] = Field(default_factory=list)
    description: str | None = Field(default=None, description="The selection, e.g. 2:4", examples=["2:4"])


class FixedOdds(BaseModel):
    """A runner's last fixed odds before the result, under the client's names and the legacy ones."""

    model_config = ConfigDict(extra="allow")

    fixed_win_odds: Odds | None = None
    fixed_place_odds: Odds | None = None
    fixed_win: Odds | None = Field(default=None, description="Same as fixed_win_odds (the legacy name)")
    fixed_place: Odds | None = Field(default=None, description="Same as fixed_place_odds (the legacy name)")
    runner_name: str | None = None
    entrant_id: str | None = None


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
                            "entrant_id": "a8cc87d4-5a53-47b2-bb26-58d555aac7c0",
                            "barrier": 2,
                            "margin_length": 0,
                            "positional_margin": None,
                            "winning_time": 106.73,
                            "time_ran": 106.73,
                        }
                    ],
                    "dividends_data": [
                        {
                            "id": "6705b095-7ed7-56e6-8452-6fd61e9c469b",
                            "product_name": "Pool Quinella",
                            "status": "Final",
                            "dividend": 13.7,
                            "tote": "NZ",
                            "pool_size": 5341.06,
                            "jackpot_size": 0,
                            "positions": [
                                {"runner_number": 2, "position": 1},
                                {"runner_number": 4, "position": 2},
                            ],
                            "description": "2:4",
                        }
                    ],
                    "fixed_odds_data": {
                        "4": {
                            "fixed_win_odds": 4.2,
                            "fixed_place_odds": 1.65,
                            "fixed_win": 4.2,
                            "fixed_place": 1.65,
                            "runner_name": "Ruji",
                            "entrant_id": ENTRANT_ID,
                        }
                    },
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
    results_data: list[Placing] | None = Field(description="Placings in finishing order")
    dividends_data: list[Dividend] | None = Field(
        description="Dividends as NZ TAB reports them: dividend, pool_size and jackpot_size in dollars"
    )
    fixed_odds_data: dict[str, FixedOdds] | None = Field(description="By runner number (as a string)")
    result_status: Literal["interim", "final", "protest"] | None
    photo_finish: bool
    stewards_inquiry: bool
    protest_lodged: bool
    result_time: Instant | None
    created_at: Instant
    updated_at: Instant
