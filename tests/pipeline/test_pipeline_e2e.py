"""The whole pipeline against the real simulator over HTTP and a real PostgreSQL 18.

A ManualClock drives both the simulator and the poll jobs' steps (tests/pipeline/ladder.py), so a race day
runs in seconds and every step is deterministic: the test jumps the clock to the next due poll and runs it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import pytest_asyncio

from raceday.core.config import load_settings
from raceday.db.pool import PoolConfig, open_pool
from raceday.nztab.client import NzTabClient, RetryPolicy
from raceday.simulator import DayConfig, ManualClock, MeetingQuota, SimDay, Simulator, serve_simulator
from raceday.simulator.day import generate_day
from tests.pipeline.ladder import Ladder, poll_context

ANCHOR = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
DAY = DayConfig(meetings=(MeetingQuota("NZ", "T", 1), MeetingQuota("NZ", "H", 1)), min_races=8, max_races=8)


def _interesting(day: SimDay) -> bool:
    """A day with, after the anchor: an abandoned race, a late plunge and a scratching."""
    later = [race for race in day.races if race.start > day.anchor + timedelta(minutes=70)]
    return (
        any(race.abandon_at is not None for race in later)
        and any(race.plunge is not None for race in later)
        and any(
            runner.scratch_at and runner.scratch_at > day.anchor for race in later for runner in race.runners
        )
    )


@pytest.fixture(scope="module")
def seed() -> int:
    """The first seed whose day shows every case the tests check (the simulator is deterministic)."""
    return next(s for s in range(1, 2000) if _interesting(generate_day(s, ANCHOR, DAY)))


@dataclass
class Harness:
    clock: ManualClock
    sim: Simulator
    ladder: Ladder
    conn: psycopg.AsyncConnection[Any]
    discovered: list[str]

    async def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        cursor = await self.conn.execute(sql, params)
        return await cursor.fetchall()


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def settled(seed: int, pg_server: Any) -> AsyncIterator[Harness]:
    """One simulated day, from discovery to every race settled, shared by this module's tests."""
    name = "e2e_day"
    with psycopg.connect(pg_server.admin_url(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE raceday_template')
    url = pg_server.url_for(name)
    clock = ManualClock(ANCHOR)
    pool = await open_pool(url, PoolConfig(max=6))
    settings = load_settings(tracked_countries="NZ", tracked_categories="T,H")
    try:
        async with (
            serve_simulator(seed=seed, clock=clock, meetings=DAY) as sim,
            NzTabClient.from_settings(
                settings, base_url=sim.base_url, retry=RetryPolicy(wait_initial=0.01, wait_max=0.02)
            ) as client,
            await psycopg.AsyncConnection.connect(url, autocommit=True) as conn,
        ):
            ladder = Ladder(poll_context(settings, pool, client, clock))
            discovered = await ladder.discover()
            await ladder.run_until_settled(clock)
            yield Harness(clock, sim, ladder, conn, discovered)
    finally:
        await pool.close()


async def test_discovery_stores_the_days_meetings_races_and_entrants(settled: Harness) -> None:
    day = settled.sim.day
    assert sorted(settled.discovered) == sorted(race.race_id for race in day.races)
    [(entrants,)] = await settled.rows("SELECT count(*) FROM entrants")
    assert entrants == sum(len(race.runners) for race in day.races)
    meetings = await settled.rows(
        "SELECT meeting_id, race_type, data_source, category FROM meetings ORDER BY 1"
    )
    assert sorted(meetings) == sorted(
        (m.meeting_id, {"T": "thoroughbred", "H": "harness"}[m.category], "simulator", m.category)
        for m in day.meetings
    )
    races = await settled.rows("SELECT race_id, start_time, race_number FROM races")
    assert sorted(races) == sorted((r.race_id, r.start, r.race_number) for r in day.races)


async def test_every_race_ends_final_or_abandoned(settled: Harness) -> None:
    assert settled.ladder.races == {}
    expected = {race.race_id: "abandoned" if race.abandon_at else "final" for race in settled.sim.day.races}
    stored = dict(await settled.rows("SELECT race_id, status FROM races"))
    assert stored == expected
    meetings = dict(await settled.rows("SELECT meeting_id, status FROM meetings"))
    assert meetings == dict.fromkeys((m.meeting_id for m in settled.sim.day.meetings), "completed")
    finals = [race_id for race_id, status in expected.items() if status == "final"]
    results = dict(await settled.rows("SELECT race_id, result_status FROM race_results"))
    assert {race_id: results.get(race_id) for race_id in finals} == dict.fromkeys(finals, "final")


async def test_a_race_timeline_has_every_bucket(settled: Harness) -> None:
    race = next(
        r for r in settled.sim.day.races if r.start > ANCHOR + timedelta(minutes=70) and r.abandon_at is None
    )
    rows = await settled.rows(
        "SELECT DISTINCT time_interval, interval_type FROM money_flow_history WHERE race_id = %s",
        race.race_id,
    )
    # Bucket 30 holds 30-34 minutes out: both "2m" (30) and "5m" (31-34).
    buckets = dict(row for row in rows if row[0] != 30)
    assert set(range(60, 4, -5)) - {30} | {4, 3, 2, 1, 0} <= set(buckets)
    assert {kind for bucket, kind in rows if bucket == 30} == {"5m", "2m"}
    assert all(bucket < 0 for bucket in set(buckets) - set(range(0, 61)))
    assert (buckets[60], buckets[25], buckets[10], buckets[3], buckets[0]) == (
        "5m",
        "2m",
        "2m",
        "30s",
        "live",
    )
    assert min(buckets) < 0


async def test_polls_follow_the_interval_ladder(settled: Harness) -> None:
    race = next(
        r for r in settled.sim.day.races if r.start > ANCHOR + timedelta(minutes=70) and r.abandon_at is None
    )
    stamps = [
        row[0]
        for row in await settled.rows(
            "SELECT DISTINCT event_timestamp FROM money_flow_history WHERE race_id = %s ORDER BY 1",
            race.race_id,
        )
    ]
    gaps = {
        (stamps[i + 1] - stamps[i]).total_seconds()
        for i in range(len(stamps) - 1)
        if stamps[i + 1] <= race.start - timedelta(minutes=16)
    }
    assert {round(gap) for gap in gaps} == {60}
    near = [
        (stamps[i + 1] - stamps[i]).total_seconds()
        for i in range(len(stamps) - 1)
        if race.start - timedelta(minutes=4) <= stamps[i] < race.start
    ]
    assert near
    assert {round(gap) for gap in near} == {15}


async def test_money_flow_matches_the_simulated_market(settled: Harness) -> None:
    race = next(
        r for r in settled.sim.day.races if r.start > ANCHOR + timedelta(minutes=70) and r.abandon_at is None
    )
    last_open = await settled.rows(
        "SELECT max(event_timestamp) FROM money_flow_history WHERE race_id = %s AND event_timestamp < %s",
        race.race_id,
        race.actual_start,
    )
    at = last_open[0][0]
    state = settled.sim.day.market(race).state(at)
    stored = dict(
        await settled.rows(
            "SELECT entrant_id, hold_percentage FROM money_flow_history"
            " WHERE race_id = %s AND event_timestamp = %s",
            race.race_id,
            at,
        )
    )
    expected = {r.runner.entrant_id: Decimal(r.hold_percentage) for r in state.runners if not r.scratched}
    assert stored == expected
    win = Decimal(str(state.pools["Win"]))
    amounts = dict(
        await settled.rows(
            "SELECT entrant_id, win_pool_amount FROM money_flow_history"
            " WHERE race_id = %s AND event_timestamp = %s",
            race.race_id,
            at,
        )
    )
    assert amounts == {
        entrant: int((win * hold).quantize(Decimal(1), rounding="ROUND_HALF_UP"))
        for entrant, hold in expected.items()
    }


async def test_each_increment_is_against_the_latest_row_of_an_earlier_bucket(settled: Harness) -> None:
    """Replaying every row in poll order: the first row of an entrant carries its whole amount, and
    each later row (several per bucket near the start) the change since the latest earlier-bucket row."""
    race = next(
        r for r in settled.sim.day.races if r.start > ANCHOR + timedelta(minutes=70) and r.abandon_at is None
    )
    rows = await settled.rows(
        """
        SELECT entrant_id, time_interval, win_pool_amount, incremental_win_amount, place_pool_amount,
               incremental_place_amount
        FROM money_flow_history WHERE race_id = %s ORDER BY polling_timestamp, event_timestamp
        """,
        race.race_id,
    )
    seen: dict[str, list[tuple[int, int, int]]] = {}
    per_bucket: dict[tuple[str, int], int] = {}
    for entrant, bucket, win, win_increment, place, place_increment in rows:
        earlier = [(w, p) for b, w, p in seen.get(entrant, []) if b > bucket]
        expected = (win - earlier[-1][0], place - earlier[-1][1]) if earlier else (win, place)
        assert (win_increment, place_increment) == expected
        seen.setdefault(entrant, []).append((bucket, win, place))
        per_bucket[(entrant, bucket)] = per_bucket.get((entrant, bucket), 0) + 1
    assert max(per_bucket.values()) >= 4  # 15 s polls: several rows share a bucket near the start
    first_rows = {entrant: series[0] for entrant, series in seen.items()}
    assert all(bucket == 60 for bucket, _, _ in first_rows.values())


async def test_a_scratched_runner_is_flagged_and_gets_no_more_money_flow(settled: Harness) -> None:
    runner = next(
        runner
        for race in settled.sim.day.races
        for runner in race.runners
        if runner.scratch_at and runner.scratch_at > ANCHOR and race.abandon_at is None
    )
    flags = await settled.rows(
        "SELECT is_scratched, is_late_scratched, scratch_time FROM entrants WHERE entrant_id = %s",
        runner.entrant_id,
    )
    assert flags == [(True, runner.is_late_scratch, runner.scratch_at)]
    after = await settled.rows(
        "SELECT count(*) FROM money_flow_history WHERE entrant_id = %s AND event_timestamp >= %s",
        runner.entrant_id,
        runner.scratch_at,
    )
    before = await settled.rows(
        "SELECT count(*) FROM money_flow_history WHERE entrant_id = %s AND event_timestamp < %s",
        runner.entrant_id,
        runner.scratch_at,
    )
    assert after == [(0,)]
    assert before[0][0] > 0


async def test_an_abandoned_race_is_stored_as_abandoned(settled: Harness) -> None:
    race = next(r for r in settled.sim.day.races if r.abandon_at is not None and r.abandon_at > ANCHOR)
    stored = await settled.rows(
        "SELECT status, abandoned_at, finalized_at FROM races WHERE race_id = %s", race.race_id
    )
    [(status, abandoned_at, finalized_at)] = stored
    assert status == "abandoned"
    assert finalized_at is None
    assert race.abandon_at <= abandoned_at <= race.abandon_at + timedelta(seconds=60)
    assert await settled.rows("SELECT count(*) FROM race_results WHERE race_id = %s", race.race_id) == [(0,)]


async def test_status_changes_are_stamped(settled: Harness) -> None:
    race = next(r for r in settled.sim.day.races if r.start > ANCHOR and r.abandon_at is None)
    [(status, changed, finalized)] = await settled.rows(
        "SELECT status, last_status_change, finalized_at FROM races WHERE race_id = %s", race.race_id
    )
    assert status == "final"
    assert changed == finalized
    # Polled every 15 s after the start, so the change is seen within one interval of happening.
    assert race.final_at <= finalized <= race.final_at + timedelta(seconds=15)
    live = await settled.rows(
        "SELECT count(*) FROM money_flow_history WHERE race_id = %s AND interval_type = 'live'", race.race_id
    )
    assert live[0][0] > 0


async def test_a_late_plunge_shows_in_the_money_flow(settled: Harness) -> None:
    race = next(
        r
        for r in settled.sim.day.races
        if r.plunge is not None and r.abandon_at is None and r.plunge.starts_at > ANCHOR
    )
    assert race.plunge is not None
    plunged = next(r for r in race.runners if r.runner_number == race.plunge.runner_number)
    holds = await settled.rows(
        "SELECT event_timestamp, hold_percentage FROM money_flow_history WHERE entrant_id = %s ORDER BY 1",
        plunged.entrant_id,
    )
    before = [hold for at, hold in holds if at < race.plunge.starts_at]
    at_close = [hold for at, hold in holds if at < race.actual_start]
    assert before
    assert at_close[-1] > before[-1]
    # The plunged runner's money grew faster than the field's during the plunge.
    grown = await settled.rows(
        """
        SELECT entrant_id, max(win_pool_amount) FILTER (WHERE event_timestamp < %s)
             - max(win_pool_amount) FILTER (WHERE event_timestamp < %s)
        FROM money_flow_history WHERE race_id = %s GROUP BY entrant_id ORDER BY 2 DESC NULLS LAST LIMIT 1
        """,
        race.actual_start,
        race.plunge.starts_at,
        race.race_id,
    )
    assert grown[0][0] == plunged.entrant_id


async def test_history_lands_in_nz_day_partitions(settled: Harness) -> None:
    misplaced = await settled.rows(
        """
        SELECT count(*) FROM money_flow_history
        WHERE tableoid::regclass::text <> 'money_flow_history_'
              || to_char(event_timestamp AT TIME ZONE 'Pacific/Auckland', 'YYYY_MM_DD')
        """
    )
    total = await settled.rows("SELECT count(*) FROM money_flow_history")
    assert misplaced == [(0,)]
    assert total[0][0] > 0
