"""Every read the REST API makes (db/alerts.py has the alert configs): explicit columns, bound parameters.

PostgreSQL renders what the API sends: instants as ISO 8601 UTC with `Z` (JavaScript's toISOString form),
dollar columns as integer cents, NUMERIC as float. History reads are bounded by the race's first and last
snapshot (`history_window`), so the planner touches only those days' partitions. `fetch` times every query and
warns above SLOW_QUERY_MS, naming it (wall time, so a saturated event loop shows up there too).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from functools import cache
from typing import Any, LiteralString

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from raceday.core.log import get_logger
from raceday.core.timing import elapsed_ms
from raceday.domain.history import HistoryWindow, history_window

log = get_logger(__name__)

Row = dict[str, Any]

SLOW_QUERY_MS = 100.0
# The timeline's interval range (domain §7.2): the client's grid runs from 60 min before to 65 after.
TIMELINE_MIN_INTERVAL = -65
TIMELINE_MAX_INTERVAL = 66


def iso_instant(column: str, alias: str) -> str:
    """SQL that renders a timestamptz column as `2025-07-17T00:50:00.000Z`."""
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS {alias}"


def _cents(column: str, alias: str) -> str:
    return f"round({column} * 100)::bigint AS {alias}"


def _float(column: str, alias: str) -> str:
    return f"{column}::float8 AS {alias}"


@contextmanager
def _timed(name: str, params: Mapping[str, Any]) -> Iterator[None]:
    started = time.perf_counter()
    yield
    duration = elapsed_ms(started)
    if duration > SLOW_QUERY_MS:
        log.warning(
            "slow query",
            query=name,
            duration=duration,
            threshold=SLOW_QUERY_MS,
            params={key: str(value)[:200] for key, value in params.items()},
        )


async def fetch(
    conn: AsyncConnection[Any], name: str, sql: LiteralString, params: Mapping[str, Any]
) -> list[Row]:
    """Run one named query and return its rows as dicts; a warning names any query slower than 100 ms."""
    with _timed(name, params):
        async with conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(sql, params)
            return await cursor.fetchall()


async def execute(
    conn: AsyncConnection[Any], name: str, sql: LiteralString, params: Mapping[str, Any]
) -> int:
    """Run one named statement that returns no rows; its row count. Timed as `fetch` is."""
    with _timed(name, params):
        cursor = await conn.execute(sql, params)
        return cursor.rowcount


async def _one(
    conn: AsyncConnection[Any], name: str, sql: LiteralString, params: Mapping[str, Any]
) -> Row | None:
    rows = await fetch(conn, name, sql, params)
    return rows[0] if rows else None


# Meetings ---------------------------------------------------------------------------------------

_MEETING_SELECT = f"""
SELECT m.meeting_id, m.meeting_name, m.country, m.state, m.race_type, m.category, m.category_name,
  m.date, m.status, m.track_condition, m.tote_status, w.weather, m.data_source,
  {iso_instant("m.created_at", "created_at")}, {iso_instant("m.updated_at", "updated_at")}
