"""Writing a real NZ TAB snapshot: exact stored values, change detection, idempotency, atomicity."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from raceday.db.partitions import PartitionKeeper
from raceday.db.writers import (
    INSERT_MONEY_FLOW,
    LAST_ODDS_BEFORE,
    UPDATE_LAST_STATUS_CHANGE,
    write_snapshot,
)
from raceday.domain.transform import Snapshot, transform_payload
from tests.domain.test_transform import EXPECTED
from tests.samples import load_sample

POLLED_AT = datetime(2025, 7, 17, 11, 17, 0, tzinfo=UTC)
# The sample's header.generated_time, 2025-07-17T11:16:59.18904298Z, cut to microseconds.
GENERATED = datetime(2025, 7, 17, 11, 16, 59, 189042, tzinfo=UTC)


def _snapshot(mutate: Any = None, generated: str | None = None) -> Snapshot:
    raw = load_sample("race-event-full-response.json")
    if mutate is not None:
        mutate(raw)
    if generated is not None:
        raw["header"]["generated_time"] = generated
    return transform_payload(json.dumps(raw).encode())


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:
        yield connection


async def _all(conn: psycopg.AsyncConnection[Any], sql: str, *params: Any) -> list[tuple[Any, ...]]:
    cursor = await conn.execute(sql, params)
    return await cursor.fetchall()


async def test_the_real_sample_is_stored_exactly(conn: psycopg.AsyncConnection[Any]) -> None:
    snapshot = _snapshot()
    result = await write_snapshot(conn, snapshot, POLLED_AT, PartitionKeeper())
    assert result.money_flow_rows == 8
    assert result.odds_rows == 32
    assert result.status_change == (None, "final")
    rows = await _all(
        conn,
        """
        SELECT e.runner_number, e.name, m.hold_percentage, m.bet_percentage, m.win_pool_amount,
               m.place_pool_amount, m.total_pool_amount, m.incremental_win_amount, m.type, m.pool_type,
               m.time_to_start, m.time_interval, m.interval_type, m.event_timestamp, m.polling_timestamp
        FROM money_flow_history m JOIN entrants e USING (entrant_id) ORDER BY e.runner_number
        """,
    )
    assert [row[0] for row in rows] == sorted(EXPECTED)
    for number, name, hold, bet, win, place, total, incr, kind, pool, tts, bucket, itype, ev, polled in rows:
        exp_name, exp_hold, exp_bet, exp_win, exp_place, exp_total = EXPECTED[number]
        assert (name, hold, bet) == (exp_name, Decimal(exp_hold), Decimal(exp_bet))
        assert (win, place, total, incr) == (exp_win, exp_place, exp_total, exp_win)
        assert (kind, pool, tts, bucket, itype) == ("bucketed_aggregation", "combined", -627, -627, "live")
        assert (ev, polled) == (GENERATED, POLLED_AT)
    pools = await _all(
        conn,
        "SELECT win_pool_total, place_pool_total, quinella_pool_total, trifecta_pool_total,"
        " first4_pool_total, exacta_pool_total, total_race_pool, extracted_pools, data_quality_score"
        " FROM race_pools",
    )
    assert pools == [
        (
            Decimal("9151.38"),
            Decimal("3923.51"),
            Decimal("5341.06"),
            Decimal("7976.24"),
            Decimal("4617.92"),
            Decimal("0.00"),
            Decimal("39136.72"),
            6,
            95,
        )
    ]
    ruji = await _all(
        conn,
        "SELECT hold_percentage, win_pool_amount, fixed_win_odds, jockey, barrier FROM entrants"
        " WHERE runner_number = 4",
    )
    assert ruji[0][:3] == (Decimal("16.00"), 146422, Decimal("4.20"))
    race = await _all(conn, "SELECT status, finalized_at, start_time FROM races")
    assert race == [("final", GENERATED, datetime(2025, 7, 17, 0, 50, tzinfo=UTC))]
    results = await _all(conn, "SELECT result_status, jsonb_array_length(results_data) FROM race_results")
    assert results == [("final", 8)]
    partition = await _all(conn, "SELECT DISTINCT tableoid::regclass::text FROM money_flow_history")
    assert partition == [("money_flow_history_2025_07_17",)]


async def test_reprocessing_a_snapshot_adds_and_touches_nothing(conn: psycopg.AsyncConnection[Any]) -> None:
    keeper = PartitionKeeper()
    await write_snapshot(conn, _snapshot(), POLLED_AT, keeper)
    stamps = await _all(conn, "SELECT entrant_id, updated_at FROM entrants ORDER BY 1")
    race_stamp = await _all(conn, "SELECT updated_at FROM races")
    pool_stamp = await _all(conn, "SELECT last_updated FROM race_pools")
    again = await write_snapshot(conn, _snapshot(), POLLED_AT + timedelta(seconds=15), keeper)
    assert (again.money_flow_rows, again.odds_rows, again.entrants_changed) == (0, 0, 0)
    assert not again.race_changed
    assert not again.pools_changed
    assert await _all(conn, "SELECT entrant_id, updated_at FROM entrants ORDER BY 1") == stamps
    assert await _all(conn, "SELECT updated_at FROM races") == race_stamp
    assert await _all(conn, "SELECT last_updated FROM race_pools") == pool_stamp
    assert await _all(conn, "SELECT count(*) FROM money_flow_history") == [(8,)]
    assert await _all(conn, "SELECT count(*) FROM odds_history") == [(32,)]


async def test_a_later_poll_appends_increments_and_only_changed_odds(
    conn: psycopg.AsyncConnection[Any],
) -> None:
    keeper = PartitionKeeper()

    def earlier(raw: dict[str, Any]) -> None:
        # Ten minutes before the start, with Ruji's pool smaller and odds higher.
        for pool in raw["data"]["tote_pools"]:
            if pool["product_type"] == "Win":
                pool["total"] = 8000.00

    def later(raw: dict[str, Any]) -> None:
        ruji = next(r for r in raw["data"]["runners"] if r["runner_number"] == 4)
        ruji["odds"]["fixed_win"] = 3.9

    await write_snapshot(conn, _snapshot(earlier, "2025-07-17T00:40:00Z"), POLLED_AT, keeper)
    second = await write_snapshot(conn, _snapshot(later, "2025-07-17T00:48:00Z"), POLLED_AT, keeper)
    assert second.money_flow_rows == 8
    assert second.odds_rows == 1
    ruji = await _all(
        conn,
        "SELECT m.time_interval, m.win_pool_amount, m.incremental_win_amount FROM money_flow_history m"
        " JOIN entrants e USING (entrant_id) WHERE e.runner_number = 4 ORDER BY m.event_timestamp",
    )
    # 8000 × 16 = 128000 c at 10 min; 146422 c at 2 min: the increment is the difference.
    assert ruji == [(10, 128000, 128000), (2, 146422, 18422)]
    entrant = await _all(
        conn, "SELECT fixed_win_odds, updated_at > created_at FROM entrants WHERE runner_number = 4"
    )
    assert entrant == [(Decimal("3.90"), True)]


async def test_amounts_of_any_size_go_in_one_prepared_call(conn: psycopg.AsyncConnection[Any]) -> None:
    """Amounts past 2^31 cents are stored whole, and however big, a poll's writes reach PostgreSQL as one
    prepared call of the poll function, never as the statements one by one."""
    keeper = PartitionKeeper()
    for minute in range(9):
        total = (10.0, 5_000.0, 500_000_000.0)[minute % 3]  # cents up to about 10^3, 10^5 and 10^10

        def sized(raw: dict[str, Any], total: float = total) -> None:
            for pool in raw["data"]["tote_pools"]:
                pool["total"] = total

        await write_snapshot(conn, _snapshot(sized, f"2025-07-17T00:{minute:02d}:00Z"), POLLED_AT, keeper)
    [(largest,)] = await _all(conn, "SELECT max(win_pool_amount) FROM money_flow_history")
    assert largest > 2**31
    assert await _all(conn, "SELECT win_pool_total FROM race_pools") == [(Decimal("500000000.00"),)]
    prepared = await _all(conn, "SELECT statement FROM pg_prepared_statements")
    assert [s for (s,) in prepared if "raceday_write_poll" in s] == ["SELECT * FROM raceday_write_poll($1)"]
    assert not [s for (s,) in prepared if "money_flow_history" in s]


async def test_a_status_change_is_reported_and_an_unknown_status_keeps_the_stored_one(
    conn: psycopg.AsyncConnection[Any],
) -> None:
    keeper = PartitionKeeper()

    def status(value: str) -> Any:
        return lambda raw: raw["data"]["race"].__setitem__("status", value)

    opened = await write_snapshot(conn, _snapshot(status("Open"), "2025-07-17T00:40:00Z"), POLLED_AT, keeper)
    closed = await write_snapshot(
        conn, _snapshot(status("Closed"), "2025-07-17T00:50:10Z"), POLLED_AT, keeper
    )
    odd = await write_snapshot(conn, _snapshot(status("Photo"), "2025-07-17T00:51:00Z"), POLLED_AT, keeper)
    assert opened.status_change == (None, "open")
    assert closed.status_change == ("open", "closed")
    assert odd.status_change is None
    race = await _all(conn, "SELECT status, last_status_change FROM races")
    assert race == [("closed", datetime(2025, 7, 17, 0, 50, 10, tzinfo=UTC))]


async def test_a_failure_rolls_back_the_whole_poll(conn: psycopg.AsyncConnection[Any]) -> None:
    # The last statement of the poll (its odds) fails: everything before it must go too.
    await conn.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
    )
    await conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON odds_history EXECUTE FUNCTION refuse()")
    with pytest.raises(psycopg.errors.RaiseException, match="disk full"):
        await write_snapshot(conn, _snapshot(), POLLED_AT, PartitionKeeper())
    for table in (
        "meetings", "races", "entrants", "race_pools", "race_results", "race_snapshots", "money_flow_history",
        "odds_history", "race_versions",
    ):  # fmt: skip
        assert await _all(conn, f"SELECT count(*) FROM {table}") == [(0,)], table


async def test_each_committed_poll_bumps_the_race_version_and_says_so(
    conn: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as listener:
        await listener.execute("LISTEN race_changed")
        await write_snapshot(conn, _snapshot(), POLLED_AT, PartitionKeeper())
        await write_snapshot(conn, _snapshot(), POLLED_AT, PartitionKeeper())
        heard = [n.payload async for n in _notifications(listener, 2)]
    race_id = _snapshot().race_id
    assert heard == [f"{race_id} 1", f"{race_id} 2"]
    assert await _all(conn, "SELECT race_id, version FROM race_versions") == [(race_id, 2)]


async def _notifications(listener: psycopg.AsyncConnection[Any], count: int) -> AsyncIterator[psycopg.Notify]:
    async for notify in listener.notifies(timeout=5, stop_after=count):
        yield notify


async def test_a_missing_partition_is_created_not_fatal(conn: psycopg.AsyncConnection[Any]) -> None:
    snapshot = _snapshot(generated="2031-03-04T01:00:00Z")
    result = await write_snapshot(conn, snapshot, POLLED_AT, PartitionKeeper())
    assert result.money_flow_rows == 8
    tables = await _all(conn, "SELECT DISTINCT tableoid::regclass::text FROM odds_history")
    assert tables == [("odds_history_2031_03_04",)]


def _rows_read(plan: Any, table: str) -> int:
    """Rows a plan's scans of `table` (or its partitions) returned or filtered away, over all loops."""
    read = 0
    name = plan.get("Relation Name", "")
    if name == table or name.startswith(f"{table}_"):
        read += (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)) * plan["Actual Loops"]
    return read + sum(_rows_read(child, table) for child in plan.get("Plans", ()))


