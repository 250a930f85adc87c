"""A night meeting through NZ midnight on a misbehaving feed: stale and out-of-order snapshots, dropped money
trackers and failed writes. The poll jobs' steps (real simulator over HTTP, real PostgreSQL 18, a
ManualClock) must end with every race settled, history read across midnight, and increments that add up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import pytest_asyncio

from raceday.core.config import load_settings
from raceday.core.nztime import nz_day, nz_midnight
from raceday.db import queries
from raceday.db.pool import PoolConfig, open_pool
from raceday.nztab.client import NzTabClient, RetryPolicy
from raceday.simulator import DayConfig, FaultRule, ManualClock, MeetingQuota, Simulator, serve_simulator
from raceday.simulator.day import generate_day
from tests.conftest import new_database
from tests.pipeline.ladder import Ladder, poll_context

ANCHOR = datetime(2026, 3, 10, 10, 30, tzinfo=UTC)  # 23:30 NZDT
DAY = DayConfig(meetings=(MeetingQuota("AUS", "T", 1),), min_races=6, max_races=6)
MIDNIGHT = nz_midnight(nz_day(ANCHOR) + timedelta(days=1))
SETTINGS = load_settings(tracked_countries="AUS", tracked_categories="T")
REREAD_EVERY = timedelta(minutes=5)
# Every 9th batch of money-flow rows fails to write, rolling its whole poll back.
FAILING_WRITES = """
CREATE SEQUENCE flaky_writes;
CREATE FUNCTION flaky_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('flaky_writes') % 9 = 0 THEN RAISE EXCEPTION 'simulated write failure'; END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER flaky BEFORE INSERT ON money_flow_history FOR EACH STATEMENT EXECUTE FUNCTION flaky_write();
"""


def _crosses_midnight(seed: int) -> bool:
    races = generate_day(seed, ANCHOR, DAY).races
    after = [r for r in races if r.start > MIDNIGHT + timedelta(minutes=20) and r.abandon_at is None]
    return len(after) >= 2 and any(ANCHOR < r.start < MIDNIGHT for r in races)


@dataclass
class Night:
    sim: Simulator
    conn: psycopg.AsyncConnection[Any]
    polls: int
    failed: int
    listed: set[str]

    async def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        cursor = await self.conn.execute(sql, params)
        return await cursor.fetchall()


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def night(pg_server: Any) -> AsyncIterator[Night]:
    seed = next(s for s in range(1, 500) if _crosses_midnight(s))
    clock = ManualClock(ANCHOR)
    retry = RetryPolicy(wait_initial=0.001, wait_max=0.002)
    with new_database(pg_server) as url:
        with psycopg.connect(url, autocommit=True) as setup:
            setup.execute(FAILING_WRITES)
        pool = await open_pool(url, PoolConfig(max=4))
        try:
            async with (
                serve_simulator(seed=seed, clock=clock, meetings=DAY) as sim,
                NzTabClient.from_settings(SETTINGS, base_url=sim.base_url, retry=retry) as client,
                await psycopg.AsyncConnection.connect(url, autocommit=True) as conn,
            ):
                sim.faults.add(FaultRule(endpoint="events", kind="stale", delay_s=150, ratio=0.15))
                sim.faults.add(
                    FaultRule(endpoint="events", kind="missing_field", field="data.money_tracker", ratio=0.1)
                )
                ladder = Ladder(poll_context(SETTINGS, pool, client, clock))
                await ladder.discover()
                listed = set(ladder.races) | {r.race_id for r in sim.day.races}
                polls, reread = 0, clock.now() + REREAD_EVERY
                while ladder.races and polls < 5_000:
                    clock.set(max(min(at for _, at in ladder.races.values()), clock.now()))
                    polls += len(await ladder.tick())
                    if clock.now() >= reread:
                        await ladder.discover()
                        reread = clock.now() + REREAD_EVERY
                failed = sum(polled.result.outcome != "ok" for polled in ladder.polled)
                yield Night(sim, conn, polls, failed, listed)
        finally:
            await pool.close()


async def test_every_race_is_settled_despite_the_faults(night: Night) -> None:
    served = [r for r in night.sim.requests.for_endpoint("events") if r.fault is not None]
    assert {r.fault.kind for r in served if r.fault} == {"stale", "missing_field"}
    assert night.failed > 0  # writes failed, and the races were polled again
    rows = await night.rows("SELECT race_id, status FROM races")
    assert {race_id for race_id, _ in rows} == night.listed
    assert {status for _, status in rows} <= {"final", "abandoned"}
    meetings = await night.rows("SELECT status FROM meetings")
    assert meetings in ([("completed",)], [("cancelled",)])


async def test_a_race_after_midnight_is_read_whole(night: Night) -> None:
    race = next(
        r for r in night.sim.day.races if r.start > MIDNIGHT + timedelta(minutes=20) and not r.abandon_at
    )
    days = await night.rows(
        "SELECT DISTINCT tableoid::regclass::text FROM money_flow_history WHERE race_id = %s ORDER BY 1",
        race.race_id,
    )
    before, after = (f"money_flow_history_{d:%Y_%m_%d}" for d in (nz_day(ANCHOR), nz_day(MIDNIGHT)))
    assert days == [(before,), (after,)]
    body = await queries.entrants_json(night.conn, race.race_id, 1000)
    assert body is not None
    stamps = body.split('"timestamp":"')[1:]
    earliest = min(stamp[:24] for stamp in stamps)
    assert earliest < MIDNIGHT.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def test_increments_add_up_to_each_runners_latest_amount(night: Night) -> None:
    # Over the latest row of each bucket, increments telescope to the latest amount.
    mismatches = await night.rows(
        """
        WITH latest AS (
          SELECT DISTINCT ON (entrant_id, time_interval) entrant_id, time_interval, event_timestamp,
                 win_pool_amount, place_pool_amount, incremental_win_amount, incremental_place_amount
          FROM money_flow_history ORDER BY entrant_id, time_interval, event_timestamp DESC
        ), last AS (
          SELECT DISTINCT ON (entrant_id) entrant_id, win_pool_amount, place_pool_amount
          FROM latest ORDER BY entrant_id, event_timestamp DESC
        )
        SELECT l.entrant_id, sum(x.incremental_win_amount), l.win_pool_amount,
               sum(x.incremental_place_amount), l.place_pool_amount
        FROM latest x JOIN last l USING (entrant_id)
        GROUP BY l.entrant_id, l.win_pool_amount, l.place_pool_amount
        HAVING sum(x.incremental_win_amount) <> l.win_pool_amount
            OR sum(x.incremental_place_amount) <> l.place_pool_amount
        """
    )
    assert mismatches == []
    assert (await night.rows("SELECT count(DISTINCT entrant_id) FROM money_flow_history"))[0][0] > 20


async def test_odds_rows_are_only_real_moves_even_across_midnight(night: Night) -> None:
    repeats = await night.rows(
        """
        SELECT entrant_id, type, event_timestamp FROM (
          SELECT entrant_id, type, event_timestamp, odds,
                 lag(odds) OVER (PARTITION BY entrant_id, type ORDER BY event_timestamp) AS previous
          FROM odds_history) o
        WHERE previous IS NOT NULL AND abs(odds - previous) <= 0.01
        """
    )
    assert repeats == []
    assert (await night.rows("SELECT count(*) FROM odds_history"))[0][0] > 100