FROM meetings m
LEFT JOIN LATERAL (
  SELECT r.weather FROM races r
  WHERE r.meeting_id = m.meeting_id AND r.weather IS NOT NULL
  ORDER BY r.updated_at DESC
  LIMIT 1
) w ON true"""

_MEETINGS_ORDER = " ORDER BY m.date, m.meeting_name, m.meeting_id"
MEETINGS_SQL: dict[tuple[bool, bool], LiteralString] = {
    (False, False): _MEETING_SELECT + _MEETINGS_ORDER,
    (True, False): _MEETING_SELECT + " WHERE m.date = %(date)s" + _MEETINGS_ORDER,
    (False, True): _MEETING_SELECT + " WHERE m.race_type = %(race_type)s" + _MEETINGS_ORDER,
    (True, True): _MEETING_SELECT
    + " WHERE m.date = %(date)s AND m.race_type = %(race_type)s"
    + _MEETINGS_ORDER,
}
MEETING_SQL = _MEETING_SELECT + " WHERE m.meeting_id = %(meeting_id)s"
_MEETING_EXISTS_SQL = "SELECT 1 AS found FROM meetings WHERE meeting_id = %(meeting_id)s"


async def meetings(conn: AsyncConnection[Any], day: date | None, race_type: str | None) -> list[Row]:
    sql = MEETINGS_SQL[(day is not None, race_type is not None)]
    return await fetch(conn, "meetings", sql, {"date": day, "race_type": race_type})


async def meeting(conn: AsyncConnection[Any], meeting_id: str) -> Row | None:
    return await _one(conn, "meeting", MEETING_SQL, {"meeting_id": meeting_id})


# Races ------------------------------------------------------------------------------------------

_RACE_SELECT = f"""
SELECT r.race_id, r.meeting_id, m.meeting_name, r.name, r.race_number,
  {iso_instant("r.start_time", "start_time")}, {iso_instant("r.actual_start", "actual_start")}, r.status,
  r.race_date_nz, r.start_time_nz, r.distance, r.track_condition, r.track_surface, r.weather, r.type,
  r.country, r.entrant_count, r.field_size, r.positions_paid,
  {_cents("r.total_prize_money", "total_prize_money")}, r.silk_url, r.silk_base_url, m.data_source,
  {iso_instant("r.created_at", "created_at")}, {iso_instant("r.updated_at", "updated_at")}
FROM races r
JOIN meetings m ON m.meeting_id = r.meeting_id"""

RACE_SQL = _RACE_SELECT + " WHERE r.race_id = %(race_id)s"
RACES_OF_MEETING_SQL = _RACE_SELECT + " WHERE r.meeting_id = %(meeting_id)s ORDER BY r.race_number, r.race_id"
UPCOMING_SQL = (
    _RACE_SELECT
    + """
WHERE r.status IN ('open', 'closed', 'interim')
  AND r.start_time > %(lower)s AND r.start_time <= %(upper)s
ORDER BY r.start_time, r.race_id
LIMIT %(limit)s"""
)
NEXT_SCHEDULED_SQL = (
    _RACE_SELECT
    + """
WHERE r.status IN ('open', 'closed', 'interim') AND r.start_time > %(now)s
ORDER BY r.start_time, r.race_id
LIMIT 1"""
)

_RACE_TIMES_SQL = """
SELECT start_time, first_snapshot_at, last_snapshot_at FROM races WHERE race_id = %(race_id)s"""

_NAV_COLUMNS = f"""r.race_id, r.name, r.race_number, {iso_instant("r.start_time", "start_time")}, r.status,
    r.meeting_id, m.meeting_name"""
# Neighbours in (start_time, race_id) order across all meetings: two races starting together are both
# reachable. The next scheduled race is the first unsettled race still to start.
NAVIGATION_SQL = f"""
(SELECT 'previous' AS position, {_NAV_COLUMNS}
  FROM races r JOIN meetings m ON m.meeting_id = r.meeting_id
  WHERE (r.start_time, r.race_id) < (%(start_time)s, %(race_id)s)
  ORDER BY r.start_time DESC, r.race_id DESC LIMIT 1)
UNION ALL
(SELECT 'next' AS position, {_NAV_COLUMNS}
  FROM races r JOIN meetings m ON m.meeting_id = r.meeting_id
  WHERE (r.start_time, r.race_id) > (%(start_time)s, %(race_id)s)
  ORDER BY r.start_time, r.race_id LIMIT 1)
UNION ALL
(SELECT 'next_scheduled' AS position, {_NAV_COLUMNS}
  FROM races r JOIN meetings m ON m.meeting_id = r.meeting_id
  WHERE r.status IN ('open', 'closed', 'interim') AND r.start_time > %(now)s
  ORDER BY r.start_time, r.race_id LIMIT 1)"""


async def race(conn: AsyncConnection[Any], race_id: str) -> Row | None:
    return await _one(conn, "race", RACE_SQL, {"race_id": race_id})


async def races_of_meeting(conn: AsyncConnection[Any], meeting_id: str) -> list[Row] | None:
    """The meeting's races by number; None when the meeting does not exist."""
    params = {"meeting_id": meeting_id}
    rows = await fetch(conn, "races_of_meeting", RACES_OF_MEETING_SQL, params)
    if rows or await _one(conn, "meeting_exists", _MEETING_EXISTS_SQL, params):
        return rows
    return None