async def test_when_the_status_last_changed_is_read_from_a_few_snapshots_however_many_there_are(
    conn: psycopg.AsyncConnection[Any],
) -> None:
    """Every poll works out `last_status_change`; a race polled hundreds of times must not make each poll
    read every snapshot it has (that made the 200th poll of a race 2.3 ms dearer than the first)."""
    await write_snapshot(conn, _snapshot(), POLLED_AT, PartitionKeeper())
    [(race_id,)] = await _all(conn, "SELECT race_id FROM races")
    # 600 earlier snapshots: open, then closed, then interim; the race is final since the sample's.
    await conn.execute(
        "INSERT INTO race_snapshots (race_id, generated_time, status, terminal, has_runners, has_money,"
        " has_pools, has_results)"
        " SELECT %s, %s - g * interval '15 seconds',"
        "  CASE WHEN g > 400 THEN 'open' WHEN g > 200 THEN 'closed' ELSE 'interim' END,"
        "  false, true, true, true, false"
        " FROM generate_series(1, 600) g",
        (race_id, GENERATED),
    )
    await conn.execute("ANALYZE race_snapshots")
    await conn.execute("UPDATE races SET last_status_change = NULL")
    async with conn.transaction(force_rollback=True):
        cursor = await conn.execute(
            b"EXPLAIN (ANALYZE, FORMAT JSON) " + UPDATE_LAST_STATUS_CHANGE.encode(), {"race_id": race_id}
        )
        [(explained,)] = await cursor.fetchall()
    assert _rows_read(explained[0]["Plan"], "race_snapshots") <= 20
    await conn.execute(UPDATE_LAST_STATUS_CHANGE, {"race_id": race_id})
    # Final since the sample's own snapshot: the interim ones before it are the last other status.
    assert await _all(conn, "SELECT status, last_status_change FROM races") == [("final", GENERATED)]


