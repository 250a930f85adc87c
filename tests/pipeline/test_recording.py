"""Record a night meeting through NZ midnight, then rebuild it from the recording and replay it through the
simulator into a fresh database: both give back the tables live polling wrote, byte for byte."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import psycopg
import pytest
import pytest_asyncio

from raceday.core.nztime import nz_day
from raceday.db.embedded import EmbeddedPostgres
from raceday.db.pool import PoolConfig, open_pool
from raceday.db.recording import recorded_day
from raceday.nztab.client import NzTabClient, RetryPolicy
from raceday.nztab.raw import unpack
from raceday.pipeline.discovery import read_listing
from raceday.pipeline.processor import RaceProcessor
from raceday.pipeline.rebuild import rebuild_day
from raceday.pipeline.recorder import MeetingsRecorder
from raceday.simulator import DayConfig, ManualClock, MeetingQuota, serve_simulator
from raceday.simulator.day import generate_day
from raceday.simulator.replay import Recorded, serve_replay
from tests.conftest import ReliabilityReport, new_database
from tests.pipeline.ladder import Ladder, poll_context
from tests.pipeline.test_midnight import ANCHOR, MIDNIGHT, SETTINGS
from tests.snapshots import dump

RACE_TABLES = (
    "races",
    "entrants",
    "race_pools",
    "race_results",
    "race_snapshots",
    "money_flow_history",
    "odds_history",
)
KINDS = {"countries": SETTINGS.tracked_countries, "categories": SETTINGS.tracked_categories}

# A small night meeting: four races, two of them after NZ midnight.
DAY = DayConfig(meetings=(MeetingQuota("AUS", "T", 1),), min_races=4, max_races=4)

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _crosses_midnight(seed: int) -> bool:
    races = generate_day(seed, ANCHOR, DAY).races
    after = [r for r in races if r.start > MIDNIGHT + timedelta(minutes=10) and r.abandon_at is None]
    return len(after) >= 2 and any(ANCHOR < r.start < MIDNIGHT for r in races)


@dataclass
class Recording:
    url: str
    original: dict[str, list[str]]
    races: list[str]


def _race_tables(url: str) -> dict[str, list[str]]:
    with psycopg.connect(url) as conn:
        tables = dump(conn)
    return {table: tables[table] for table in RACE_TABLES}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def recording(pg_server: EmbeddedPostgres) -> AsyncIterator[Recording]:
    """A night meeting polled live (recording every response), from 23:30 NZ until every race settled."""
    seed = next(s for s in range(1, 500) if _crosses_midnight(s))
    clock = ManualClock(ANCHOR)
    with new_database(pg_server) as url:
        pool = await open_pool(url, PoolConfig(max=3))
        try:
            async with serve_simulator(seed=seed, clock=clock, meetings=DAY) as sim:
                client = NzTabClient.from_settings(SETTINGS, base_url=sim.base_url, retry=RetryPolicy())
                context = poll_context(SETTINGS, pool, client, clock)
                client.recorder = MeetingsRecorder(pool, clock, context.partitions)
                ladder = Ladder(context)
                await ladder.discover()
                await ladder.run_until_settled(clock)
                await client.aclose()
        finally:
            await pool.close()
        yield Recording(url, _race_tables(url), [race.race_id for race in sim.day.races])


async def test_every_response_was_recorded_compressed(recording: Recording) -> None:
    with psycopg.connect(recording.url) as conn:
        counts = dict(conn.execute("SELECT endpoint, count(*) FROM raw_responses GROUP BY 1").fetchall())
        snapshots = conn.execute("SELECT count(*) FROM race_snapshots").fetchall()[0][0]
        raw, packed = conn.execute(
            "SELECT sum(raw_bytes), sum(octet_length(body)) FROM raw_responses"
        ).fetchall()[0]
        days = conn.execute(
            "SELECT DISTINCT tableoid::regclass::text FROM raw_responses ORDER BY 1"
        ).fetchall()
    assert counts["events"] == snapshots  # no faults here: every event fetched was stored
    assert counts["meetings"] >= 1
    assert packed < raw / 5
    assert [d for (d,) in days] == [
        f"raw_responses_{nz_day(ANCHOR):%Y_%m_%d}",
        f"raw_responses_{nz_day(MIDNIGHT):%Y_%m_%d}",
    ]


async def test_wiped_and_rebuilt_the_tables_are_the_same(
    recording: Recording, reliability: ReliabilityReport
) -> None:
    with psycopg.connect(recording.url, autocommit=True) as conn:
        snapshots, raw, packed = conn.execute(
            "SELECT count(*), sum(raw_bytes), sum(octet_length(body)) FROM raw_responses"
            " WHERE endpoint = 'events'"
        ).fetchall()[0]
        conn.execute("TRUNCATE races, money_flow_history, odds_history CASCADE")
    pool = await open_pool(recording.url, PoolConfig(max=2))
    try:
        started = time.perf_counter()
        first = await rebuild_day(pool, nz_day(ANCHOR), **KINDS)
        rebuild_s = time.perf_counter() - started
        again = await rebuild_day(pool, nz_day(ANCHOR), **KINDS)
    finally:
        await pool.close()
    assert _race_tables(recording.url) == recording.original
    assert first.races == len(recording.races)
    assert first.changes["money_flow_history"].added == len(recording.original["money_flow_history"])
    assert first.unreadable == []
    assert not any(again.changes.values())  # run twice, it changes nothing
    reliability.record(
        "A day rebuilt from its recording",
        "a night meeting polled live through NZ midnight, every response recorded; the derived tables "
        "wiped, then rebuilt from the recording (`raceday replay`'s rebuild), twice",
        "the rebuilt tables equal live polling's, row for row, across midnight; the second rebuild "
        "changed nothing",
        races=first.races,
        race_events=snapshots,
        bytes_per_race_event=f"{raw // snapshots} raw, {packed // snapshots} kept",
        rebuild_s=round(rebuild_s, 2),
    )


async def test_replayed_through_the_simulator_into_a_fresh_database(
    recording: Recording, pg_server: EmbeddedPostgres
) -> None:
    async with await psycopg.AsyncConnection.connect(recording.url, autocommit=True) as conn:
        recorded = await recorded_day(conn, nz_day(ANCHOR))
    replayed = [Recorded(r.endpoint, r.request_key, r.generated_time, unpack(r.body)) for r in recorded]
    events = sorted((r.generated_time, r.race_id) for r in recorded if r.endpoint == "events")
    clock = ManualClock(events[0][0])
    with new_database(pg_server) as fresh:
        pool = await open_pool(fresh, PoolConfig(max=2))
        try:
            async with (
                serve_replay(replayed, clock=clock) as replay,
                NzTabClient.from_settings(SETTINGS, base_url=replay.base_url) as client,
            ):
                await read_listing(client, pool, clock, **KINDS)
                processor = RaceProcessor(client, pool, clock)
                for at, race_id in events:
                    clock.set(at)
                    assert race_id is not None
                    assert (await processor.process(race_id)).outcome == "ok"
        finally:
            await pool.close()
        assert _race_tables(fresh) == recording.original


async def test_a_corrupted_recording_is_named_and_the_rest_rebuilds(
    recording: Recording, reliability: ReliabilityReport
) -> None:
    with psycopg.connect(recording.url, autocommit=True) as conn:
        [(race_id, at)] = conn.execute(
            "SELECT race_id, generated_time FROM raw_responses WHERE endpoint = 'events'"
            " ORDER BY generated_time LIMIT 1 OFFSET 40"
        ).fetchall()
        conn.execute(
            "UPDATE raw_responses SET body = 'not zlib' WHERE race_id = %s AND generated_time = %s",
            (race_id, at),
        )
    pool = await open_pool(recording.url, PoolConfig(max=2))
    try:
        report = await rebuild_day(pool, nz_day(ANCHOR), **KINDS)
    finally:
        await pool.close()
    [unreadable] = report.unreadable
    assert unreadable.startswith(f"events {race_id} {at.isoformat()}: ")
    assert report.races == len(recording.races)
    rebuilt = _race_tables(recording.url)
    assert len(rebuilt["race_snapshots"]) == len(recording.original["race_snapshots"]) - 1
    others = [row for row in recording.original["money_flow_history"] if race_id not in row]
    assert [row for row in rebuilt["money_flow_history"] if race_id not in row] == others
    reliability.record(
        "A day rebuilt from its recording",
        "one recorded race event's body overwritten with bytes that do not decompress, then the day rebuilt",
        "the bad recording named by its key; every race rebuilt, the damaged race from its other snapshots",
    )