async def race_window(conn: AsyncConnection[Any], race_id: str) -> tuple[datetime, HistoryWindow] | None:
    """The race's start and history window; None when the race does not exist."""
    row = await _one(conn, "race_times", _RACE_TIMES_SQL, {"race_id": race_id})
    if row is None:
        return None
    window = history_window(row["start_time"], row["first_snapshot_at"], row["last_snapshot_at"])
    return row["start_time"], window


async def navigation(conn: AsyncConnection[Any], race_id: str, now: datetime) -> dict[str, Row | None] | None:
    """Previous, next and next scheduled race; None when the race does not exist."""
    found = await race_window(conn, race_id)
    if found is None:
        return None
    params = {"race_id": race_id, "start_time": found[0], "now": now}
    rows = await fetch(conn, "navigation", NAVIGATION_SQL, params)
    by_position = {row.pop("position"): row for row in rows}
    return {position: by_position.get(position) for position in ("previous", "next", "next_scheduled")}


async def upcoming_races(
    conn: AsyncConnection[Any], lower: datetime, upper: datetime, limit: int
) -> list[Row]:
    params = {"lower": lower, "upper": upper, "limit": limit}
    return await fetch(conn, "upcoming_races", UPCOMING_SQL, params)


async def next_scheduled_race(conn: AsyncConnection[Any], now: datetime) -> Row | None:
    return await _one(conn, "next_scheduled_race", NEXT_SCHEDULED_SQL, {"now": now})


# Entrants and their history ---------------------------------------------------------------------

_ENTRANT_COLUMNS = f"""
  e.entrant_id, e.race_id, e.name, e.runner_number, e.barrier, e.jockey, e.trainer_name,
  e.silk_colours, e.silk_url_64x64 AS silk_url, e.silk_url_64x64 AS silk_url_64,
  e.silk_url_128x128 AS silk_url_128,
  {_float("COALESCE(e.fixed_win_odds, e.win_odds)", "win_odds")},
  {_float("COALESCE(e.fixed_place_odds, e.place_odds)", "place_odds")},
  {_float("e.fixed_win_odds", "fixed_win_odds")}, {_float("e.fixed_place_odds", "fixed_place_odds")},
  {_float("e.pool_win_odds", "pool_win_odds")}, {_float("e.pool_place_odds", "pool_place_odds")},
  {_float("e.hold_percentage", "hold_percentage")}, {_float("e.bet_percentage", "bet_percentage")},
  {_float("e.win_pool_percentage", "win_pool_percentage")},
  {_float("e.place_pool_percentage", "place_pool_percentage")},
  e.win_pool_amount, e.place_pool_amount, COALESCE(e.is_scratched, false) AS is_scratched,
  e.is_late_scratched, e.is_emergency, {iso_instant("e.scratch_time", "scratch_time")}, e.favourite, e.mover,
  {iso_instant("e.created_at", "created_at")}, {iso_instant("e.updated_at", "updated_at")}"""

# The latest rows of one entrant: index (entrant_id, event_timestamp DESC) and a LIMIT, bounded to the
# race's window so only its partitions are scanned.
_LATEST_ODDS = f"""
    SELECT {_float("o.odds", "odds")}, o.type, {iso_instant("o.event_timestamp", "timestamp")}
    FROM odds_history o
    WHERE o.entrant_id = e.entrant_id
      AND o.event_timestamp >= %(lower)s AND o.event_timestamp < %(upper)s
    ORDER BY o.event_timestamp DESC, o.type
    LIMIT %(limit)s"""
_LATEST_FLOWS = f"""
    SELECT {_float("f.hold_percentage", "hold_percentage")}, {_float("f.bet_percentage", "bet_percentage")},
      f.win_pool_amount, f.place_pool_amount, f.time_to_start, f.time_interval, f.interval_type,
      {iso_instant("f.event_timestamp", "timestamp")}
    FROM money_flow_history f
    WHERE f.entrant_id = e.entrant_id
      AND f.event_timestamp >= %(lower)s AND f.event_timestamp < %(upper)s
    ORDER BY f.event_timestamp DESC
    LIMIT %(limit)s"""

