"""The real sample, written by the pipeline's own transform and writer, read back through /api/entrants."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from raceday.db.partitions import PartitionKeeper
from raceday.db.writers import write_snapshot
from raceday.domain.transform import transform_payload
from tests.api.conftest import running
from tests.samples import sample_path

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_entrants_of_the_sample_written_by_the_pipeline(database_url: str) -> None:
    payload = sample_path("race-event-full-response.json").read_bytes()
    snapshot = transform_payload(payload)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await write_snapshot(
            conn, snapshot, snapshot.event_timestamp + timedelta(seconds=1), PartitionKeeper()
        )
    async with running(database_url) as api:
        entrants = (await api.client.get("/api/entrants", params={"raceId": snapshot.race_id})).json()
        pools = (await api.client.get("/api/race-pools", params={"race_id": snapshot.race_id})).json()
    ruji = next(e for e in entrants if e["runner_number"] == 4)
    assert ruji["name"] == "Ruji"
    assert ruji["hold_percentage"] == 16
    assert ruji["win_pool_amount"] == 146422
    assert ruji["place_pool_amount"] == 62776
    assert [row["win_pool_amount"] for row in ruji["money_flow_history"]] == [146422]
    assert pools["win_pool_total"] == 915138
