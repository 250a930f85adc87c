"""The history reads touch only the race's own NZ-day partition, through an index (EXPLAIN, real volume).

Three days of races with 80 money-flow and 120 odds rows per runner are loaded and analysed, so the
planner chooses as it would on a real day; each query is explained with the parameters the API binds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from raceday.core.nztime import NZ
from raceday.db import queries
from raceday.db.embedded import EmbeddedPostgres
from raceday.domain.history import HistoryWindow, history_window
from tests.conftest import new_database

DAYS = (date(2025, 7, 16), date(2025, 7, 17), date(2025, 7, 18))
TARGET = "race-1-10"
# Indexes that lead with (entrant_id, event_timestamp): either serves "latest N rows of an entrant".
ENTRANT_TIME_INDEXES = {
    "idx_odds_entrant_time",
    "idx_money_flow_entrant_time",
}

VOLUME = """
INSERT INTO meetings (meeting_id, meeting_name, country, race_type, date, status)
SELECT 'meeting-' || d, 'Volume Park ' || d, 'NZ', 'thoroughbred', date '2025-07-16' + d, 'active'
FROM generate_series(0, 2) d;

INSERT INTO races (race_id, meeting_id, name, race_number, start_time, status, race_date_nz,
  first_snapshot_at, last_snapshot_at)
SELECT format('race-%s-%s', d, n), 'meeting-' || d, 'RACE ' || n, n, s.start, 'final', date '2025-07-16' + d,
  s.start - interval '2 hours', s.start + interval '30 minutes'
FROM generate_series(0, 2) d, generate_series(1, 12) n,
  LATERAL (SELECT ((date '2025-07-16' + d) + time '12:00' + n * interval '20 minutes')
    AT TIME ZONE 'Pacific/Auckland' AS start) s;

INSERT INTO entrants (entrant_id, race_id, name, runner_number)
SELECT r.race_id || '-' || k, r.race_id, 'Runner ' || k, k
FROM races r, generate_series(1, 16) k;

INSERT INTO money_flow_history (entrant_id, race_id, hold_percentage, type, time_to_start, time_interval,
  event_timestamp, polling_timestamp, win_pool_amount, place_pool_amount, pool_type)
SELECT e.entrant_id, e.race_id, 5, 'bucketed_aggregation', 75 - g * 3 / 4, greatest(0, 75 - g * 3 / 4),
  r.start_time - interval '75 minutes' + g * interval '45 seconds',
  r.start_time - interval '75 minutes' + g * interval '45 seconds', g * 100, g * 40, 'combined'
FROM entrants e JOIN races r USING (race_id), generate_series(0, 79) g;

INSERT INTO odds_history (entrant_id, odds, type, event_timestamp)
SELECT e.entrant_id, 2 + g / 10.0, t, r.start_time - interval '75 minutes' + g * interval '90 seconds'
FROM entrants e JOIN races r USING (race_id), generate_series(0, 29) g,
  unnest(ARRAY['fixed_win', 'fixed_place', 'pool_win', 'pool_place']) t;
"""


@pytest.fixture(scope="module")
def volume(pg_server: EmbeddedPostgres) -> Iterator[str]:
    with new_database(pg_server) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            # The three days with rows, after a month of empty ones, as a service keeps them.
            for day in [DAYS[0] - timedelta(days=back) for back in range(30, 0, -1)] + list(DAYS):
                for table in ("money_flow_history", "odds_history"):
                    conn.execute("SELECT ensure_daily_partition(%s, %s)", (table, day))
            conn.execute(VOLUME)
            conn.execute("ANALYZE")
        yield url


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


def _history_scans(url: str, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn:
        [[document]] = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchall()
    nodes = _nodes(document[0]["Plan"])
    return [
        n for n in nodes if str(n.get("Relation Name", "")).startswith(("money_flow_history", "odds_history"))
    ]


def _parent_indexes(url: str, scans: list[dict[str, Any]]) -> set[str]:
    """The partitioned indexes that the scanned partition indexes belong to (a bitmap heap scan's index
    is its bitmap index scan's)."""
    names = [scan.get("Index Name") or scan["Plans"][0]["Index Name"] for scan in scans]
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """SELECT parent.relname FROM pg_inherits i
               JOIN pg_class child ON child.oid = i.inhrelid
               JOIN pg_class parent ON parent.oid = i.inhparent
               WHERE child.relname = ANY(%s)""",
            (names,),
        ).fetchall()
    assert len(rows) == len(set(names))
    return {row[0] for row in rows}


def _window() -> HistoryWindow:
    """race-1-10 starts at 12:00 + 10 x 20 min, NZ time, on the middle day; polled from 2 h before it
    to 30 min after (its first and last snapshot, as the seed records them)."""
    start = datetime(2025, 7, 17, 15, 20, tzinfo=NZ)
    return history_window(start, start - timedelta(hours=2), start + timedelta(minutes=30))


def test_entrant_history_reads_one_partition_per_table_by_index(volume: str) -> None:
    params = queries.history_params(TARGET, _window(), 50)
    scans = _history_scans(volume, queries.ENTRANTS_JSON_SQL, params)
    assert {scan["Relation Name"] for scan in scans} == {
        "odds_history_2025_07_17",
        "money_flow_history_2025_07_17",
    }
    # A race's window is its own snapshots' span: for that few rows the planner may take the index as a
    # bitmap; either way it is the (entrant_id, event_timestamp) index, in one partition.
    assert {scan["Node Type"] for scan in scans} <= {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}
    assert _parent_indexes(volume, scans) <= ENTRANT_TIME_INDEXES


def test_timeline_reads_one_partition_by_index(volume: str) -> None:
    entrants = [f"{TARGET}-{k}" for k in range(1, 17)]
    params = queries.timeline_params(TARGET, entrants, _window(), 200, None, None)
    scans = _history_scans(volume, queries.timeline_sql(False, False), params)
    assert {scan["Relation Name"] for scan in scans} == {"money_flow_history_2025_07_17"}
    assert {scan["Node Type"] for scan in scans} <= {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}


def test_history_reads_lock_only_the_races_day_once_prepared(volume: str) -> None:
    """psycopg prepares a statement run 5 times on a connection, and PostgreSQL may then cache a generic
    plan, which would lock all 33 days' partitions on every read: the API's reads must stay on the race's."""
    entrants = [f"{TARGET}-{k}" for k in range(1, 17)]
    reads = [
        (queries.ENTRANTS_JSON_SQL, queries.history_params(TARGET, _window(), 50)),
        (
            queries.timeline_sql(False, False),
            queries.timeline_params(TARGET, entrants, _window(), 200, None, None),
        ),
    ]
    with psycopg.connect(volume) as conn:
        for _ in range(12):
            for sql, params in reads:
                conn.execute(sql, params).fetchall()
            conn.rollback()
        for sql, params in reads:
            conn.execute(sql, params).fetchall()
        locked = conn.execute(
            """SELECT DISTINCT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
               JOIN pg_inherits i ON i.inhrelid = c.oid
               WHERE l.pid = pg_backend_pid() AND c.relkind = 'r' AND i.inhparent IN
                 ('money_flow_history'::regclass, 'odds_history'::regclass)
               ORDER BY 1"""
        ).fetchall()
    assert locked == [("money_flow_history_2025_07_17",), ("odds_history_2025_07_17",)]