# The whole /api/entrants body, rendered by PostgreSQL: thousands of history rows never become Python
# objects (the Entrant model documents the shape; the tests hold every response to it). History comes
# oldest first; the instants are ISO strings in one format, so they sort as text.
ENTRANTS_JSON_SQL = f"""
SELECT COALESCE(json_agg(entrant ORDER BY entrant.runner_number, entrant.entrant_id), '[]'::json)::text
  AS body
FROM (
  SELECT {_ENTRANT_COLUMNS},
    (SELECT COALESCE(json_agg(h ORDER BY h.timestamp, h.type), '[]'::json) FROM ({_LATEST_ODDS}) h)
      AS odds_history,
    (SELECT COALESCE(json_agg(h ORDER BY h.timestamp), '[]'::json) FROM ({_LATEST_FLOWS}) h)
      AS money_flow_history
  FROM entrants e
  WHERE e.race_id = %(race_id)s AND e.in_field
) entrant"""


def history_params(race_id: str, window: HistoryWindow, limit: int) -> dict[str, Any]:
    return {"race_id": race_id, "lower": window.lower, "upper": window.upper, "limit": limit}


async def entrants_json(conn: AsyncConnection[Any], race_id: str, limit: int) -> str | None:
    """The race's entrants as a JSON array, each with its latest `limit` odds and money-flow rows.

    None when the race does not exist."""
    found = await race_window(conn, race_id)
    if found is None:
        return None
    row = await _one(conn, "entrants", ENTRANTS_JSON_SQL, history_params(race_id, found[1], limit))
    return str(row["body"]) if row else "[]"


# Pools and results ------------------------------------------------------------------------------

_POOL_COLUMNS = ("win", "place", "quinella", "trifecta", "exacta", "first4")
_NAMED_POOLS_SUM = " + ".join(f"COALESCE(p.{name}_pool_total, 0)" for name in _POOL_COLUMNS)
# Totals are stored in dollars; total_race_pool counts every tote pool (the pipeline's figure) and
# falls back to the six named pools when the pipeline did not record it.
RACE_POOLS_SQL = f"""
SELECT p.race_id, p.race_id AS race_pool_id,
  {", ".join(_cents(f"COALESCE(p.{name}_pool_total, 0)", f"{name}_pool_total") for name in _POOL_COLUMNS)},
  {_cents(f"COALESCE(p.total_race_pool, {_NAMED_POOLS_SUM})", "total_race_pool")},
  p.currency, p.data_quality_score, p.extracted_pools,
  {iso_instant("p.last_updated", "last_updated")}, {iso_instant("p.last_updated", "updated_at")},
  r.status = 'open' AS is_live
FROM race_pools p
JOIN races r ON r.race_id = p.race_id
WHERE p.race_id = %(race_id)s"""

RACE_RESULTS_SQL = f"""
SELECT race_id, results_available, results_data, dividends_data, fixed_odds_data, result_status,
  photo_finish, stewards_inquiry, protest_lodged, {iso_instant("result_time", "result_time")},
  {iso_instant("created_at", "created_at")}, {iso_instant("updated_at", "updated_at")}
FROM race_results
WHERE race_id = %(race_id)s"""


async def race_pools(conn: AsyncConnection[Any], race_id: str) -> Row | None:
    return await _one(conn, "race_pools", RACE_POOLS_SQL, {"race_id": race_id})


async def race_results(conn: AsyncConnection[Any], race_id: str) -> Row | None:
    return await _one(conn, "race_results", RACE_RESULTS_SQL, {"race_id": race_id})


# Money-flow timeline ----------------------------------------------------------------------------

