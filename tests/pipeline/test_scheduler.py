"""The scheduler running for real (sim time 60× faster): a slow race never delays the others,
and one race is never polled twice at once."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

from raceday.core.config import load_settings
from raceday.db.pool import PoolConfig, open_pool
from raceday.nztab.client import NzTabClient
from raceday.pipeline.processor import RaceProcessor
from raceday.pipeline.scheduler import Scheduler
from raceday.pipeline.workers import WorkerPool
from raceday.simulator import DayConfig, FaultRule, MeetingQuota, ScaledClock, serve_simulator

SPEED = 60.0
DAY = DayConfig(meetings=(MeetingQuota("NZ", "T", 1),), min_races=8, max_races=8)


async def test_a_slow_race_holds_one_slot_and_delays_no_other(database_url: str) -> None:
    clock = ScaledClock(datetime(2026, 3, 10, 1, 0, tzinfo=UTC), speed=SPEED)
    workers = WorkerPool(1)
    pool = await open_pool(database_url, PoolConfig(max=4))
    stop = asyncio.Event()
    try:
        async with (
            serve_simulator(seed=5, clock=clock, meetings=DAY) as sim,
            NzTabClient.from_settings(load_settings(), base_url=sim.base_url) as client,
        ):
            soon = [r for r in sim.day.races if r.start > clock.now() and r.abandon_at is None][:2]
            slow, quick = soon
            # Every poll of the slow race hangs 1.5 s of real time (90 s of sim time).
            sim.faults.add(FaultRule(endpoint="events", race_id=slow.race_id, kind="latency", delay_s=1.5))
            processor = RaceProcessor(client, workers, pool, clock)
            scheduler = Scheduler(processor.process, clock, concurrency=2, time_scale=SPEED)
            for race in soon:
                scheduler.track(race.race_id, race.start, "open")
            runner = asyncio.create_task(scheduler.run(stop))
            await asyncio.sleep(3.5)
            stop.set()
            await runner
            polls = {
                race.race_id: [r for r in sim.requests if r.path.endswith(race.race_id)] for race in soon
            }
    finally:
        await pool.close()
        workers.close()
    # In 3.5 s real = 210 s sim, the quick race (60 s interval) is polled at 0, 60, 120, 180 s sim,
    # whatever the slow race is doing.
    assert len(polls[quick.race_id]) >= 3
    # Each slow poll lasts 90 s sim; answers at least that far apart mean no two were in flight.
    answered = [record.sim_time for record in polls[slow.race_id]]
    assert answered
    assert all(b - a >= timedelta(seconds=85) for a, b in itertools.pairwise(answered))
    assert scheduler.races[slow.race_id].polls == len(answered)


async def test_stopping_lets_polls_in_flight_finish_and_starts_no_queued_one(database_url: str) -> None:
    clock = ScaledClock(datetime(2026, 3, 10, 1, 0, tzinfo=UTC), speed=1.0)
    workers = WorkerPool(1)
    pool = await open_pool(database_url, PoolConfig(max=3))
    stop = asyncio.Event()
    try:
        async with (
            serve_simulator(seed=5, clock=clock, meetings=DAY) as sim,
            NzTabClient.from_settings(load_settings(), base_url=sim.base_url) as client,
        ):
            races = [r for r in sim.day.races if r.status(clock.now()) == "Open"][:3]
            sim.faults.add(FaultRule(endpoint="events", kind="latency", delay_s=1.0))
            scheduler = Scheduler(RaceProcessor(client, workers, pool, clock).process, clock, concurrency=1)
            for race in races:
                scheduler.track(race.race_id, race.start, "open")
            runner = asyncio.create_task(scheduler.run(stop))
            while not any(race.in_flight for race in scheduler.races.values()):
                await asyncio.sleep(0.01)
            stop.set()
            await runner
            answered = [r for r in sim.requests if "/events/" in r.path]
    finally:
        await pool.close()
        workers.close()
    assert len(answered) == 1
    assert sum(race.polls for race in scheduler.races.values()) == 1
    assert not any(race.in_flight for race in scheduler.races.values())
