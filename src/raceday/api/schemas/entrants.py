"""A race's entrants with their latest odds and money-flow rows."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from raceday.api.schemas.common import ENTRANT_ID, RACE_ID, SILKS, Cents, Instant, Odds, Percent


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
                    "silk_url": SILKS + "ruji_64x64.png",
                    "silk_url_64": SILKS + "ruji_64x64.png",
                    "silk_url_128": SILKS + "ruji_128x128.png",
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
