"""Daily-job timing on NZ wall-clock time, and the scheduler giving up on a race that never settles."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from raceday.config import load_settings
from raceday.db.pool import PoolConfig, open_pool
from raceday.nztab.client import NzTabClient, RetryPolicy
from raceday.nztab.simulator import DayConfig, ManualClock, MeetingQuota, serve_simulator
from raceday.pipeline.jobs import next_nz_time
from raceday.pipeline.processor import RaceProcessor
from raceday.pipeline.scheduler import GIVE_UP_AFTER, Scheduler
from raceday.pipeline.workers import WorkerPool

SIX = time(6, 0)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # 05:00 NZDT (UTC+13) → 06:00 the same NZ day.
        (datetime(2026, 1, 10, 16, 0, tzinfo=UTC), datetime(2026, 1, 10, 17, 0, tzinfo=UTC)),
        # 06:00 exactly is not "next": the following day.
        (datetime(2026, 1, 10, 17, 0, tzinfo=UTC), datetime(2026, 1, 11, 17, 0, tzinfo=UTC)),
        # Daylight saving ends on 2026-04-05 at 03:00 NZDT: the next 06:00 is NZST (UTC+12).
        (datetime(2026, 4, 4, 18, 0, tzinfo=UTC), datetime(2026, 4, 5, 18, 0, tzinfo=UTC)),
        # Mid-winter (NZST).
        (datetime(2026, 7, 1, 0, 0, tzinfo=UTC), datetime(2026, 7, 1, 18, 0, tzinfo=UTC)),
    ],
)
def test_next_06_00_in_new_zealand(now: datetime, expected: datetime) -> None:
    assert next_nz_time(now, SIX) == expected


async def test_a_race_not_settled_3_hours_after_its_start_is_given_up(database_url: str) -> None:
    clock = ManualClock(datetime(2026, 3, 10, 1, 0, tzinfo=UTC))
    workers = WorkerPool(1)
    pool = await open_pool(database_url, PoolConfig(max=3))
    day = DayConfig(meetings=(MeetingQuota("NZ", "T", 1),), min_races=8, max_races=8)
    try:
        async with (
            serve_simulator(seed=2, clock=clock, meetings=day) as sim,
            NzTabClient.from_settings(
                load_settings(), base_url=sim.base_url, retry=RetryPolicy(wait_initial=0.01, wait_max=0.01)
            ) as client,
        ):
            scheduler = Scheduler(RaceProcessor(client, workers, pool, clock).process, clock)
            # A race NZ TAB no longer serves (404): its polls fail and it never reaches final.
            scheduler.track("gone-race", clock.now() - timedelta(hours=2, minutes=59), "open")
            assert await scheduler.tick() == ["gone-race"]
            assert "gone-race" in scheduler.races
            assert scheduler.races["gone-race"].failures == 1
            clock.advance(120)
            assert await scheduler.tick() == ["gone-race"]
    finally:
        await pool.close()
        workers.close()
    assert timedelta(hours=3) == GIVE_UP_AFTER
    assert scheduler.races == {}


async def test_a_batch_over_the_spec_budget_is_a_warning(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from structlog.testing import capture_logs

    from raceday.pipeline import scheduler as scheduler_module

    clock = ManualClock(datetime(2026, 3, 10, 1, 0, tzinfo=UTC))
    workers = WorkerPool(1)
    pool = await open_pool(database_url, PoolConfig(max=3))
    day = DayConfig(meetings=(MeetingQuota("NZ", "T", 1),), min_races=8, max_races=8)
    try:
        async with (
            serve_simulator(seed=2, clock=clock, meetings=day) as sim,
            NzTabClient.from_settings(load_settings(), base_url=sim.base_url) as client,
        ):
            scheduler = Scheduler(RaceProcessor(client, workers, pool, clock).process, clock)
            for race in [r for r in sim.day.races if r.status(clock.now()) == "Open"][:3]:
                scheduler.track(race.race_id, race.start, "open")
            with capture_logs() as within_budget:
                await scheduler.tick()
            clock.advance(60)
            monkeypatch.setattr(scheduler_module, "BATCH_BUDGET_MS", 0)
            with capture_logs() as over_budget:
                polled = await scheduler.tick()
    finally:
        await pool.close()
        workers.close()
    assert not [e for e in within_budget if e["event"] == "poll batch over budget"]
    assert polled, over_budget
    [warning] = [e for e in over_budget if e["event"] == "poll batch over budget"]
    assert (warning["log_level"], warning["races"], warning["budget_ms"]) == ("warning", len(polled), 0)


async def test_a_second_baseline_leaves_tracked_races_to_the_scheduler(database_url: str) -> None:
    from raceday.pipeline.baseline import run_baseline

    clock = ManualClock(datetime(2026, 3, 10, 1, 0, tzinfo=UTC))
    workers = WorkerPool(1)
    pool = await open_pool(database_url, PoolConfig(max=3))
    day = DayConfig(meetings=(MeetingQuota("NZ", "T", 1),), min_races=8, max_races=8)
    try:
        async with (
            serve_simulator(seed=2, clock=clock, meetings=day) as sim,
            NzTabClient.from_settings(load_settings(), base_url=sim.base_url) as client,
        ):
            processor = RaceProcessor(client, workers, pool, clock)
            scheduler = Scheduler(processor.process, clock)

            async def baseline() -> tuple[int, set[str]]:
                sim.requests.clear()
                summary = await run_baseline(
                    client,
                    processor,
                    scheduler,
                    pool,
                    clock,
                    countries=frozenset({"NZ"}),
                    categories=frozenset({"T"}),
                )
                polled = {r.path.rsplit("/", 1)[-1] for r in sim.requests if "/events/" in r.path}
                return summary.already_tracked, polled

            first_tracked, first_polled = await baseline()
            tracked = set(scheduler.races)
            second_tracked, second_polled = await baseline()
    finally:
        await pool.close()
        workers.close()
    assert first_tracked == 0
    assert first_polled == {race.race_id for race in sim.day.races}
    assert tracked
    assert second_tracked == len(tracked)
    assert second_polled == first_polled - tracked
