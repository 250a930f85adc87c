"""Bulk, change-detecting writes of one poll, in one transaction.

Core rows are UPSERTed with `WHERE (...) IS DISTINCT FROM (...)`, so an unchanged row is not
touched and its `updated_at` stays put. History rows are appended with arrays passed through
`unnest` (one statement per table, fully parameterised) and `ON CONFLICT DO NOTHING` on the
snapshot's unique key, so re-processing a snapshot adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from raceday.core.nztime import nz_day
from raceday.domain import money_flow as mf
from raceday.domain.history import history_window
from raceday.domain.rows import MeetingRow, Snapshot

HISTORY_TABLES = ("money_flow_history", "odds_history")

_MEETING_COLUMNS = (
    "meeting_id", "meeting_name", "country", "race_type", "date", "status", "category",
    "category_name", "state", "track_condition", "tote_status", "data_source",
)  # fmt: skip
_MEETING_TYPES = ("text",) * 4 + ("date",) + ("text",) * 7

_ENTRANT_COLUMNS = (
    "entrant_id", "race_id", "name", "runner_number", "barrier", "jockey", "trainer_name",
    "silk_colours", "silk_url_64x64", "silk_url_128x128", "is_scratched", "is_late_scratched",
    "is_emergency", "scratch_time", "favourite", "mover", "fixed_win_odds", "fixed_place_odds",
    "pool_win_odds", "pool_place_odds", "hold_percentage", "bet_percentage", "win_pool_percentage",
    "place_pool_percentage", "win_pool_amount", "place_pool_amount",
)  # fmt: skip
_ENTRANT_TYPES = (
    "text", "text", "text", "int", "int", "text", "text", "text", "text", "text", "bool", "bool",
    "bool", "timestamptz", "bool", "bool", "numeric", "numeric", "numeric", "numeric", "numeric",
    "numeric", "numeric", "numeric", "bigint", "bigint",
)  # fmt: skip

_RACE_COLUMNS = (
    "race_id", "meeting_id", "name", "race_number", "start_time", "actual_start", "race_date_nz",
    "start_time_nz", "distance", "track_condition", "track_surface", "weather", "type", "country",
    "entrant_count", "field_size", "positions_paid", "total_prize_money", "silk_url", "silk_base_url",
)  # fmt: skip

_FLOW_COLUMNS = (
    "entrant_id", "hold_percentage", "bet_percentage", "win_pool_amount", "place_pool_amount",
    "total_pool_amount", "win_pool_percentage", "place_pool_percentage", "incremental_win_amount",
    "incremental_place_amount", "fixed_win_odds", "fixed_place_odds", "pool_win_odds",
    "pool_place_odds",
)  # fmt: skip
_FLOW_TYPES = (
    "text", "numeric", "numeric", "bigint", "bigint", "bigint", "numeric", "numeric", "bigint",
    "bigint", "numeric", "numeric", "numeric", "numeric",
)  # fmt: skip


def _unnest(types: Sequence[str]) -> str:
    return ", ".join(f"%s::{kind}[]" for kind in types)


def _distinct(table: str, columns: Iterable[str]) -> str:
    names = list(columns)
    left = ", ".join(f"{table}.{c}" for c in names)
    right = ", ".join(f"EXCLUDED.{c}" for c in names)
    return f"({left}) IS DISTINCT FROM ({right})"


def _set(columns: Iterable[str]) -> str:
    return ", ".join(f"{c} = EXCLUDED.{c}" for c in columns)


def _columns_of(rows: Sequence[Any], names: Sequence[str]) -> list[list[Any]]:
    return [[getattr(row, name) for row in rows] for name in names]


_MEETING_MUTABLE = _MEETING_COLUMNS[1:]
UPSERT_MEETINGS = f"""
INSERT INTO meetings ({", ".join(_MEETING_COLUMNS)})
SELECT * FROM unnest({_unnest(_MEETING_TYPES)})
ON CONFLICT (meeting_id) DO UPDATE SET {_set(_MEETING_MUTABLE)}
WHERE {_distinct("meetings", _MEETING_MUTABLE)}
"""

INSERT_MEETING_IF_MISSING = f"""
INSERT INTO meetings ({", ".join(_MEETING_COLUMNS)})
VALUES ({", ".join(["%s"] * len(_MEETING_COLUMNS))})
ON CONFLICT (meeting_id) DO NOTHING
"""

_ENTRANT_MUTABLE = _ENTRANT_COLUMNS[1:]
UPSERT_ENTRANTS = f"""
INSERT INTO entrants ({", ".join(_ENTRANT_COLUMNS)})
SELECT * FROM unnest({_unnest(_ENTRANT_TYPES)})
ON CONFLICT (entrant_id) DO UPDATE SET {_set(_ENTRANT_MUTABLE)}
WHERE {_distinct("entrants", _ENTRANT_MUTABLE)}
"""

_RACE_MUTABLE = _RACE_COLUMNS[1:]
# `status` is NULL when NZ TAB sent one we don't know: the stored status is then kept.
UPSERT_RACE = f"""
INSERT INTO races ({", ".join(_RACE_COLUMNS)}, status, last_status_change, finalized_at, abandoned_at)
VALUES ({", ".join(f"%({c})s" for c in _RACE_COLUMNS)}, COALESCE(%(status)s, 'open'), %(at)s,
        CASE WHEN %(status)s = 'final' THEN %(at)s END,
        CASE WHEN %(status)s = 'abandoned' THEN %(at)s END)