async def test_the_last_prices_before_a_poll_are_read_a_row_each_however_long_the_history(
    conn: psycopg.AsyncConnection[Any],
) -> None:
    """Every poll reads each runner's last stored prices; reading every row since the race's first snapshot
    made a poll two hours into a race about 3 ms dearer than its first."""
    await write_snapshot(conn, _snapshot(), POLLED_AT, PartitionKeeper())
    [(race_id,)] = await _all(conn, "SELECT race_id FROM races")
    # 300 earlier rows a price, 15 s apart: the latest, 15 s before the sample's, is 1.51.
    await conn.execute(
        "INSERT INTO odds_history (entrant_id, type, odds, event_timestamp)"
        " SELECT k.entrant_id, k.type, 1.5 + g / 100.0, %s - g * interval '15 seconds'"
        " FROM (SELECT DISTINCT entrant_id, type FROM odds_history) k, generate_series(1, 300) g",
        (GENERATED,),
    )
    await conn.execute("ANALYZE odds_history")
    params = {"race_id": race_id, "at": GENERATED, "first_snapshot": GENERATED - timedelta(hours=2)}
    cursor = await conn.execute(b"EXPLAIN (ANALYZE, FORMAT JSON) " + LAST_ODDS_BEFORE.encode(), params)
    [(explained,)] = await cursor.fetchall()
    last = await (await conn.execute(LAST_ODDS_BEFORE, params)).fetchall()
    assert len(last) == 32  # 8 runners, 4 prices each
    assert {odds for _, _, odds in last} == {Decimal("1.51")}
    # A few rows a price (an index of runner and time passes the runner's other prices), not 300.
    assert _rows_read(explained[0]["Plan"], "odds_history") <= 32 * 4


