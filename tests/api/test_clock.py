"""The API's "now" is the runtime's clock: with the simulator at --speed 10 the pages agree with the data."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from raceday.core.clock import ManualClock
from raceday.db.partitions import PartitionKeeper
from raceday.db.writers import write_snapshot
from raceday.simulator.day import generate_day
from tests.serving import running
from tests.snapshots import ANCHOR, a_race, bodies, to_snapshot


async def test_upcoming_and_next_scheduled_follow_the_runtime_clock(database_url: str) -> None:
    day = generate_day(3, ANCHOR)
    race = a_race(day)
    snapshot = to_snapshot(bodies(day, race, [race.start - timedelta(minutes=30)])[0])
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await write_snapshot(conn, snapshot, snapshot.event_timestamp, PartitionKeeper())
    async with running(database_url) as api:
        # By the wall clock (later in 2026) the simulated race is long gone.
        assert (await api.client.get("/api/races/next-scheduled")).json() is None
        api.runtime.clock = ManualClock(race.start - timedelta(minutes=20))
        following = (await api.client.get("/api/races/next-scheduled")).json()
        upcoming = (await api.client.get("/api/races/upcoming", params={"windowMinutes": 30})).json()
        navigation = (await api.client.get("/api/races/navigation", params={"raceId": race.race_id})).json()
        api.runtime.clock = ManualClock(race.start + timedelta(minutes=1))
        after_start = (await api.client.get("/api/races/next-scheduled")).json()
    assert following["race_id"] == race.race_id
    assert [r["race_id"] for r in upcoming["races"]] == [race.race_id]
    assert upcoming["timestamp"] == (race.start - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert navigation["nextScheduledRace"]["race_id"] == race.race_id
    assert after_start is None
