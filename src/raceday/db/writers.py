"""Writes of one poll, in one transaction, such that what is stored depends only on the snapshots received.

Every snapshot is recorded in `race_snapshots` (race, NZ TAB generated_time, which parts it carried). A
part's current values (race fields, status, entrants, their money, pools, results) are written only when
no recorded snapshot with that part outranks this one: a terminal status outranks any other, then the
newer snapshot wins. So snapshots may arrive in any order, twice, or with a part missing, and the tables
end the same. History is a row per snapshot: money flow with increments against the entrant's latest
row by event time in an earlier bucket (a late snapshot corrects the rows after it), odds whenever a
price moved by more than 0.01 (recomputed from a late snapshot on).

The statements up to the version bump run inside one PL/pgSQL function generated from them
(`POLL_FUNCTION`), installed by the migrations. Core rows change only when a value does
(`IS DISTINCT FROM`), so unchanged rows keep their `updated_at`.
A per-race advisory lock serialises two writers of one race; the lock order is race, then the race's
rows, money_flow_history before odds_history, then the meeting row.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from raceday.core.nztime import nz_day
from raceday.db.partitions import PartitionKeeper
from raceday.db.poll_queue import Held, release
from raceday.db.recording import RECORD, RawResponse, as_params
from raceday.domain import money_flow as mf
from raceday.domain.odds import OddsRow, odds_json, odds_points, odds_rows, points_from_json
from raceday.domain.rows import MeetingRow, Snapshot
from raceday.domain.schedule import STATUS_ORDER

_MEETING_COLUMNS = (
    "meeting_id", "meeting_name", "country", "race_type", "date", "status", "category",
    "category_name", "state", "track_condition", "tote_status", "data_source", "race_ids",
)  # fmt: skip

_RACE_TYPES = {
    "race_id": "text", "meeting_id": "text", "name": "text", "race_number": "int",
    "start_time": "timestamptz", "actual_start": "timestamptz", "race_date_nz": "date",
    "start_time_nz": "text", "distance": "int", "track_condition": "text", "track_surface": "text",
    "weather": "text", "type": "text", "country": "text", "entrant_count": "int", "field_size": "int",
    "positions_paid": "int", "total_prize_money": "numeric", "silk_url": "text", "silk_base_url": "text",
}  # fmt: skip
_RACE_FIELDS = tuple(_RACE_TYPES)[1:]

_ENTRANT_TYPES = {
    "entrant_id": "text", "race_id": "text", "name": "text", "runner_number": "int", "barrier": "int",
    "jockey": "text", "trainer_name": "text", "silk_colours": "text", "silk_url_64x64": "text",
    "silk_url_128x128": "text", "is_scratched": "bool", "is_late_scratched": "bool", "is_emergency": "bool",
    "scratch_time": "timestamptz", "favourite": "bool", "mover": "bool", "fixed_win_odds": "numeric",
    "fixed_place_odds": "numeric", "pool_win_odds": "numeric", "pool_place_odds": "numeric",
}  # fmt: skip
_MONEY_TYPES = {
    "entrant_id": "text", "hold_percentage": "numeric", "bet_percentage": "numeric",
    "win_pool_percentage": "numeric", "place_pool_percentage": "numeric", "win_pool_amount": "bigint",
    "place_pool_amount": "bigint",
}  # fmt: skip

_FLOW_TYPES = {
    "entrant_id": "text", "hold_percentage": "numeric", "bet_percentage": "numeric",
    "win_pool_amount": "bigint", "place_pool_amount": "bigint", "total_pool_amount": "bigint",
    "win_pool_percentage": "numeric", "place_pool_percentage": "numeric", "fixed_win_odds": "numeric",
    "fixed_place_odds": "numeric", "pool_win_odds": "numeric", "pool_place_odds": "numeric",
}  # fmt: skip

_POOL_COLUMNS = (
    "win_pool_total", "place_pool_total", "quinella_pool_total", "trifecta_pool_total",
    "exacta_pool_total", "first4_pool_total", "total_race_pool", "data_quality_score", "extracted_pools",
)  # fmt: skip
_RESULT_COLUMNS = (
    "results_data", "dividends_data", "fixed_odds_data", "result_status", "photo_finish",
    "stewards_inquiry", "protest_lodged",
)  # fmt: skip


def _unnest(types: dict[str, str], prefix: str = "u_") -> str:
    """`unnest` over one array parameter per column (named `<prefix><column>`, apart from the poll's own)."""
    names = ", ".join(types)
    arrays = ", ".join(f"%({prefix}{name})s::{kind}[]" for name, kind in types.items())
    return f"unnest({arrays}) AS u({names})"


def _set(columns: Iterable[str], source: str = "EXCLUDED") -> str:
    return ", ".join(f"{c} = {source}.{c}" for c in columns)


def _distinct(left: str, right: str, columns: Iterable[str]) -> str:
    names = list(columns)
    return (
        f"({', '.join(f'{left}.{c}' for c in names)}) IS DISTINCT FROM "
        f"({', '.join(f'{right}.{c}' for c in names)})"
    )


def _outranked(part: str = "") -> str:
    """SQL: a recorded snapshot that carries `part` and outranks this one (terminal first, then newer)."""
    has = f" AND s.{part}" if part else ""
    return f"""EXISTS (
    SELECT 1 FROM race_snapshots s
    WHERE s.race_id = %(race_id)s{has} AND (s.terminal, s.generated_time) > (%(terminal)s, %(at)s))"""


# The race's span, read once it includes the poll: the history statements' bounds (see `_executed`).
_SPAN = {"first_snapshot": "v_first_snapshot", "last_snapshot": "v_last_snapshot"}
_FIRST_SNAPSHOT = "%(first_snapshot)s"
_LAST_SNAPSHOT = "%(last_snapshot)s"

LOCK_RACE = "SELECT pg_advisory_xact_lock(hashtextextended('race ' || %(race_id)s, 0))"

_LISTED_MEETING = ", ".join(f"%({c})s" for c in _MEETING_COLUMNS)
INSERT_MEETING_IF_MISSING = f"""
INSERT INTO meetings ({", ".join(_MEETING_COLUMNS)}) VALUES ({_LISTED_MEETING})
ON CONFLICT (meeting_id) DO NOTHING
"""

# The meetings list is the source of a meeting's fields; its status is settled from its races.
_MEETING_MUTABLE = tuple(c for c in _MEETING_COLUMNS[1:] if c != "status")
UPSERT_MEETINGS = f"""
INSERT INTO meetings ({", ".join(_MEETING_COLUMNS)})
SELECT u.meeting_id, u.meeting_name, u.country, u.race_type, u.date, 'active', u.category,
  u.category_name, u.state, u.track_condition, u.tote_status, u.data_source,
  string_to_array(u.race_ids, ',')
FROM unnest(%(meeting_id)s::text[], %(meeting_name)s::text[], %(country)s::text[], %(race_type)s::text[],
  %(date)s::date[], %(category)s::text[], %(category_name)s::text[], %(state)s::text[],
  %(track_condition)s::text[], %(tote_status)s::text[], %(data_source)s::text[], %(race_ids)s::text[])
  AS u(meeting_id, meeting_name, country, race_type, date, category, category_name, state,
       track_condition, tote_status, data_source, race_ids)
ON CONFLICT (meeting_id) DO UPDATE SET {_set(_MEETING_MUTABLE)}
WHERE {_distinct("meetings", "EXCLUDED", _MEETING_MUTABLE)}
"""

# Locks the meetings (in id order; NO KEY: races' foreign-key checks share the row), then settles each
# from all of its listed races as stored: cancelled when every one is abandoned, completed when every
# one is final or abandoned, else active.
LOCK_MEETINGS = """
SELECT meeting_id FROM meetings WHERE meeting_id = ANY(%(meeting_ids)s) ORDER BY meeting_id FOR NO KEY UPDATE
"""
SETTLE_MEETINGS = """
UPDATE meetings m SET status = settled.status
FROM (
  SELECT listed.meeting_id,
    CASE WHEN bool_and(COALESCE(r.status = 'abandoned', false)) THEN 'cancelled'
         WHEN bool_and(COALESCE(r.status IN ('final', 'abandoned'), false)) THEN 'completed'
         ELSE 'active' END AS status
  FROM (
    SELECT mm.meeting_id, unnest(COALESCE(
      mm.race_ids, ARRAY(SELECT rr.race_id FROM races rr WHERE rr.meeting_id = mm.meeting_id))) AS race_id
    FROM meetings mm WHERE mm.meeting_id = ANY(%(meeting_ids)s)
  ) listed
  LEFT JOIN races r ON r.race_id = listed.race_id
  GROUP BY listed.meeting_id
) settled
WHERE m.meeting_id = settled.meeting_id AND m.status IS DISTINCT FROM settled.status
"""

INSERT_RACE = f"""
INSERT INTO races ({", ".join(_RACE_TYPES)}, status, status_at, snapshot_at, first_snapshot_at,
  last_snapshot_at, last_status_change, finalized_at, abandoned_at, runners_at, money_at)
VALUES ({", ".join(f"%({c})s" for c in _RACE_TYPES)}, COALESCE(%(status)s::text, 'open'),
  CASE WHEN %(status)s::text IS NOT NULL THEN %(at)s END, %(at)s, %(at)s, %(at)s,
  CASE WHEN %(status)s::text IS NOT NULL THEN %(at)s END,
  CASE WHEN %(status)s::text = 'final' THEN %(at)s END,
  CASE WHEN %(status)s::text = 'abandoned' THEN %(at)s END,
  CASE WHEN %(has_runners)s THEN %(at)s END, CASE WHEN %(has_money)s THEN %(at)s END)
ON CONFLICT (race_id) DO NOTHING
RETURNING status
"""

_RACE_VALUES = ", ".join(f"%({c})s::{_RACE_TYPES[c]} AS {c}" for c in _RACE_FIELDS)
UPDATE_RACE_FIELDS = f"""
UPDATE races SET {_set(_RACE_FIELDS, "v")}, snapshot_at = %(at)s
FROM (SELECT {_RACE_VALUES}) v
WHERE races.race_id = %(race_id)s AND NOT {_outranked()}
  AND ({_distinct("races", "v", _RACE_FIELDS)} OR races.snapshot_at IS DISTINCT FROM %(at)s)
"""

# Bookkeeping every snapshot moves, whichever snapshot's values are current: the span of the race's
# snapshots, the first final (abandoned) one, and which snapshot the runners and money come from.
UPDATE_RACE_SPAN = f"""
UPDATE races SET first_snapshot_at = v.first_snapshot_at, last_snapshot_at = v.last_snapshot_at,
  finalized_at = v.finalized_at, abandoned_at = v.abandoned_at, runners_at = v.runners_at,
  money_at = v.money_at
FROM (
  SELECT LEAST(r.first_snapshot_at, %(at)s) AS first_snapshot_at,
    GREATEST(r.last_snapshot_at, %(at)s) AS last_snapshot_at,
    CASE WHEN %(status)s::text = 'final' THEN LEAST(r.finalized_at, %(at)s) ELSE r.finalized_at END
      AS finalized_at,
    CASE WHEN %(status)s::text = 'abandoned' THEN LEAST(r.abandoned_at, %(at)s) ELSE r.abandoned_at END
      AS abandoned_at,
    CASE WHEN %(has_runners)s AND NOT {_outranked("has_runners")} THEN %(at)s ELSE r.runners_at END
      AS runners_at,
    CASE WHEN %(has_money)s AND NOT {_outranked("has_money")} THEN %(at)s ELSE r.money_at END AS money_at
  FROM races r WHERE r.race_id = %(race_id)s
) v
WHERE races.race_id = %(race_id)s
  AND (races.first_snapshot_at, races.last_snapshot_at, races.finalized_at, races.abandoned_at,
       races.runners_at, races.money_at)
   IS DISTINCT FROM (v.first_snapshot_at, v.last_snapshot_at, v.finalized_at, v.abandoned_at,
       v.runners_at, v.money_at)
"""

# A status NZ TAB sent that raceday does not know is NULL: it never replaces a known one.
UPDATE_STATUS = """
UPDATE races SET status = %(status)s::text, status_at = %(at)s
WHERE race_id = %(race_id)s AND %(status)s::text IS NOT NULL
  AND NOT EXISTS (
    SELECT 1 FROM race_snapshots s
    WHERE s.race_id = %(race_id)s AND s.status IS NOT NULL
      AND (s.terminal, s.generated_time) > (%(terminal)s, %(at)s))
  AND (status, status_at) IS DISTINCT FROM (%(status)s::text, %(at)s)
RETURNING old.status AS old_status, new.status AS new_status
"""

RECORD_SNAPSHOT = """
INSERT INTO race_snapshots (race_id, generated_time, status, terminal, has_runners, has_money, has_pools,
  has_results, odds, received_at)
VALUES (%(race_id)s, %(at)s, %(status)s::text, %(terminal)s, %(has_runners)s, %(has_money)s,
  %(has_pools)s, %(has_results)s, %(odds)s, %(polled_at)s)
ON CONFLICT (race_id, generated_time) DO NOTHING
"""

# When the current status was first seen since the race last had another: from the recorded snapshots.
# Each look-up is one descent of idx_race_snapshots_status (the last snapshot of each other status, then
# the first of the current one after it), not a scan of the race's snapshots: a race is polled hundreds
# of times, and the scan made every poll dearer than the one before (2.3 ms a poll by its 200th).
_STATUSES = ", ".join(f"('{status}')" for status in STATUS_ORDER)
UPDATE_LAST_STATUS_CHANGE = f"""
UPDATE races r SET last_status_change = changed.at
FROM (
  SELECT (
    SELECT min(s.generated_time) FROM race_snapshots s
    WHERE s.race_id = cur.race_id AND s.status = cur.status
      AND s.generated_time > COALESCE((
        SELECT max(o.at) FROM (VALUES {_STATUSES}) AS other(status)
        CROSS JOIN LATERAL (
          SELECT max(x.generated_time) AS at FROM race_snapshots x
          WHERE x.race_id = cur.race_id AND x.status = other.status AND x.generated_time < cur.status_at
        ) o
        WHERE other.status <> cur.status), '-infinity')
  ) AS at
  FROM races cur WHERE cur.race_id = %(race_id)s
) changed
WHERE r.race_id = %(race_id)s AND changed.at IS NOT NULL
  AND r.last_status_change IS DISTINCT FROM changed.at
"""

_ENTRANT_FIELDS = tuple(_ENTRANT_TYPES)[1:]
UPSERT_ENTRANTS = f"""
INSERT INTO entrants ({", ".join(_ENTRANT_TYPES)}, in_field)
SELECT u.*, NOT {_outranked("has_runners")} FROM {_unnest(_ENTRANT_TYPES)}
ON CONFLICT (entrant_id) DO UPDATE SET {_set(_ENTRANT_FIELDS)}, in_field = true
WHERE EXCLUDED.in_field
  AND ({_distinct("entrants", "EXCLUDED", _ENTRANT_FIELDS)} OR NOT entrants.in_field)
RETURNING entrant_id
"""

LEAVE_FIELD = f"""
UPDATE entrants SET in_field = false
WHERE race_id = %(race_id)s AND in_field AND NOT (entrant_id = ANY(%(u_entrant_id)s::text[]))
  AND NOT {_outranked("has_runners")}
RETURNING entrant_id
"""

_MONEY_FIELDS = tuple(_MONEY_TYPES)[1:]
UPDATE_MONEY = f"""
UPDATE entrants e SET {_set(_MONEY_FIELDS, "u")}
FROM {_unnest(_MONEY_TYPES)}
WHERE e.entrant_id = u.entrant_id AND NOT {_outranked("has_money")}
  AND {_distinct("e", "u", _MONEY_FIELDS)}
RETURNING e.entrant_id
"""

UPSERT_POOLS = f"""
INSERT INTO race_pools (race_id, {", ".join(_POOL_COLUMNS)}, last_updated)
VALUES (%(race_id)s, {", ".join(f"%({c})s" for c in _POOL_COLUMNS)}, %(at)s)
ON CONFLICT (race_id) DO UPDATE SET {_set(_POOL_COLUMNS)}, last_updated = EXCLUDED.last_updated
WHERE NOT {_outranked("has_pools")}
  AND {_distinct("race_pools", "EXCLUDED", (*_POOL_COLUMNS, "last_updated"))}
"""

UPSERT_RESULT = f"""
INSERT INTO race_results (race_id, results_available, {", ".join(_RESULT_COLUMNS)}, result_time)
VALUES (%(race_id)s, true, {", ".join(f"%({c})s" for c in _RESULT_COLUMNS)}, %(at)s)
ON CONFLICT (race_id) DO UPDATE SET results_available = true, {_set(_RESULT_COLUMNS)},
  result_time = EXCLUDED.result_time
WHERE NOT {_outranked("has_results")}
  AND {_distinct("race_results", "EXCLUDED", (*_RESULT_COLUMNS, "result_time"))}
"""

# The entrant's latest row by event time in an earlier bucket (a larger time_interval), or none. The earliest
# bucket has none: looking read every row the entrant had in it (a poll an hour out read them all).
_PREVIOUS_ROW = f"""
  SELECT p.win_pool_amount, p.place_pool_amount FROM money_flow_history p
  WHERE {{interval}} < {mf.EARLIEST_BUCKET}
    AND p.entrant_id = {{row}}.entrant_id AND p.type = '{mf.BUCKETED}'
    AND p.time_interval > {{interval}} AND p.event_timestamp < {{at}}
    AND p.event_timestamp >= {_FIRST_SNAPSHOT} AND p.event_timestamp <= {_LAST_SNAPSHOT}
  ORDER BY p.event_timestamp DESC
  LIMIT 1"""

_FLOW_FIELDS = tuple(_FLOW_TYPES)
INSERT_MONEY_FLOW = f"""
INSERT INTO money_flow_history (
  entrant_id, race_id, hold_percentage, bet_percentage, type, time_to_start, time_interval,
  interval_type, event_timestamp, polling_timestamp, win_pool_amount, place_pool_amount,
  win_pool_percentage, place_pool_percentage, incremental_amount, incremental_win_amount,
  incremental_place_amount, pool_type, is_consolidated, total_pool_amount, fixed_win_odds,
  fixed_place_odds, pool_win_odds, pool_place_odds)
SELECT u.entrant_id, %(race_id)s, u.hold_percentage, u.bet_percentage, '{mf.BUCKETED}', %(time_to_start)s,
  %(time_interval)s, %(interval_type)s, %(at)s, %(polled_at)s, u.win_pool_amount, u.place_pool_amount,
  u.win_pool_percentage, u.place_pool_percentage,
  u.win_pool_amount - COALESCE(p.win_pool_amount, 0), u.win_pool_amount - COALESCE(p.win_pool_amount, 0),
  u.place_pool_amount - COALESCE(p.place_pool_amount, 0), '{mf.COMBINED}', false, u.total_pool_amount,
  u.fixed_win_odds, u.fixed_place_odds, u.pool_win_odds, u.pool_place_odds
FROM {_unnest(_FLOW_TYPES, "f_")}
LEFT JOIN LATERAL ({_PREVIOUS_ROW.format(row="u", interval="%(time_interval)s", at="%(at)s")}) p ON true
ON CONFLICT (entrant_id, event_timestamp) DO NOTHING
"""

# A late snapshot's rows may now be the latest of an earlier bucket for rows after it: recompute those
# (run only for a late snapshot: none come after the newest).
CORRECT_LATER_INCREMENTS = f"""
UPDATE money_flow_history f
SET incremental_win_amount = n.win, incremental_amount = n.win, incremental_place_amount = n.place
FROM (
  SELECT r.entrant_id, r.event_timestamp, r.win_pool_amount - COALESCE(p.win_pool_amount, 0) AS win,
    r.place_pool_amount - COALESCE(p.place_pool_amount, 0) AS place
  FROM money_flow_history r
  LEFT JOIN LATERAL ({_PREVIOUS_ROW.format(row="r", interval="r.time_interval", at="r.event_timestamp")}) p
    ON true
  WHERE r.race_id = %(race_id)s AND r.type = '{mf.BUCKETED}'
    AND r.event_timestamp > %(at)s AND r.event_timestamp <= {_LAST_SNAPSHOT}
) n
WHERE f.entrant_id = n.entrant_id AND f.event_timestamp = n.event_timestamp
  AND f.event_timestamp > %(at)s AND f.event_timestamp <= {_LAST_SNAPSHOT}
  AND (f.incremental_win_amount, f.incremental_place_amount) IS DISTINCT FROM (n.win, n.place)
"""

_ODDS_TYPES = ", ".join(f"'{kind}'" for kind in mf.ODDS_TYPES)
# Each (entrant, type)'s last row, read backwards on an index: a scan of every row since the race's first
# snapshot grew with the race (3.4 ms of a poll two hours in; 0.2 ms read this way).
LAST_ODDS_BEFORE = f"""
SELECT e.entrant_id, t.type, l.odds
FROM entrants e
CROSS JOIN unnest(ARRAY[{_ODDS_TYPES}]) AS t(type)
CROSS JOIN LATERAL (
  SELECT o.odds FROM odds_history o
  WHERE o.entrant_id = e.entrant_id AND o.type = t.type
    AND o.event_timestamp < %(at)s AND o.event_timestamp >= {_FIRST_SNAPSHOT}
  ORDER BY o.event_timestamp DESC
  LIMIT 1) l
WHERE e.race_id = %(race_id)s
"""
LATER_SNAPSHOT_ODDS = """
SELECT generated_time, odds FROM race_snapshots
WHERE race_id = %(race_id)s AND has_runners AND generated_time > %(at)s
ORDER BY generated_time
"""
# OFFSET 0 keeps the subquery apart: a lookup on the index per entrant, which plans in half the time of
# the join the planner would otherwise weigh.
ODDS_FROM = f"""
SELECT e.entrant_id, o.type, o.event_timestamp, o.odds
FROM entrants e
CROSS JOIN LATERAL (
  SELECT o.type, o.event_timestamp, o.odds FROM odds_history o
  WHERE o.entrant_id = e.entrant_id
    AND o.event_timestamp >= %(at)s AND o.event_timestamp <= {_LAST_SNAPSHOT}
  OFFSET 0) o
WHERE e.race_id = %(race_id)s
"""
DELETE_ODDS = """
DELETE FROM odds_history o
USING unnest(%(entrant_id)s::text[], %(type)s::text[], %(event_timestamp)s::timestamptz[])
  AS d(entrant_id, type, event_timestamp)
WHERE o.entrant_id = d.entrant_id AND o.type = d.type AND o.event_timestamp = d.event_timestamp
  AND o.event_timestamp >= %(at)s AND o.event_timestamp <= %(upper)s
"""
INSERT_ODDS = """
INSERT INTO odds_history (entrant_id, type, odds, event_timestamp)
SELECT * FROM unnest(%(entrant_id)s::text[], %(type)s::text[], %(odds)s::numeric[],
  %(event_timestamp)s::timestamptz[])
ON CONFLICT (entrant_id, type, event_timestamp) DO NOTHING
"""

# In the poll's transaction: the notification is sent only if it commits (README, "Caching and push").
_BUMPED = """
WITH bumped AS (
  INSERT INTO race_versions (race_id, version) VALUES (%(race_id)s, 1)
  ON CONFLICT (race_id) DO UPDATE SET version = race_versions.version + 1, changed_at = now()
  RETURNING race_id, version
)"""
BUMP_VERSION = f"{_BUMPED}\nSELECT pg_notify('race_changed', race_id || ' ' || version) FROM bumped\n"

# The poll's statements, but for the odds' writes, run as one PL/pgSQL function generated from the
# statements above; it returns the odds stored around the snapshot, from which the odds' rows are worked
# out. psycopg sent each statement as its own await on the event loop, its parameters dumped in Python
# (about 1.8 ms of a worker's CPU for 20 statements, against 0.6 ms for one call). The function's
# arguments are one JSON object, read into the record `poll`; `%(name)s` in a statement is `poll.name`.
_POLL_ARGS = {
    "race_id": "text", "at": "timestamptz", "polled_at": "timestamptz", "status": "text",
    "terminal": "boolean", "has_runners": "boolean", "has_money": "boolean", "has_pools": "boolean",
    "has_results": "boolean", "odds": "jsonb", "time_to_start": "bigint", "time_interval": "bigint",
    "interval_type": "text", "meeting_ids": "text[]",
    **{c: t for c, t in _RACE_TYPES.items() if c != "race_id"},
    **{f"meeting_{c}": "date" if c == "date" else "text[]" if c == "race_ids" else "text"
       for c in _MEETING_COLUMNS},
    **{c: "integer" if c in ("data_quality_score", "extracted_pools") else "numeric" for c in _POOL_COLUMNS},
    "results_data": "jsonb", "dividends_data": "jsonb", "fixed_odds_data": "jsonb", "result_status": "text",
    "photo_finish": "boolean", "stewards_inquiry": "boolean", "protest_lodged": "boolean",
    **{f"u_{c}": f"{t}[]" for c, t in (_ENTRANT_TYPES | _MONEY_TYPES).items()},
    **{f"f_{c}": f"{t}[]" for c, t in _FLOW_TYPES.items()},
}  # fmt: skip
_PARAMETER = re.compile(r"%\((\w+)\)s")


def _check_arguments(names: Iterable[str], known: Iterable[str]) -> None:
    unknown = set(names) - set(known)
    if unknown:
        raise ValueError(f"poll function: no argument for {sorted(unknown)}")


def _in_function(sql: str, prefix: str = "") -> str:
    statement = _PARAMETER.sub(lambda m: f"poll.{prefix}{m.group(1)}", sql.strip())
    _check_arguments(re.findall(r"poll\.(\w+)", statement), _POLL_ARGS)
    return statement


def _executed(sql: str, into: str = "") -> str:
    """A history statement run by EXECUTE, its arguments bound as values.

    PostgreSQL then plans it for those values, so it reads only the partitions of the race's own days.
    The function's cached plans cannot: a generic plan locks every day kept (30 by default), and a
    subquery's bound prunes nothing while planning; a month of partitions nearly doubled a poll's PostgreSQL
    CPU.
    """
    names: list[str] = []

    def numbered(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    statement = _PARAMETER.sub(numbered, sql.strip())
    _check_arguments(names, [*_POLL_ARGS, *_SPAN])
    values = ", ".join(_SPAN.get(name, f"poll.{name}") for name in names)
    return f"EXECUTE $sql${statement}$sql${f' INTO {into}' if into else ''} USING {values}"


def _ids_of(sql: str) -> str:
    """A statement returning entrant ids, its ids appended to those the poll changed."""
    return f"""WITH touched AS ({_in_function(sql)})
    SELECT array_agg(entrant_id) INTO v_ids FROM touched;
    out_changed_entrants := out_changed_entrants || COALESCE(v_ids, '{{}}');"""


_ROWS = "GET DIAGNOSTICS v_rows = ROW_COUNT"
_READ_ODDS_BEFORE = _executed(
    f"SELECT array_agg(x.entrant_id), array_agg(x.type), array_agg(x.odds) FROM ({LAST_ODDS_BEFORE}) x",
    "out_before_entrant, out_before_type, out_before_odds",
)
_READ_ODDS_STORED = _executed(
    "SELECT array_agg(x.entrant_id), array_agg(x.type), array_agg(x.event_timestamp), array_agg(x.odds)"
    f" FROM ({ODDS_FROM}) x",
    "out_stored_entrant, out_stored_type, out_stored_at, out_stored_odds",
)
_POLL_ARG_COLUMNS = ", ".join(f"{name} {kind}" for name, kind in _POLL_ARGS.items())
POLL_FUNCTION = f"""
CREATE FUNCTION raceday_write_poll(args jsonb,
  OUT out_inserted_status text, OUT out_fields_changed boolean, OUT out_old_status text,
  OUT out_new_status text, OUT out_changed_entrants text[], OUT out_pools_changed boolean,
  OUT out_result_changed boolean, OUT out_money_flow_rows bigint, OUT out_stored_status text,
  OUT out_status_at timestamptz, OUT out_before_entrant text[], OUT out_before_type text[],
  OUT out_before_odds numeric[], OUT out_later_at timestamptz[], OUT out_later_odds jsonb[],
  OUT out_stored_entrant text[], OUT out_stored_type text[], OUT out_stored_at timestamptz[],
  OUT out_stored_odds numeric[])
LANGUAGE plpgsql AS $poll$
DECLARE
  poll record;
  v_rows bigint;
  v_ids text[];
  v_version bigint;
  v_first_snapshot timestamptz;
  v_last_snapshot timestamptz;
  v_newest boolean;
BEGIN
  SELECT * INTO poll FROM jsonb_to_record(args) AS a({_POLL_ARG_COLUMNS});
  {_in_function(LOCK_RACE).replace("SELECT", "PERFORM", 1)};
  {_in_function(INSERT_MEETING_IF_MISSING, "meeting_")};
  {_in_function(INSERT_RACE)} INTO out_inserted_status;
  {_in_function(UPDATE_RACE_FIELDS)};
  {_ROWS};
  out_fields_changed := v_rows > 0;
  {_in_function(UPDATE_RACE_SPAN)};
  {_in_function(UPDATE_STATUS)} INTO out_old_status, out_new_status;
  -- The race row as the poll leaves it: nothing below changes its span or status.
  SELECT status, status_at, first_snapshot_at, last_snapshot_at
  INTO out_stored_status, out_status_at, v_first_snapshot, v_last_snapshot
  FROM races WHERE race_id = poll.race_id;
  {_in_function(RECORD_SNAPSHOT)};
  {_ROWS};
  -- Recorded for the first time and later than every snapshot recorded: no odds are stored from its time
  -- on, and no later snapshot's odds need recomputing.
  v_newest := v_rows > 0 AND poll.at = v_last_snapshot;
  {_in_function(UPDATE_LAST_STATUS_CHANGE)};
  out_changed_entrants := '{{}}';
  IF poll.has_runners THEN
    {_ids_of(UPSERT_ENTRANTS)}
    {_ids_of(LEAVE_FIELD)}
  END IF;
  IF poll.has_money THEN
    {_ids_of(UPDATE_MONEY)}
  END IF;
  IF poll.has_pools THEN
    {_in_function(UPSERT_POOLS)};
    {_ROWS};
    out_pools_changed := v_rows > 0;
  END IF;
  IF poll.has_results THEN
    {_in_function(UPSERT_RESULT)};
    {_ROWS};
    out_result_changed := v_rows > 0;
  END IF;
  out_money_flow_rows := 0;
  IF poll.has_money THEN
    {_executed(INSERT_MONEY_FLOW)};
    {_ROWS};
    out_money_flow_rows := v_rows;
  END IF;
  IF poll.at < v_last_snapshot THEN
    {_executed(CORRECT_LATER_INCREMENTS)};
  END IF;
  IF poll.terminal THEN
    {_in_function(LOCK_MEETINGS).replace("SELECT", "PERFORM", 1)};
    {_in_function(SETTLE_MEETINGS)};
  END IF;
  {_in_function(_BUMPED)}
  SELECT version INTO v_version FROM bumped;
  PERFORM pg_notify('race_changed', poll.race_id || ' ' || v_version);
  IF poll.has_runners THEN
    {_READ_ODDS_BEFORE};
    IF NOT v_newest THEN
      SELECT array_agg(x.generated_time), array_agg(x.odds)
      INTO out_later_at, out_later_odds FROM ({_in_function(LATER_SNAPSHOT_ODDS)}) x;
      {_READ_ODDS_STORED};
    END IF;
  END IF;
END
$poll$
"""
POLL_FUNCTION_CHECKSUM = hashlib.sha256(POLL_FUNCTION.encode()).hexdigest()
WRITE_POLL = "SELECT * FROM raceday_write_poll(%s)"


async def install_poll_function(conn: AsyncConnection[Any]) -> bool:
    """(Re)create the poll function when this code's differs from the database's (its checksum is kept as
    the function's comment); True when it did."""
    cursor = await conn.execute(
        "SELECT obj_description(to_regprocedure('raceday_write_poll(jsonb)'), 'pg_proc')"
    )
    row = await cursor.fetchone()
    if row is not None and row[0] == POLL_FUNCTION_CHECKSUM:
        return False
    async with conn.transaction():
        # Dropped first: CREATE OR REPLACE cannot change a function's result columns.
        await conn.execute("DROP FUNCTION IF EXISTS raceday_write_poll(jsonb)")
        await conn.execute(POLL_FUNCTION.encode())
        await conn.execute(f"COMMENT ON FUNCTION raceday_write_poll(jsonb) IS '{POLL_FUNCTION_CHECKSUM}'")
    return True


NO_PARTITION = "no partition of relation"
# Retention detaches only days past RETENTION_DAYS, so in service a retry is rare; the stress test detaches
# the day being written every 20 ms, and 5 attempts could all lose that race on a loaded 2-core machine.
PARTITION_ATTEMPTS = 20


@dataclass(frozen=True)
class WriteResult:
    """What one poll's transaction changed; `status_change` is (old, new) when the stored status moved.

    `stored_status` is the race's status once the poll is stored (with `status_at`, the snapshot it came
    from): the scheduler follows it, not the poll's own status, which may be stale or outranked.
    """

    stored_status: str
    status_at: datetime | None
    race_changed: bool
    entrants_changed: int
    pools_changed: bool
    money_flow_rows: int
    odds_rows: int
    result_changed: bool
    status_change: tuple[str | None, str] | None
    released: bool
    """The poll held was given its next due time (or forgotten) in the poll's transaction."""

    @property
    def rows(self) -> dict[str, int]:
        return {
            "entrants": self.entrants_changed,
            "money_flow": self.money_flow_rows,
            "odds": self.odds_rows,
        }


def _arrays(rows: Sequence[Any], names: Iterable[str], prefix: str = "u_") -> dict[str, list[Any]]:
    return {f"{prefix}{name}": [getattr(row, name) for row in rows] for name in names}


async def upsert_meetings(conn: AsyncConnection[Any], meetings: Sequence[MeetingRow]) -> int:
    """The meetings list's meetings (and their race ids), then each one's status settled from its races."""
    if not meetings:
        return 0
    params: dict[str, Any] = _arrays(meetings, (c for c in _MEETING_COLUMNS if c != "race_ids"), "")
    params["race_ids"] = [",".join(m.race_ids) if m.race_ids is not None else None for m in meetings]
    ids = {"meeting_ids": sorted(m.meeting_id for m in meetings)}
    async with conn.transaction():
        cursor = await conn.execute(UPSERT_MEETINGS, params)
        await conn.execute(LOCK_MEETINGS, ids)
        await conn.execute(SETTLE_MEETINGS, ids)
    return cursor.rowcount


def _json_value(value: Any) -> str:
    """Decimals as strings (exact); orjson writes instants and days in ISO form. PostgreSQL reads both back
    exactly."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} has no JSON form for the poll function")


def _dumps(args: Any) -> bytes:
    """orjson: a poll's arguments took the standard library 140 µs to encode, orjson 22 µs."""
    return orjson.dumps(args, default=_json_value)


def _poll_args(snapshot: Snapshot, polled_at: datetime) -> dict[str, Any]:
    """The poll function's arguments (`_POLL_ARGS`): the snapshot's rows, each part only when carried."""
    race, meeting = snapshot.race, snapshot.meeting
    args: dict[str, Any] = {c: getattr(race, c) for c in _RACE_TYPES}
    args.update(
        at=snapshot.event_timestamp,
        polled_at=polled_at,
        status=race.status,
        terminal=snapshot.is_terminal,
        has_runners=snapshot.has_runners,
        has_money=snapshot.has_money,
        has_pools=snapshot.pools is not None,
        has_results=snapshot.result is not None,
        odds=odds_json(snapshot.odds) if snapshot.has_runners else None,
        time_to_start=snapshot.time_to_start,
        time_interval=snapshot.time_interval,
        interval_type=snapshot.interval_type,
        meeting_ids=[race.meeting_id],
    )
    args.update({f"meeting_{c}": getattr(meeting, c) for c in _MEETING_COLUMNS})
    if snapshot.has_runners or snapshot.has_money:
        args.update(_arrays(snapshot.entrants, {**_ENTRANT_TYPES, **_MONEY_TYPES}))
    if snapshot.has_money:
        args.update(_arrays(snapshot.money_flow, _FLOW_TYPES, "f_"))
    pools = snapshot.pools
    if pools is not None:
        values = (
            pools.win, pools.place, pools.quinella, pools.trifecta, pools.exacta, pools.first4, pools.total,
            pools.data_quality_score, pools.extracted_pools,
        )  # fmt: skip
        args.update(zip(_POOL_COLUMNS, values, strict=True))
    result = snapshot.result
    if result is not None:
        args.update({c: getattr(result, c) for c in _RESULT_COLUMNS})
    return args


def _odds_changes(
    snapshot: Snapshot,
    last_before: list[tuple[Any, ...]],
    later: list[tuple[Any, ...]],
    stored: list[tuple[Any, ...]],
) -> tuple[set[OddsRow], set[OddsRow]]:
    """The odds rows to insert and to delete for this snapshot's time and after."""
    before = {(entrant, kind): odds for entrant, kind, odds in last_before}
    snapshots = [(snapshot.event_timestamp, odds_points(snapshot.odds))]
    snapshots += [(at, points_from_json(data)) for at, data in later]
    wanted = odds_rows(before, snapshots)
    existing: set[OddsRow] = {(entrant, kind, at, odds) for entrant, kind, at, odds in stored}
    return wanted - existing, existing - wanted


def _odds_arrays(rows: Iterable[OddsRow]) -> dict[str, list[Any]]:
    ordered = sorted(rows)
    return {
        "entrant_id": [row[0] for row in ordered],
        "type": [row[1] for row in ordered],
        "event_timestamp": [row[2] for row in ordered],
        "odds": [row[3] for row in ordered],
    }


def _rows(*columns: list[Any] | None) -> list[tuple[Any, ...]]:
    """Rows from the poll function's column arrays (NULL when there were none)."""
    return list(zip(*columns, strict=True)) if columns[0] is not None else []


async def bump_version(conn: AsyncConnection[Any], race_id: str) -> None:
    """For writers other than a poll (a rebuild): readers that cache the race see it changed."""
    await conn.execute(BUMP_VERSION, {"race_id": race_id})


async def write_snapshot(
    conn: AsyncConnection[Any],
    snapshot: Snapshot,
    polled_at: datetime,
    partitions: PartitionKeeper,
    raw: RawResponse | None = None,
    held: Held | None = None,
) -> WriteResult:
    """Everything one poll stores, all or nothing, with the `held` poll given its next due time. The day's
    partitions are made sure of first (outside the poll's transaction); one detached meanwhile by
    retention is attached again and the poll retried."""
    day = nz_day(snapshot.event_timestamp)
    for attempt in range(1, PARTITION_ATTEMPTS + 1):
        await partitions.ensure(conn, day)
        try:
            return await _write(conn, snapshot, polled_at, raw, held)
        except psycopg.errors.CheckViolation as error:
            if NO_PARTITION not in str(error) or attempt == PARTITION_ATTEMPTS:
                raise
        partitions.forget(day)
    raise AssertionError("unreachable")


async def _write(
    conn: AsyncConnection[Any],
    snapshot: Snapshot,
    polled_at: datetime,
    raw: RawResponse | None,
    held: Held | None,
) -> WriteResult:
    """The poll function, then the odds' writes and the next poll, in pipeline mode: one round trip, two
    when the snapshot carries odds or a poll is held (they depend on what the function returns)."""
    async with conn.pipeline():
        if raw is not None:
            # Its own statement: the response is kept even when the poll's transaction fails.
            await conn.execute(RECORD, as_params(raw))
        async with conn.transaction():
            written = await conn.execute(WRITE_POLL, (Jsonb(_poll_args(snapshot, polled_at), _dumps),))
            row = await written.fetchone()
            assert row is not None  # a function call returns its one row
            (inserted, fields, old, new, changed_ids, pools, result, flow_rows, stored_status, status_at) = (
                row[:10]
            )
            odds_cursor = None
            if snapshot.has_runners:
                before, later, stored = (_rows(*row[10:13]), _rows(*row[13:15]), _rows(*row[15:19]))
                insert, delete = _odds_changes(snapshot, before, later, stored)
                key = {"race_id": snapshot.race_id, "at": snapshot.event_timestamp}
                if delete:
                    upper = {"upper": max(odds_row[2] for odds_row in delete)}
                    await conn.execute(DELETE_ODDS, key | upper | _odds_arrays(delete))
                if insert:
                    odds_cursor = await conn.execute(INSERT_ODDS, _odds_arrays(insert))
            released = None
            if held is not None:
                start, due_at = held.next_for(snapshot, stored_status or "open")
                released = await release(conn, held.race_id, held.worker_id, start, due_at)
    status_change: tuple[str | None, str] | None = None
    if inserted is not None:
        status_change = (None, inserted) if snapshot.race.status is not None else None
    elif new is not None and old != new:
        status_change = (old, new)
    return WriteResult(
        stored_status=stored_status or "open",
        status_at=status_at,
        race_changed=inserted is not None or bool(fields),
        entrants_changed=len(set(changed_ids)),
        pools_changed=bool(pools),
        money_flow_rows=flow_rows,
        odds_rows=odds_cursor.rowcount if odds_cursor else 0,
        result_changed=bool(result),
        status_change=status_change,
        released=released is not None and released.rowcount == 1,
    )