ON CONFLICT (race_id) DO UPDATE SET {_set(_RACE_MUTABLE)},
  status = COALESCE(%(status)s, races.status),
  last_status_change = CASE WHEN COALESCE(%(status)s, races.status) IS DISTINCT FROM races.status
                            THEN %(at)s ELSE races.last_status_change END,
  finalized_at = CASE WHEN %(status)s = 'final' AND races.status <> 'final'
                      THEN %(at)s ELSE races.finalized_at END,
  abandoned_at = CASE WHEN %(status)s = 'abandoned' AND races.status <> 'abandoned'
                      THEN %(at)s ELSE races.abandoned_at END
WHERE {_distinct("races", _RACE_MUTABLE)}
   OR COALESCE(%(status)s, races.status) IS DISTINCT FROM races.status
RETURNING old.status AS old_status, new.status AS new_status
"""

_POOL_COLUMNS = (
    "win_pool_total", "place_pool_total", "quinella_pool_total", "trifecta_pool_total",
    "exacta_pool_total", "first4_pool_total", "total_race_pool", "data_quality_score", "extracted_pools",
)  # fmt: skip
UPSERT_POOLS = f"""
INSERT INTO race_pools (race_id, {", ".join(_POOL_COLUMNS)})
VALUES ({", ".join(["%s"] * (len(_POOL_COLUMNS) + 1))})
ON CONFLICT (race_id) DO UPDATE SET {_set(_POOL_COLUMNS)}, last_updated = now()
WHERE {_distinct("race_pools", _POOL_COLUMNS)}
"""

_RESULT_COLUMNS = (
    "results_data", "dividends_data", "fixed_odds_data", "result_status", "photo_finish",
    "stewards_inquiry", "protest_lodged",
)  # fmt: skip
UPSERT_RESULT = f"""
INSERT INTO race_results (race_id, results_available, {", ".join(_RESULT_COLUMNS)}, result_time)
VALUES (%s, true, {", ".join(["%s"] * len(_RESULT_COLUMNS))}, %s)
ON CONFLICT (race_id) DO UPDATE SET results_available = true, {_set(_RESULT_COLUMNS)},
  result_time = EXCLUDED.result_time
WHERE {_distinct("race_results", _RESULT_COLUMNS)}
"""

# Once every race of a meeting is settled the meeting is too: cancelled if all were abandoned.
SETTLE_MEETING = """
UPDATE meetings m
SET status = CASE WHEN r.all_abandoned THEN 'cancelled' ELSE 'completed' END
FROM (
  SELECT bool_and(status = 'abandoned') AS all_abandoned,
         bool_and(status IN ('final', 'abandoned')) AS settled
  FROM races WHERE meeting_id = %(meeting_id)s
) r
WHERE m.meeting_id = %(meeting_id)s AND r.settled
  AND m.status IS DISTINCT FROM CASE WHEN r.all_abandoned THEN 'cancelled' ELSE 'completed' END
"""

PREVIOUS_AMOUNTS = """
SELECT DISTINCT ON (entrant_id) entrant_id, win_pool_amount, place_pool_amount
FROM money_flow_history
WHERE race_id = %s AND type = 'bucketed_aggregation' AND time_interval > %s
  AND event_timestamp >= %s AND event_timestamp < %s
