"""GET /api/race-pools (dollars stored, integer cents served) and GET /api/race-results.

Results carry NZ TAB's numbers as JSON numbers, as the web client needs (it calls .toFixed on dividends):
written by the pipeline, and stored as numeric strings before migration 010.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from raceday.api.schemas.pools import RacePools
from raceday.api.schemas.results import RaceResults
from raceday.db.migrate import MIGRATIONS_DIR, apply_migrations
from raceday.db.partitions import PartitionKeeper
from raceday.db.writers import write_snapshot
from raceday.domain.transform import transform_payload
from raceday.nztab.models import RaceEventResponse
from tests.api.seeding import Seeded
from tests.samples import sample_path
from tests.serving import Api, running

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
    assert results.results_data is not None
    assert results.dividends_data is not None
    assert [r.name for r in results.results_data[:2]] == ["Frosbie", "Ruji"]
    assert {d.product_name for d in results.dividends_data} >= {"Pool Win", "Pool Place"}
    assert results.fixed_odds_data is None
    assert results.result_time == "2025-07-17T00:58:00.000Z"


async def test_results_not_found(api: Api, seeded: Seeded) -> None:
    response = await api.client.get("/api/race-results", params={"race_id": seeded.upcoming["soon"]})
    assert response.status_code == 404
    assert response.json()["error"] == "Race results not found"


# Results as the pipeline writes them -------------------------------------------------------------------

POLLED_AT = datetime(2025, 7, 17, 11, 17, 0, tzinfo=UTC)
SAMPLE_RACE = "0f57e087-00d9-4c61-9549-835abe2ae2ed"
RUJI = "7346bd2c-c03d-41c3-bcb9-2b085c4e72cd"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


async def _write_the_real_sample(url: str) -> None:
    """The real Final race, through the pipeline's own transform and writer (one poll)."""
    snapshot = transform_payload(sample_path("race-event-full-response.json").read_bytes())
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await write_snapshot(conn, snapshot, POLLED_AT, PartitionKeeper())


def _check_numbers(body: dict[str, Any]) -> None:
    """The numbers the web client formats are JSON numbers, with NZ TAB's values (the real sample's)."""
    for dividend in body["dividends_data"]:
        assert all(_is_number(dividend[key]) for key in ("dividend", "pool_size", "jackpot_size")), dividend
    quinella = next(
        d for d in body["dividends_data"] if (d["product_name"], d["status"]) == ("Pool Quinella", "Final")
    )
    assert (quinella["dividend"], quinella["pool_size"], quinella["jackpot_size"]) == (13.7, 5341.06, 0)
    assert isinstance(quinella["jackpot_size"], int)
    winner, second = body["results_data"][:2]
    assert (winner["name"], winner["margin_length"], winner["winning_time"], winner["time_ran"]) == (
        "Frosbie",
        0,
        106.73,
        106.73,
    )
    assert (second["name"], second["margin_length"]) == ("Ruji", 0.4)
    assert all(_is_number(result["margin_length"]) for result in body["results_data"])
    assert body["fixed_odds_data"]["4"] == {
        "fixed_win_odds": 4.2,
        "fixed_place_odds": 1.65,
        "fixed_win": 4.2,
        "fixed_place": 1.65,
        "runner_name": "Ruji",
        "entrant_id": RUJI,
    }


STORED_TYPES = """
SELECT DISTINCT jsonb_typeof(d -> 'dividend'), jsonb_typeof(d -> 'pool_size'),
  jsonb_typeof(d -> 'jackpot_size')
FROM race_results, jsonb_array_elements(dividends_data) d"""


