"""Tote pool totals of a race, in integer cents."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from raceday.api.schemas.common import RACE_ID, Cents, Instant


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