async def test_a_poll_an_hour_or_more_out_looks_for_no_earlier_bucket(
    conn: psycopg.AsyncConnection[Any],
) -> None:
    """Increments are against the runner's latest row in an earlier bucket, and the earliest (60: an hour or
    more out) has none; looking read every row the runner had in it, so polls grew dearer by the hour."""
    await write_snapshot(conn, _snapshot(), POLLED_AT, PartitionKeeper())
    [(race_id,)] = await _all(conn, "SELECT race_id FROM races")
    runners = [row[0] for row in await _all(conn, "SELECT entrant_id FROM entrants ORDER BY entrant_id")]
    # 300 earlier rows a runner, a minute apart, all in the earliest bucket.
    await conn.execute(
        "INSERT INTO money_flow_history (entrant_id, race_id, type, time_interval, event_timestamp,"
        "  polling_timestamp, win_pool_amount, place_pool_amount)"
        " SELECT e.entrant_id, e.race_id, 'bucketed_aggregation', 60, %(at)s - g * interval '1 minute',"
        "  %(at)s - g * interval '1 minute', 100 * g, 50 * g"
        " FROM entrants e, generate_series(1, 300) g",
        {"at": GENERATED},
    )
    at = GENERATED - timedelta(seconds=30)
    poll = {"race_id": race_id, "time_to_start": 90, "time_interval": 60, "interval_type": "5m", "at": at}
    span = {"polled_at": at, "first_snapshot": at - timedelta(hours=6), "last_snapshot": GENERATED}
    flow = {name: [None] * len(runners) for name in re.findall(r"%\((f_\w+)\)s", INSERT_MONEY_FLOW)}
    amounts = {"f_entrant_id": runners, "f_win_pool_amount": [7] * len(runners)}
    amounts["f_place_pool_amount"] = [3] * len(runners)
    async with conn.transaction(force_rollback=True):
        cursor = await conn.execute(
            b"EXPLAIN (ANALYZE, FORMAT JSON) " + INSERT_MONEY_FLOW.encode(), poll | span | flow | amounts
        )
        [(explained,)] = await cursor.fetchall()
        increments = await _all(
            conn,
            "SELECT incremental_win_amount, incremental_place_amount FROM money_flow_history"
            " WHERE event_timestamp = %s",
            at,
        )
    assert _rows_read(explained[0]["Plan"], "money_flow_history") == 0
    # No earlier bucket: each row carries its full amounts, as a runner's first row does.
    assert increments == [(7, 3)] * len(runners) == [(7, 3)] * 8


