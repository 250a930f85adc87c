"""Discovery never stops, a race leaves tracking only once its terminal status is stored, and stopping
is prompt: against the real simulator over HTTP and a real PostgreSQL 18."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta

import psycopg

from raceday.core.config import load_settings
from raceday.core.nztime import NZ
from raceday.pipeline.baseline import discovery_days, rediscover, run_baseline
from raceday.pipeline.ingest import Pipeline
from raceday.simulator import FaultRule
from tests.pipeline import crashers
from tests.pipeline.conftest import Rig

SETTINGS = load_settings(tracked_countries="NZ,AUS", tracked_categories="T,H")


def test_before_six_the_previous_racing_day_is_read_too() -> None:
    assert discovery_days(datetime(2026, 3, 11, 5, 59, tzinfo=NZ)) == [
        datetime(2026, 3, 10).date(),
        datetime(2026, 3, 11).date(),
    ]
    assert discovery_days(datetime(2026, 3, 11, 6, 0, tzinfo=NZ)) == [datetime(2026, 3, 11).date()]


async def test_a_start_before_six_asks_for_both_days(rig: Rig) -> None:
    rig.clock.set(datetime(2026, 3, 11, 2, 30, tzinfo=NZ))
    await rediscover(
        rig.client,
        rig.scheduler,
        rig.pool,
        rig.clock,
        countries=SETTINGS.tracked_countries,
        categories=SETTINGS.tracked_categories,
    )
    asked = [r.query["date_from"] for r in rig.sim.requests.for_endpoint("meetings")]
    assert asked == ["2026-03-10", "2026-03-11"]


async def test_a_meeting_missing_from_the_first_read_is_tracked_by_the_next(rig: Rig) -> None:
    rig.sim.faults.add(FaultRule(endpoint="meetings", kind="missing_field", field="data.meetings.0", times=1))
    summary = await run_baseline(
        rig.client,
        rig.processor,
        rig.scheduler,
        rig.pool,
        rig.clock,
        countries=SETTINGS.tracked_countries,
        categories=SETTINGS.tracked_categories,
    )
    assert (summary.meetings, rig.scheduler.races) == (0, {})
    added = await rediscover(
        rig.client,
        rig.scheduler,
        rig.pool,
        rig.clock,
        countries=SETTINGS.tracked_countries,
        categories=SETTINGS.tracked_categories,
    )
    open_races = [
        r.race_id for r in rig.sim.day.races if r.status(rig.clock.now()) not in ("Final", "Abandoned")
    ]
    assert set(open_races) <= set(added)
    assert set(added) == set(rig.scheduler.races)


async def test_a_race_whose_final_poll_failed_to_write_is_polled_again(rig: Rig, database_url: str) -> None:
    race = next(r for r in rig.sim.day.races if r.status(rig.clock.now()) == "Open" and r.abandon_at is None)
    rig.clock.set(race.start - timedelta(minutes=2))
    rig.scheduler.track(race.race_id, race.start, "open")
    await rig.scheduler.tick()
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
    [first] = await rig.scheduler.tick()
    assert first == race.race_id
    assert race.race_id in rig.scheduler.races  # the poll said final, but nothing was stored
    assert rig.scheduler.races[race.race_id].status == "open"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER refuse ON races")
    rig.clock.advance(15)
    assert await rig.scheduler.tick() == [race.race_id]
    assert rig.scheduler.races == {}
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT status FROM races").fetchall() == [("final",)]


async def test_the_baseline_is_retried_until_it_succeeds(database_url: str, rig: Rig) -> None:
    # Every attempt of the first baseline fails (the client tries 4 times), then the API recovers.
    rig.sim.faults.add(FaultRule(endpoint="meetings", kind="error", status=503, times=5))
    pipeline = Pipeline(SETTINGS, rig.pool, rig.client, rig.clock)
    try:
        summary = await asyncio.wait_for(pipeline.baseline_until_done(), timeout=30)
    finally:
        await pipeline.stop()
    assert summary.meetings == 1
    statuses = [r.status for r in rig.sim.requests.for_endpoint("meetings")]
    assert statuses[:5] == [503] * 5
    assert statuses[-1] == 200


async def test_stopping_interrupts_the_baseline_and_does_not_block_the_loop(rig: Rig) -> None:
    rig.sim.faults.add(FaultRule(endpoint="events", kind="latency", delay_s=0.5))
    pipeline = Pipeline(SETTINGS.model_copy(update={"poll_concurrency": 2}), rig.pool, rig.client, rig.clock)
    await pipeline.workers.warm_up()
    beats: list[float] = []

    async def heartbeat() -> None:
        while True:
            beats.append(time.monotonic())
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(heartbeat())
    baseline = asyncio.create_task(pipeline.baseline())
    await asyncio.sleep(0.8)  # two polls in flight, the others queued for a slot
    busy = asyncio.create_task(pipeline.workers.run(crashers.sleep, 1.0))
    started = time.monotonic()
    await pipeline.stop()
    stopped_in = time.monotonic() - started
    summary = await baseline
    ticker.cancel()
    await asyncio.gather(ticker, busy, return_exceptions=True)
    polled = len(rig.sim.requests.for_endpoint("events"))
    assert polled < len(rig.sim.day.races)  # queued polls were not started
    assert summary.races == len(rig.sim.day.races)
    assert stopped_in < 3
    gaps = [b - a for a, b in itertools.pairwise(beats)]
    assert max(gaps) < 0.3  # the workers' shutdown waited in a thread, not on the event loop


def test_utc_anchor_is_in_the_afternoon_in_new_zealand() -> None:
    """The rig's anchor (01:00 UTC) is 14:00 NZDT: discovery reads one day there."""
    assert discovery_days(datetime(2026, 3, 10, 1, 0, tzinfo=UTC)) == [datetime(2026, 3, 10).date()]


