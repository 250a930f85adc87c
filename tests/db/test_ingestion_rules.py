"""The ingestion rules one by one, on a simulated race written through the real writer (PostgreSQL 18).

Each test delivers snapshots the way a real feed misbehaves (late, out of order, partial, garbled, after
the race is final) and checks what a bettor would then be shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from raceday.core.nztime import nz_day
from raceday.db import queries
from raceday.db.partitions import PartitionKeeper
from raceday.db.writers import WriteResult, upsert_meetings, write_snapshot
from raceday.domain.rows import Snapshot
from raceday.simulator.day import SimDay, generate_day
from raceday.simulator.model import SimRace
from tests.snapshots import (
    ANCHOR,
    Body,
    a_race,
    altered,
    at_time,
    bodies,
    drop_pools,
    drop_tracker,
    say_status,
    to_snapshot,
    zero_pools,
)

DAY = generate_day(3, ANCHOR)
RACE = a_race(DAY)


def body_at(at: datetime, day: SimDay = DAY, race: SimRace = RACE) -> Body:
    return bodies(day, race, [at])[0]


def snap(at: datetime, *changes: Any) -> Snapshot:
    body = body_at(at)
    for change in changes:
        body = altered(body, change)
    return to_snapshot(body)


class Db:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.keeper = PartitionKeeper()

    async def write(self, snapshot: Snapshot) -> WriteResult:
        return await write_snapshot(self.conn, snapshot, snapshot.event_timestamp, self.keeper)

    async def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        cursor = await self.conn.execute(sql, params)
        return await cursor.fetchall()

    async def one(self, sql: str, *params: Any) -> Any:
        rows = await self.rows(sql, *params)
        assert len(rows) == 1, rows
        return rows[0][0] if len(rows[0]) == 1 else rows[0]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Db]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        yield Db(conn)


T10 = RACE.start - timedelta(minutes=10)
T7 = RACE.start - timedelta(minutes=7)
T4 = RACE.start - timedelta(minutes=4)
T2 = RACE.start - timedelta(minutes=2)


def runner(snapshot: Snapshot, index: int = 0) -> str:
    return [e.entrant_id for e in snapshot.entrants if not e.is_scratched][index]


async def test_newest_wins_whatever_order_the_polls_arrive_in(db: Db) -> None:
    newer, older = snap(T2), snap(T10)
    entrant = runner(newer)
    await db.write(newer)
    await db.write(older)  # arrives late
    amount, hold = await db.one(
        "SELECT win_pool_amount, hold_percentage FROM entrants WHERE entrant_id = %s", entrant
    )
    expected = next(e for e in newer.entrants if e.entrant_id == entrant)
    assert (amount, hold) == (expected.win_pool_amount, expected.hold_percentage)
    assert newer.pools is not None
    assert older.pools is not None
    assert newer.pools.win > older.pools.win  # the pools grow: the older snapshot would show less
    assert await db.one("SELECT win_pool_total, last_updated FROM race_pools") == (
        newer.pools.win,
        newer.event_timestamp,
    )
    stamps = await db.one("SELECT snapshot_at, runners_at, money_at, status_at FROM races")
    assert stamps == (newer.event_timestamp,) * 4


async def test_a_late_snapshot_takes_its_place_and_corrects_the_increment_after_it(db: Db) -> None:
    first, middle, last = snap(T10), snap(T7), snap(T4)
    entrant = runner(first)
    amounts = {
        s.event_timestamp: next(f.win_pool_amount for f in s.money_flow if f.entrant_id == entrant)
        for s in (first, middle, last)
    }
    assert first.time_interval > middle.time_interval > last.time_interval  # 10, 5, 4: three buckets
    await db.write(first)
    await db.write(last)
    before = await db.rows(
        "SELECT event_timestamp, incremental_win_amount FROM money_flow_history WHERE entrant_id = %s"
        " ORDER BY event_timestamp",
        entrant,
    )
    a, c = amounts[first.event_timestamp], amounts[last.event_timestamp]
    assert before == [(first.event_timestamp, a), (last.event_timestamp, c - a)]
    result = await db.write(middle)  # lands between the two stored rows
    after = await db.rows(
        "SELECT event_timestamp, incremental_win_amount FROM money_flow_history WHERE entrant_id = %s"
        " ORDER BY event_timestamp",
        entrant,
    )
    b = amounts[middle.event_timestamp]
    assert after == [
        (first.event_timestamp, a),
        (middle.event_timestamp, b - a),
        (last.event_timestamp, c - b),
    ]
    assert result.money_flow_rows == len(middle.money_flow)


async def test_increments_are_against_the_latest_row_of_an_earlier_bucket_by_event_time(db: Db) -> None:
    # Two polls in the 10-minute bucket, then one in the 5-minute bucket, delivered backwards.
    early_10 = snap(T10 + timedelta(seconds=-30))
    late_10 = snap(T10 + timedelta(seconds=30))
    five = snap(T7)
    entrant = runner(five)
    assert early_10.time_interval == late_10.time_interval == 10
    for snapshot in (five, late_10, early_10):
        await db.write(snapshot)

    def amount(s: Snapshot) -> int:
        return next(f.win_pool_amount for f in s.money_flow if f.entrant_id == entrant)

    rows = await db.rows(
        "SELECT incremental_win_amount FROM money_flow_history WHERE entrant_id = %s"
        " ORDER BY event_timestamp",
        entrant,
    )
    # Both 10-minute rows count from nothing (no earlier bucket); the 5-minute row from the later of them.
    assert rows == [(amount(early_10),), (amount(late_10),), (amount(five) - amount(late_10),)]


async def test_a_final_race_stays_final_and_the_anomaly_is_not_applied(db: Db) -> None:
    final_at = RACE.final_at + timedelta(minutes=1)
    final = snap(final_at)
    assert final.race.status == "final"
    anomaly = to_snapshot(at_time(altered(body_at(T2), say_status("Open")), final_at + timedelta(minutes=2)))
    written = await db.write(final)
    late = await db.write(anomaly)
    assert late.stored_status == "final"
    assert late.status_change is None
    status, status_at, finalized = await db.one("SELECT status, status_at, finalized_at FROM races")
    assert (status, status_at, finalized) == ("final", final.event_timestamp, final.event_timestamp)
    # The anomaly's prices are not served as current: the final snapshot outranks it.
    entrant = runner(final)
    odds = await db.one("SELECT fixed_win_odds FROM entrants WHERE entrant_id = %s", entrant)
    assert odds == next(e.fixed_win_odds for e in final.entrants if e.entrant_id == entrant)
    assert written.stored_status == "final"


async def test_a_poll_without_a_money_tracker_keeps_the_last_holds_and_amounts(db: Db) -> None:
    good = snap(T10)
    partial = snap(T4, drop_tracker)
    assert not partial.has_money
    assert [r.part for r in partial.rejections] == ["money"]
    entrant = runner(good)
    await db.write(good)
    written = await db.write(partial)
    assert written.money_flow_rows == 0
    hold, amount = await db.one(
        "SELECT hold_percentage, win_pool_amount FROM entrants WHERE entrant_id = %s", entrant
    )
    expected = next(e for e in good.entrants if e.entrant_id == entrant)
    assert (hold, amount) == (expected.hold_percentage, expected.win_pool_amount)
    # The rest of the partial poll is kept: its pools and odds are the newest.
    assert partial.pools is not None
    assert await db.one("SELECT win_pool_total FROM race_pools") == partial.pools.win
    assert await db.one("SELECT money_at, runners_at FROM races") == (
        good.event_timestamp,
        partial.event_timestamp,
    )
    assert await db.one("SELECT count(*) FROM money_flow_history WHERE event_timestamp = %s", T4) == 0


async def test_missing_or_empty_pools_keep_the_last_pools(db: Db) -> None:
    good, empty, missing = snap(T10), snap(T7, zero_pools), snap(T4, drop_pools)
    assert empty.pools is None
    assert missing.pools is None
    assert empty.rejections == ()  # nothing bet: not an error, just nothing to store
    assert [(r.part, r.field) for r in missing.rejections] == [("pools", "data.tote_pools")]
    for snapshot in (good, empty, missing):
        await db.write(snapshot)
    assert good.pools is not None
    assert await db.one("SELECT win_pool_total, last_updated FROM race_pools") == (
        good.pools.win,
        good.event_timestamp,
    )


async def test_a_runner_that_leaves_the_field_is_not_served_as_live(db: Db) -> None:
    full = snap(T10)
    gone = runner(full, 1)

    def without(body: Body) -> None:
        body["data"]["runners"] = [r for r in body["data"]["runners"] if r["entrant_id"] != gone]

    await db.write(full)
    await db.write(snap(T4, without))
    assert await db.one("SELECT in_field FROM entrants WHERE entrant_id = %s", gone) is False
    body = await queries.entrants_json(db.conn, RACE.race_id, 5)
    assert body is not None
    assert gone not in body
    assert runner(full, 0) in body


async def test_a_doubled_tracker_is_rejected_naming_the_field_and_the_rest_is_stored(db: Db) -> None:
    def doubled(body: Body) -> None:
        tracker = body["data"]["money_tracker"]["entrants"]
        tracker.extend([dict(entry) for entry in tracker])

    snapshot = snap(T4, doubled)
    [rejection] = snapshot.rejections
    assert rejection.part == "money"
    assert rejection.field == "data.money_tracker.entrants[*].hold_percentage (sum)"
    assert Decimal(rejection.value) > 180
    written = await db.write(snapshot)
    assert written.money_flow_rows == 0
    assert written.odds_rows > 0  # the odds of the same poll are stored
    assert await db.one("SELECT count(*) FROM race_pools") == 1
    assert await db.one("SELECT count(*) FROM entrants WHERE hold_percentage IS NOT NULL") == 0


async def test_odds_that_overflow_their_column_reject_the_runners_part_only(db: Db) -> None:
    def huge(body: Body) -> None:
        body["data"]["runners"][0]["odds"]["fixed_win"] = 10**12

    snapshot = snap(T4, huge)
    assert [r.part for r in snapshot.rejections] == ["runners"]
    assert snapshot.rejections[0].field == "data.runners[0].odds.fixed_win"
    assert snapshot.rejections[0].value == "1000000000000"
    written = await db.write(snapshot)
    assert (written.entrants_changed, written.odds_rows, written.money_flow_rows) == (0, 0, 0)
    assert await db.one("SELECT status FROM races") == "open"
    assert snapshot.pools is not None
    assert await db.one("SELECT win_pool_total FROM race_pools") == snapshot.pools.win


async def test_two_final_races_of_a_meeting_written_together_settle_it(database_url: str) -> None:
    meeting = next(
        m for m in DAY.meetings if len(m.races) >= 2 and all(r.abandon_at is None for r in m.races)
    )
    finals = [to_snapshot(body_at(race.final_at + timedelta(minutes=1), race=race)) for race in meeting.races]
    keeper = PartitionKeeper()
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        # The meetings list knows the meeting's races, and each race was polled while open.
        first = meeting.races[0]
        listed = to_snapshot(body_at(first.start - timedelta(minutes=5), race=first)).meeting
        await upsert_meetings(conn, [replace(listed, race_ids=tuple(r.race_id for r in meeting.races))])
        for race in meeting.races:
            await write_snapshot(
                conn, to_snapshot(body_at(race.start - timedelta(minutes=5), race=race)), race.start, keeper
            )
        assert await (await conn.execute("SELECT status FROM meetings")).fetchall() == [("active",)]
        # Hold each poll open after it has settled its meeting (odds come last), so that without the
        # meeting's row lock each would settle before the others commit and leave the meeting active.
        await conn.execute(
            "CREATE FUNCTION hold_a_moment() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$"
        )
        await conn.execute(
            "CREATE TRIGGER hold BEFORE INSERT ON odds_history FOR EACH STATEMENT"
            " EXECUTE FUNCTION hold_a_moment()"
        )

    async def write(snapshot: Snapshot) -> None:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await write_snapshot(conn, snapshot, snapshot.event_timestamp, keeper)

    await asyncio.gather(*(write(s) for s in finals))
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT status FROM meetings WHERE meeting_id = %s", (meeting.meeting_id,)
        )
        assert await cursor.fetchall() == [("completed",)]


async def test_a_day_whose_partition_was_detached_is_written_again(db: Db) -> None:
    snapshot = snap(T4)
    await db.write(snap(T10))
    partition = f"money_flow_history_{nz_day(snapshot.event_timestamp):%Y_%m_%d}"
    await db.conn.execute(f"ALTER TABLE money_flow_history DETACH PARTITION {partition}")
    written = await db.write(snapshot)  # the keeper still believes the day's partition is there
    assert written.money_flow_rows == len(snapshot.money_flow)
    parent = await db.one(
        "SELECT p.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent WHERE c.relname = %s",
        partition,
    )
    assert parent == "money_flow_history"
    # The rows written before the detach are back with it.
    assert await db.one("SELECT count(DISTINCT event_timestamp) FROM money_flow_history") == 2


async def test_the_snapshot_ledger_keeps_the_history_retention(db: Db) -> None:
    await db.write(snap(T10))
    await db.write(snap(T4))
    assert await db.one("SELECT count(*) FROM race_snapshots") == 2
    # The simulated day (March 2026) is more than 30 days before today: its partitions and ledger go.
    detached = await db.keeper.detach_older_than(db.conn, 30)
    assert f"money_flow_history_{nz_day(T4):%Y_%m_%d}" in detached
    assert await db.one("SELECT count(*) FROM race_snapshots") == 0
    assert await db.one("SELECT count(*) FROM races") == 1