async def test_a_poll_reads_and_writes_its_own_days_partitions_however_many_days_are_kept(
    conn: psycopg.AsyncConnection[Any],
) -> None:
    """A month of history is 30 daily partitions a table: a poll planned over all of them, or locking all
    of them, nearly doubled its PostgreSQL CPU against one on a new database."""
    partitions = PartitionKeeper()
    await partitions.ensure_days_before(conn, date(2025, 7, 17), 30)  # the 30 before the sample's NZ day
    async with conn.transaction(force_rollback=True):
        await write_snapshot(conn, _snapshot(), POLLED_AT, partitions)
        # A late poll of the same race: its rows' successors are corrected, which reads and updates history.
        late = _snapshot(generated="2025-07-17T11:16:29.000000Z")
        result = await write_snapshot(conn, late, POLLED_AT, partitions)
        assert result.money_flow_rows == 8
        locked = await _all(
            conn,
            """SELECT DISTINCT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
               JOIN pg_inherits i ON i.inhrelid = c.oid
               WHERE l.pid = pg_backend_pid() AND i.inhparent IN
                 ('money_flow_history'::regclass, 'odds_history'::regclass)
               ORDER BY 1""",
        )
    assert locked == [("money_flow_history_2025_07_17",), ("odds_history_2025_07_17",)]
