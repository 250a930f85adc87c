"""Placings and dividends of a race."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from raceday.api.schemas.common import RACE_ID, Instant


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
