"""Discovery reads the right days and catches what an earlier read missed, a race leaves tracking only once
its terminal status is stored, and NZ TAB's Retry-After is honoured: the poll jobs' steps against the real
simulator over HTTP and a real PostgreSQL 18."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from raceday.core.nztime import NZ
from raceday.pipeline.discovery import discovery_days
from raceday.simulator import FaultRule
from tests.pipeline.conftest import Rig


def test_before_six_the_previous_racing_day_is_read_too() -> None:
    assert discovery_days(datetime(2026, 3, 11, 5, 59, tzinfo=NZ)) == [
        datetime(2026, 3, 10).date(),
        datetime(2026, 3, 11).date(),
    ]
    assert discovery_days(datetime(2026, 3, 11, 6, 0, tzinfo=NZ)) == [datetime(2026, 3, 11).date()]


async def test_a_start_before_six_asks_for_both_days(rig: Rig) -> None:
    rig.clock.set(datetime(2026, 3, 11, 2, 30, tzinfo=NZ))
    await rig.ladder.discover()
    asked = [r.query["date_from"] for r in rig.sim.requests.for_endpoint("meetings")]
    assert asked == ["2026-03-10", "2026-03-11"]


async def test_a_meeting_missing_from_the_first_read_is_tracked_by_the_next(rig: Rig) -> None:
    rig.sim.faults.add(FaultRule(endpoint="meetings", kind="missing_field", field="data.meetings.0", times=1))
    assert await rig.ladder.discover() == []
    assert [r.status for r in rig.sim.requests.for_endpoint("meetings")] == [200]
    added = await rig.ladder.discover()
    open_races = [
        r.race_id for r in rig.sim.day.races if r.status(rig.clock.now()) not in ("Final", "Abandoned")
    ]
    assert set(open_races) <= set(added)
    assert set(added) == set(rig.ladder.races)


async def test_a_race_whose_final_poll_failed_to_write_is_polled_again(rig: Rig, database_url: str) -> None:
    race = next(r for r in rig.sim.day.races if r.status(rig.clock.now()) == "Open" and r.abandon_at is None)
    rig.clock.set(race.start - timedelta(minutes=2))
    rig.ladder.follow(race.race_id, race.start)
    await rig.ladder.tick()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION refuse_final() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE ON races FOR EACH ROW"
            " WHEN (NEW.status = 'final') EXECUTE FUNCTION refuse_final()"
        )
    rig.clock.set(race.final_at + timedelta(minutes=1))
    [first] = await rig.ladder.tick()
    assert first == race.race_id
    assert rig.ladder.polled[-1].result.outcome == "write_failed"
    assert race.race_id in rig.ladder.races  # the poll said final, but nothing was stored
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER refuse ON races")
    rig.clock.advance(15)
    assert await rig.ladder.tick() == [race.race_id]
    assert rig.ladder.races == {}
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT status FROM races").fetchall() == [("final",)]


def test_utc_anchor_is_in_the_afternoon_in_new_zealand() -> None:
    """The rig's anchor (01:00 UTC) is 14:00 NZDT: discovery reads one day there."""
    assert discovery_days(datetime(2026, 3, 10, 1, 0, tzinfo=UTC)) == [datetime(2026, 3, 10).date()]


async def test_a_long_retry_after_defers_that_race_for_as_long_as_asked(rig: Rig) -> None:
    race = next(r for r in rig.sim.day.races if r.status(rig.clock.now()) == "Open")
    rig.clock.set(race.start - timedelta(minutes=3))  # on the 15 s rung of the ladder
    rig.ladder.follow(race.race_id, race.start)
    rig.sim.faults.add(FaultRule(endpoint="events", kind="rate_limit", retry_after_s=90, times=4))
    now = rig.clock.now()
    assert await rig.ladder.tick() == [race.race_id]
    assert rig.ladder.races[race.race_id] == (
        race.start,
        now + timedelta(seconds=90),
    )  # not the ladder's 15 s
    rig.clock.advance(89)
    assert await rig.ladder.tick() == []
    rig.clock.advance(1)
    assert await rig.ladder.tick() == [race.race_id]
