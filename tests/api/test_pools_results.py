"""GET /api/race-pools (dollars stored, integer cents served) and GET /api/race-results."""

from __future__ import annotations

import pytest

from raceday.api.schemas.pools import RacePools
from raceday.api.schemas.results import RaceResults
from tests.api.seeding import Seeded
from tests.serving import Api

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.mark.parametrize("name", ["raceId", "race_id"])
async def test_pools_are_integer_cents(api: Api, seeded: Seeded, name: str) -> None:
    response = await api.client.get("/api/race-pools", params={name: seeded.race_id})
    pools = RacePools.model_validate(response.json())
    assert (pools.win_pool_total, pools.place_pool_total) == (915138, 392351)
    assert (pools.quinella_pool_total, pools.trifecta_pool_total) == (534106, 797624)
    assert (pools.exacta_pool_total, pools.first4_pool_total) == (0, 461792)
    assert pools.total_race_pool == 3913672
    assert (pools.extracted_pools, pools.data_quality_score, pools.currency) == (6, 95, "$")
    assert pools.is_live is False
    assert pools.race_pool_id == seeded.race_id
    assert all(isinstance(v, int) for k, v in response.json().items() if k.endswith("_pool_total"))


async def test_pools_not_found(api: Api, seeded: Seeded) -> None:
    response = await api.client.get("/api/race-pools", params={"raceId": seeded.upcoming["soon"]})
    assert response.status_code == 404
    assert response.json()["error"] == "Pool data not found"
    assert (await api.client.get("/api/race-pools")).status_code == 400


async def test_results_are_parsed_json(api: Api, seeded: Seeded) -> None:
    response = await api.client.get("/api/race-results", params={"raceId": seeded.race_id})
    results = RaceResults.model_validate(response.json())
    assert results.results_available is True
    assert results.result_status == "final"
    assert [r["name"] for r in results.results_data[:2]] == ["Frosbie", "Ruji"]
    assert {d["product_name"] for d in results.dividends_data} >= {"Pool Win", "Pool Place"}
    assert results.fixed_odds_data is None
    assert results.result_time == "2025-07-17T00:58:00.000Z"


async def test_results_not_found(api: Api, seeded: Seeded) -> None:
    response = await api.client.get("/api/race-results", params={"race_id": seeded.upcoming["soon"]})
    assert response.status_code == 404
    assert response.json()["error"] == "Race results not found"