async def test_a_long_retry_after_defers_that_race_for_as_long_as_asked(rig: Rig) -> None:
    race = next(r for r in rig.sim.day.races if r.status(rig.clock.now()) == "Open")
    rig.clock.set(race.start - timedelta(minutes=3))  # on the 15 s rung of the ladder
    rig.scheduler.track(race.race_id, race.start, "open")
    rig.sim.faults.add(FaultRule(endpoint="events", kind="rate_limit", retry_after_s=90, times=4))
    now = rig.clock.now()
    assert await rig.scheduler.tick() == [race.race_id]
    tracked = rig.scheduler.races[race.race_id]
    assert tracked.next_poll == now + timedelta(seconds=90)  # not the ladder's 15 s
    rig.clock.advance(89)
    assert await rig.scheduler.tick() == []
    rig.clock.advance(1)
    assert await rig.scheduler.tick() == [race.race_id]


async def test_a_restart_does_not_poll_races_already_settled(rig: Rig) -> None:
    kinds = {"countries": SETTINGS.tracked_countries, "categories": SETTINGS.tracked_categories}
    first = await run_baseline(rig.client, rig.processor, rig.scheduler, rig.pool, rig.clock, **kinds)
    settled = [r.race_id for r in rig.sim.day.races if r.status(rig.clock.now()) in ("Final", "Abandoned")]
    assert settled
    assert first.already_settled == 0
    rig.scheduler.races.clear()  # a restart: nothing tracked in memory
    rig.sim.requests.clear()
    again = await run_baseline(rig.client, rig.processor, rig.scheduler, rig.pool, rig.clock, **kinds)
    polled = {r.path.rsplit("/", 1)[-1] for r in rig.sim.requests.for_endpoint("events")}
    assert again.already_settled == len(settled)
    assert polled.isdisjoint(settled)
    assert polled == {r.race_id for r in rig.sim.day.races} - set(settled)