async def test_results_written_by_the_pipeline_carry_json_numbers(database_url: str) -> None:
    await _write_the_real_sample(database_url)
    with psycopg.connect(database_url) as conn:
        assert conn.execute(STORED_TYPES).fetchall() == [("number", "number", "number")]
    async with running(database_url) as api:
        response = await api.client.get("/api/race-results", params={"raceId": SAMPLE_RACE})
    assert response.status_code == 200
    body = response.json()
    _check_numbers(body)
    assert '"dividend":"' not in response.text.replace(" ", "")
    # Every runner's closing fixed odds under the client's key names.
    assert len(body["fixed_odds_data"]) == 8
    assert all(_is_number(odds["fixed_win_odds"]) for odds in body["fixed_odds_data"].values())


def _old_shape() -> dict[str, Any]:
    """What the writer stored before migration 010: the models dumped in JSON mode (numbers as strings)."""
    data = RaceEventResponse.model_validate_json(
        sample_path("race-event-full-response.json").read_bytes()
    ).data
    return {
        "results_data": [r.model_dump(mode="json") for r in data.results],
        "dividends_data": [d.model_dump(mode="json") for d in data.dividends],
        "fixed_odds_data": {
            str(r.runner_number): {
                "fixed_win": float(r.odds.fixed_win) if r.odds.fixed_win is not None else None,
                "fixed_place": float(r.odds.fixed_place) if r.odds.fixed_place is not None else None,
                "runner_name": r.name,
                "entrant_id": r.entrant_id,
            }
            for r in data.runners
        },
    }


async def test_results_stored_before_migration_010_are_served_as_numbers(
    empty_database_url: str, tmp_path: Path
) -> None:
    before_010 = tmp_path / "migrations"
    before_010.mkdir()
    for migration in MIGRATIONS_DIR.glob("*.sql"):
        if int(migration.name.split("_", 1)[0]) < 10:
            shutil.copy(migration, before_010)
    await apply_migrations(empty_database_url, before_010)
    old = _old_shape()
    # The rows as a pre-010 raceday left them, written by hand in that schema.
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO meetings (meeting_id, meeting_name, country, race_type, date, status)
               VALUES ('e9f2039d-d489-4a7d-aae1-d66225f1a5f4', 'Awapuni Synthetic', 'NZ', 'thoroughbred',
                       '2025-07-17', 'completed')"""
        )
        conn.execute(
            """INSERT INTO races (race_id, meeting_id, name, race_number, start_time, status)
               VALUES (%s, 'e9f2039d-d489-4a7d-aae1-d66225f1a5f4', 'PRYDA HANDICAP 1700', 1,
                       '2025-07-17T00:50:00Z', 'final')""",
            (SAMPLE_RACE,),
        )
        conn.execute(
            """INSERT INTO race_results (race_id, results_available, results_data, dividends_data,
                 fixed_odds_data, result_status, result_time)
               VALUES (%s, true, %s, %s, %s, 'final', '2025-07-17T11:16:59Z')""",
            (
                SAMPLE_RACE,
                Jsonb(old["results_data"]),
                Jsonb(old["dividends_data"]),
                Jsonb(old["fixed_odds_data"]),
            ),
        )
        stored = conn.execute(
            "SELECT dividends_data -> 0 ->> 'dividend', jsonb_typeof(dividends_data -> 0 -> 'dividend') "
            "FROM race_results"
        ).fetchone()
    assert stored == ("3.7", "string")

    applied = await apply_migrations(empty_database_url)
    assert applied[0] == "010_results_json_numbers.sql"

    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute(STORED_TYPES).fetchall() == [("number", "number", "number")]
    async with running(empty_database_url) as api:
        body = (await api.client.get("/api/race-results", params={"raceId": SAMPLE_RACE})).json()
    _check_numbers(body)
    # Exactly what the writer stores now: a later poll of the same race would change nothing.
    await _write_the_real_sample(empty_database_url)
    with psycopg.connect(empty_database_url) as conn:
        rewritten = conn.execute(
            "SELECT results_data, dividends_data, fixed_odds_data FROM race_results WHERE race_id = %s",
            (SAMPLE_RACE,),
        ).fetchone()
    assert rewritten is not None
    assert (body["results_data"], body["dividends_data"], body["fixed_odds_data"]) == rewritten
