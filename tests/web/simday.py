"""A simulated race day for tests that need the whole service: simulator, polls, database and API.

The day runs on a ManualClock shared by the simulator, the poll jobs' steps (tests/pipeline/ladder.py)
and the API, so every step is deterministic: a test moves the clock to the instant it needs and every
race that fell due on the way is polled, in order.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from raceday.core.config import load_settings
from raceday.db.embedded import EmbeddedPostgres
from raceday.db.pool import PoolConfig, open_pool
from raceday.nztab.client import NzTabClient, RetryPolicy
from raceday.simulator import (
    DayConfig,
    ManualClock,
    MeetingQuota,
    SimDay,
    SimRace,
    Simulator,
    serve_simulator,
)
from raceday.simulator.day import generate_day
from tests.conftest import new_database
from tests.pipeline.ladder import Ladder, poll_context
from tests.serving import Api, running

ANCHOR = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
# Two NZ meetings, a gallops and a harness one, so the meetings list has two groups.
DAY = DayConfig(meetings=(MeetingQuota("NZ", "T", 1), MeetingQuota("NZ", "H", 1)), min_races=8, max_races=8)


def next_to_jump(day: SimDay, now: datetime) -> SimRace:
    """By hand: the first race still to start that is not abandoned (what a bettor means)."""
    ahead = [r for r in day.races if r.start > now and (r.abandon_at is None or r.abandon_at > now)]
    return min(ahead, key=lambda race: (race.start, race.race_id))


def _plunge_in_bucket_5(race: SimRace) -> bool:
    """The plunge's two-minute ramp lies wholly in bucket 5 (9.5 to 4.5 minutes before the start)."""
    plunge = race.plunge
    return (
        plunge is not None
        and race.start - timedelta(minutes=9.5) <= plunge.starts_at
        and plunge.starts_at + timedelta(minutes=2) <= race.start - timedelta(minutes=4.5)
    )


def suitable(day: SimDay) -> bool:
    """A day showing what the browser tests check, soon after the anchor.

    The next race to jump has a runner scratched before the anchor and is settled within 15 minutes;
    a later race, 25-50 minutes out, has a late plunge landing in bucket 5; nothing in between is
    abandoned.
    """
    first = next_to_jump(day, ANCHOR)
    window = [r for r in day.races if ANCHOR < r.start <= ANCHOR + timedelta(minutes=50)]
    plunged = [r for r in window if r.start >= ANCHOR + timedelta(minutes=25) and _plunge_in_bucket_5(r)]
    return (
        any(runner.scratch_at is not None and runner.scratch_at < ANCHOR for runner in first.runners)
        and first.final_at <= ANCHOR + timedelta(minutes=15)
        and bool(plunged)
        and all(r.abandon_at is None for r in window)
    )


@dataclass
class Day:
    """The simulated day, the polls feeding it into PostgreSQL and the API serving it."""

    clock: ManualClock
    sim: Simulator
    ladder: Ladder
    api: Api
    database_url: str

    @property
    def races(self) -> tuple[SimRace, ...]:
        return self.sim.day.races

    def race(self, predicate: Callable[[SimRace], bool]) -> SimRace:
        return next(race for race in self.races if predicate(race))

    async def advance_to(self, moment: datetime) -> None:
        """Move the clock to `moment`, running every poll that falls due on the way, in order."""
        while self.ladder.races:
            due = min(at for _, at in self.ladder.races.values())
            if due > moment:
                break
            self.clock.set(max(due, self.clock.now()))
            await self.ladder.tick()
        self.clock.set(max(moment, self.clock.now()))

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(sql, params).fetchall()


def first_suitable_seed() -> int:
    """The first seed whose day shows every case the tests check (the simulator is deterministic)."""
    return next(s for s in range(1, 500) if suitable(generate_day(s, ANCHOR, DAY)))


@contextlib.asynccontextmanager
async def simulated_day(pg_server: EmbeddedPostgres, seed: int) -> AsyncIterator[Day]:
    """The day at ANCHOR after discovery and every race's first poll, served by the API as simulated data."""
    clock = ManualClock(ANCHOR)
    settings = load_settings(tracked_countries="NZ", tracked_categories="T,H")
    with new_database(pg_server) as url:
        pool = await open_pool(url, PoolConfig(max=4))
        try:
            async with (
                serve_simulator(seed=seed, clock=clock, meetings=DAY) as sim,
                NzTabClient.from_settings(
                    settings,
                    base_url=sim.base_url,
                    retry=RetryPolicy(wait_initial=0.01, wait_max=0.02),
                ) as client,
                running(url) as api,
            ):
                ladder = Ladder(poll_context(settings, pool, client, clock))
                await ladder.discover()
                await ladder.tick()
                api.runtime.clock = clock
                api.runtime.simulated = True
                yield Day(clock, sim, ladder, api, url)
        finally:
            await pool.close()