_TIMELINE_INNER = """
  SELECT DISTINCT ON (f.entrant_id, f.time_interval)
    f.id, f.race_id, f.entrant_id, f.type, f.time_interval, f.time_to_start, f.interval_type,
    f.hold_percentage, f.bet_percentage, f.incremental_amount, f.incremental_win_amount,
    f.incremental_place_amount, f.win_pool_amount, f.place_pool_amount, f.total_pool_amount,
    f.win_pool_percentage, f.place_pool_percentage, f.fixed_win_odds, f.fixed_place_odds,
    f.pool_win_odds, f.pool_place_odds, f.pool_type, f.event_timestamp, f.polling_timestamp,
    f.created_at
  FROM money_flow_history f
  WHERE f.race_id = %(race_id)s AND f.entrant_id = ANY(%(entrant_ids)s)
    AND f.type = 'bucketed_aggregation'
    AND f.time_interval > %(min_interval)s AND f.time_interval < %(max_interval)s
    AND f.event_timestamp >= %(lower)s AND f.event_timestamp < %(upper)s"""
_TIMELINE_LATEST = """
  ORDER BY f.entrant_id, f.time_interval, f.event_timestamp DESC, f.id DESC"""
_TIMELINE_OUTER = f"""
SELECT page.id AS cursor_id, page.id::text AS id, page.race_id, page.entrant_id, page.type,
  page.time_interval, page.time_to_start, page.interval_type,
  {_float("page.hold_percentage", "hold_percentage")}, {_float("page.bet_percentage", "bet_percentage")},
  page.incremental_amount,
  page.incremental_win_amount, page.incremental_place_amount, page.win_pool_amount,
  page.place_pool_amount, page.total_pool_amount, page.win_pool_amount AS "winPoolAmount",
  page.place_pool_amount AS "placePoolAmount",
  {_float("page.win_pool_percentage", "win_pool_percentage")},
  {_float("page.place_pool_percentage", "place_pool_percentage")},
  {_float("page.fixed_win_odds", "fixed_win_odds")}, {_float("page.fixed_place_odds", "fixed_place_odds")},
  {_float("page.pool_win_odds", "pool_win_odds")}, {_float("page.pool_place_odds", "pool_place_odds")},
  page.pool_type, {iso_instant("page.event_timestamp", "event_timestamp")},
  {iso_instant("page.polling_timestamp", "polling_timestamp")},
  {iso_instant("page.created_at", "created_at")}, {iso_instant("page.created_at", "updated_at")}
FROM (
  SELECT latest.* FROM ({{inner}}) latest
  ORDER BY latest.id
  LIMIT %(limit)s
) page
ORDER BY page.time_interval, page.created_at, page.id"""


@cache
def timeline_sql(after_cursor: bool, after_created: bool) -> LiteralString:
    """The timeline query: the latest row per entrant and interval, paged in id order.

    Paging by id over the de-duplicated rows never skips one: a later page holds every remaining row
    with a larger id, and a row superseded after its page was read comes back as its replacement.
    """
    inner = _TIMELINE_INNER
    if after_cursor:
        inner += "\n    AND f.id > %(cursor_after)s"
    if after_created:
        inner += "\n    AND f.created_at > %(created_after)s"
    return _TIMELINE_OUTER.replace("{inner}", inner + _TIMELINE_LATEST)


def timeline_params(
    race_id: str,
    entrant_ids: Sequence[str],
    window: HistoryWindow,
    limit: int,
    cursor_after: int | None,
    created_after: datetime | None,
) -> dict[str, Any]:
    return {
        "race_id": race_id,
        "entrant_ids": list(entrant_ids),
        "min_interval": TIMELINE_MIN_INTERVAL,
        "max_interval": TIMELINE_MAX_INTERVAL,
        "lower": window.lower,
        "upper": window.upper,
        "limit": limit,
        "cursor_after": cursor_after,
        "created_after": created_after,
    }


async def timeline(
    conn: AsyncConnection[Any],
    race_id: str,
    entrant_ids: Sequence[str],
    limit: int,
    cursor_after: int | None,
    created_after: datetime | None,
) -> list[Row] | None:
    """One page of timeline rows in (interval, created_at) order; None when the race does not exist."""
    found = await race_window(conn, race_id)
    if found is None:
        return None
    params = timeline_params(race_id, entrant_ids, found[1], limit, cursor_after, created_after)
    sql = timeline_sql(cursor_after is not None, created_after is not None)
    return await fetch(conn, "money_flow_timeline", sql, params)
