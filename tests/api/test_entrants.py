"""GET /api/entrants: the client's entrant fields, amounts in cents, and the latest N history rows."""

from __future__ import annotations

import pytest

from raceday.api.schemas.entrants import Entrant
from tests.api.seeding import POLLS, TODAY_MEETING, Seeded
from tests.serving import Api, running

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _entrants(api: Api, **params: str) -> list[Entrant]:
    response = await api.client.get("/api/entrants", params=params)
    assert response.status_code == 200, response.text
    return [Entrant.model_validate(item) for item in response.json()]


@pytest.mark.parametrize("name", ["raceId", "race_id"])
async def test_runner_four_is_ruji_with_the_samples_money_flow(api: Api, seeded: Seeded, name: str) -> None:
    entrants = await _entrants(api, **{name: seeded.race_id})
    assert [e.runner_number for e in entrants] == list(range(1, 9))
    ruji = entrants[3]
    assert (ruji.name, ruji.hold_percentage, ruji.bet_percentage) == ("Ruji", 16.0, 17.0)
    assert (ruji.win_pool_amount, ruji.place_pool_amount) == (146422, 62776)
    assert (ruji.jockey, ruji.trainer_name, ruji.barrier) == ("Liam Kauri", "Suzy Gordon", 1)


async def test_odds_and_silks_use_the_fields_the_client_reads(api: Api, seeded: Seeded) -> None:
    ruji = (await _entrants(api, raceId=seeded.race_id))[3]
    assert (ruji.win_odds, ruji.place_odds) == (4.2, 1.65)
    assert (ruji.fixed_win_odds, ruji.pool_win_odds, ruji.pool_place_odds) == (4.2, 4.8, 1.9)
    assert str(ruji.silk_url_64).endswith("ruji_64x64.png")
    assert ruji.silk_url == ruji.silk_url_64
    assert str(ruji.silk_url_128).endswith("ruji_128x128.png")
    assert (ruji.is_scratched, ruji.is_late_scratched, ruji.is_emergency) == (False, False, False)


async def test_history_is_the_latest_fifty_rows_oldest_first(api: Api, seeded: Seeded) -> None:
    ruji = (await _entrants(api, raceId=seeded.race_id))[3]
    flows = ruji.money_flow_history
    assert len(flows) == 50
    stamps = [row.timestamp for row in flows]
    assert stamps == sorted(stamps)
    # The last poll holds the final amounts: 9151.38 × 16 % = 1464.2208 $ = 146422 c.
    assert flows[-1].win_pool_amount == ruji.win_pool_amount == 146422
    assert flows[-1].time_interval == -2
    # The oldest of the latest 50 is poll 11 of 60, when the pool had grown to 11/60 of its final size:
    # 1464.2208 $ × 11 / 60 = 268.440480 $ = 26844 c.
    assert POLLS - 49 == 11
    assert flows[0].win_pool_amount == 26844
    odds = ruji.odds_history
    assert len(odds) == 50
    assert [row.timestamp for row in odds] == sorted(row.timestamp for row in odds)
    assert odds[-1].timestamp == flows[-1].timestamp
    assert {row.type for row in odds} == {"fixed_win", "fixed_place", "pool_win", "pool_place"}


async def test_history_limit_comes_from_configuration(seeded_database: tuple[str, Seeded]) -> None:
    url, seeded = seeded_database
    async with running(url, api_history_limit=3) as small:
        entrants = (await small.client.get("/api/entrants", params={"raceId": seeded.race_id})).json()
    assert {len(e["odds_history"]) for e in entrants} == {3}
    assert {len(e["money_flow_history"]) for e in entrants} == {3}


async def test_a_race_without_entrants_and_errors(api: Api, seeded: Seeded) -> None:
    assert (await api.client.get("/api/entrants", params={"raceId": seeded.upcoming["soon"]})).json() == []
    missing = await api.client.get("/api/entrants")
    assert missing.json() == {"error": "Invalid query parameter", "details": "raceId is required"}
    unknown = await api.client.get("/api/entrants", params={"raceId": TODAY_MEETING})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "Race not found"