ORDER BY entrant_id, polling_timestamp DESC, id DESC
"""

INSERT_MONEY_FLOW = f"""
INSERT INTO money_flow_history (
  entrant_id, race_id, hold_percentage, bet_percentage, type, time_to_start, time_interval,
  interval_type, event_timestamp, polling_timestamp, win_pool_amount, place_pool_amount,
  win_pool_percentage, place_pool_percentage, incremental_amount, incremental_win_amount,
  incremental_place_amount, pool_type, is_consolidated, total_pool_amount, fixed_win_odds,
  fixed_place_odds, pool_win_odds, pool_place_odds)
SELECT u.entrant_id, %s, u.hold_percentage, u.bet_percentage, '{mf.BUCKETED}', %s, %s, %s, %s, %s,
  u.win_pool_amount, u.place_pool_amount, u.win_pool_percentage, u.place_pool_percentage,
  u.incremental_win_amount, u.incremental_win_amount, u.incremental_place_amount, '{mf.COMBINED}',
  false, u.total_pool_amount, u.fixed_win_odds, u.fixed_place_odds, u.pool_win_odds, u.pool_place_odds
FROM unnest({_unnest(_FLOW_TYPES)}) AS u({", ".join(_FLOW_COLUMNS)})
ON CONFLICT (entrant_id, event_timestamp) DO NOTHING
"""

LAST_ODDS = """
SELECT DISTINCT ON (entrant_id, type) entrant_id, type, odds
FROM odds_history
WHERE entrant_id = ANY(%s) AND event_timestamp >= %s AND event_timestamp < %s
ORDER BY entrant_id, type, event_timestamp DESC
"""

INSERT_ODDS = """
INSERT INTO odds_history (entrant_id, type, odds, event_timestamp)
SELECT u.entrant_id, u.type, u.odds, %s
FROM unnest(%s::text[], %s::text[], %s::numeric[]) AS u(entrant_id, type, odds)
ON CONFLICT (entrant_id, type, event_timestamp) DO NOTHING
"""


@dataclass(frozen=True)
class WriteResult:
    """What one poll's transaction changed; `status_change` is (old, new) when the status moved."""

    race_changed: bool
    entrants_changed: int
    pools_changed: bool
    money_flow_rows: int
    odds_rows: int
    result_changed: bool
    status_change: tuple[str | None, str] | None

    @property
    def rows(self) -> dict[str, int]:
        return {
            "entrants": self.entrants_changed,
            "money_flow": self.money_flow_rows,
            "odds": self.odds_rows,
        }


class PartitionKeeper:
    """Creates a missing daily partition before a write needs it; remembers the ones it has seen."""

    def __init__(self) -> None:
        self._known: set[date] = set()

    async def ensure(self, conn: AsyncConnection[Any], day: date) -> None:
        if day in self._known:
            return
        for table in HISTORY_TABLES:
            await conn.execute("SELECT ensure_daily_partition(%s, %s)", (table, day))
        self._known.add(day)

    async def ensure_ahead(self, conn: AsyncConnection[Any], days: int) -> list[str]:
        cursor = await conn.execute("SELECT ensure_partitions_ahead(%s)", (days,))
        return [row[0] for row in await cursor.fetchall()]

    async def detach_older_than(self, conn: AsyncConnection[Any], retention_days: int) -> list[str]:
        cursor = await conn.execute("SELECT detach_old_partitions(%s)", (retention_days,))
        return [row[0] for row in await cursor.fetchall()]


async def upsert_meetings(conn: AsyncConnection[Any], meetings: Sequence[MeetingRow]) -> int:
    if not meetings:
        return 0
    cursor = await conn.execute(UPSERT_MEETINGS, _columns_of(meetings, _MEETING_COLUMNS))
    return cursor.rowcount


def _money_flow_params(
    previous_rows: list[tuple[Any, ...]], snapshot: Snapshot, polled_at: datetime
) -> list[Any]:
    rows = snapshot.money_flow
    previous: dict[str, tuple[int | None, int | None]] = {
        entrant: (win, place) for entrant, win, place in previous_rows
    }
    increments = mf.incremental_amounts(rows, previous)
    columns = _columns_of(rows, _FLOW_COLUMNS[:8])
    columns += [[win for win, _ in increments], [place for _, place in increments]]
    columns += _columns_of(rows, _FLOW_COLUMNS[10:])
    at = snapshot.event_timestamp
    return [
        snapshot.race_id,
        snapshot.time_to_start,
        snapshot.time_interval,
        snapshot.interval_type,
        at,
        polled_at,
        *columns,
    ]


def _result_params(snapshot: Snapshot) -> tuple[Any, ...] | None:
    result = snapshot.result
    if result is None:
        return None
    return (
        result.race_id,
        Jsonb(result.results_data),
        Jsonb(result.dividends_data),
        Jsonb(result.fixed_odds_data),
        result.result_status,
        result.photo_finish,
        result.stewards_inquiry,
        result.protest_lodged,
        snapshot.event_timestamp,
    )


def _pool_params(snapshot: Snapshot) -> list[Any] | None:
    pools = snapshot.pools
    if pools is None:
        return None
    return [
        pools.race_id, pools.win, pools.place, pools.quinella, pools.trifecta, pools.exacta,
        pools.first4, pools.total, pools.data_quality_score, pools.extracted_pools,
    ]  # fmt: skip


async def write_snapshot(
    conn: AsyncConnection[Any],
    snapshot: Snapshot,
    polled_at: datetime,
    partitions: PartitionKeeper,
) -> WriteResult:
    """Everything one poll stores, all or nothing.

    Statements go out in pipeline mode: the upserts and the two look-ups of stored history
    travel in one round trip, the history inserts and the commit in a second.
    """
    await partitions.ensure(conn, nz_day(snapshot.event_timestamp))
    race = snapshot.race
    at = snapshot.event_timestamp
    race_params = {c: getattr(race, c) for c in _RACE_COLUMNS} | {"status": race.status, "at": at}
    pool_params = _pool_params(snapshot)
    result_params = _result_params(snapshot)
    flows = snapshot.money_flow
    odds_points = snapshot.odds
    # A race's history lies on its NZ racing day: bounding the look-ups there prunes partitions.
    since = history_window(race.start_time, race.race_date_nz).lower
    async with conn.pipeline(), conn.transaction():
        await conn.execute(
            INSERT_MEETING_IF_MISSING, [getattr(snapshot.meeting, c) for c in _MEETING_COLUMNS]
        )
        race_cursor = await conn.execute(UPSERT_RACE, race_params)
        if snapshot.is_terminal:
            await conn.execute(SETTLE_MEETING, {"meeting_id": race.meeting_id})
        entrants_cursor = (
            await conn.execute(UPSERT_ENTRANTS, _columns_of(snapshot.entrants, _ENTRANT_COLUMNS))
            if snapshot.entrants
            else None
        )
        pools_cursor = await conn.execute(UPSERT_POOLS, pool_params) if pool_params else None
        result_cursor = await conn.execute(UPSERT_RESULT, result_params) if result_params else None
        previous_cursor = (
            await conn.execute(PREVIOUS_AMOUNTS, (snapshot.race_id, snapshot.time_interval, since, at))
            if flows
            else None
        )
        entrant_ids = sorted({entrant for entrant, _, _ in odds_points})
        odds_cursor = await conn.execute(LAST_ODDS, (entrant_ids, since, at)) if odds_points else None
        flow_cursor = None
        if previous_cursor is not None:
            params = _money_flow_params(await previous_cursor.fetchall(), snapshot, polled_at)
            flow_cursor = await conn.execute(INSERT_MONEY_FLOW, params)
        changed_odds: list[tuple[str, str, Decimal]] = []
        if odds_cursor is not None:
            last: dict[tuple[str, str], Decimal] = {
                (e, kind): odds for e, kind, odds in await odds_cursor.fetchall()
            }
            changed_odds = mf.changed_odds(odds_points, last)
        insert_odds_cursor = None
        if changed_odds:
            ids, kinds, values = (list(column) for column in zip(*changed_odds, strict=True))
            insert_odds_cursor = await conn.execute(INSERT_ODDS, (at, ids, kinds, values))
        changed = await race_cursor.fetchone()
    status_change = None
    if changed is not None and changed[0] != changed[1]:
        status_change = (changed[0], changed[1])
    return WriteResult(
        race_changed=changed is not None,
        entrants_changed=entrants_cursor.rowcount if entrants_cursor else 0,
        pools_changed=bool(pools_cursor and pools_cursor.rowcount > 0),
        money_flow_rows=flow_cursor.rowcount if flow_cursor else 0,
        odds_rows=insert_odds_cursor.rowcount if insert_odds_cursor else 0,
        result_changed=bool(result_cursor and result_cursor.rowcount > 0),
        status_change=status_change,
    )
