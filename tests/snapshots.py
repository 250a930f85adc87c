"""One simulated race as the pipeline would receive it: its snapshots over time, with partial feeds mixed in,
and the derived tables dumped so two runs can be compared byte for byte."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from raceday.domain.rows import Snapshot
from raceday.domain.transform import transform_payload
from raceday.simulator.day import SimDay, generate_day
from raceday.simulator.model import SimRace
from raceday.simulator.payloads import EventFlags, event

ANCHOR = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
FLAGS = EventFlags(with_money_tracker=True, with_tote_trends_data=True, with_will_pays=True)

# Derived tables and the columns that say when raceday did something, not what it received.
DERIVED_TABLES = (
    "meetings",
    "races",
    "entrants",
    "race_pools",
    "race_results",
    "race_snapshots",
    "money_flow_history",
    "odds_history",
)
BOOKKEEPING = ("id", "created_at", "updated_at", "polling_timestamp", "received_at")

Body = dict[str, Any]


def a_race(day: SimDay) -> SimRace:
    """A race that runs (not abandoned) with a scratching, so every rule has something to act on."""
    return next(
        race
        for race in day.races
        if race.abandon_at is None and any(r.scratch_at is not None for r in race.runners)
    )


def bodies(day: SimDay, race: SimRace, times: list[datetime]) -> list[Body]:
    market = day.market(race)
    return [event(market, at, FLAGS, f"/affiliates/v1/racing/events/{race.race_id}") for at in times]


def race_times(race: SimRace, step_s: int = 60) -> list[datetime]:
    """Poll times from 40 minutes before the start to 3 minutes after it is final."""
    first = race.start - timedelta(minutes=40)
    last = race.final_at + timedelta(minutes=3)
    count = int((last - first).total_seconds() // step_s) + 1
    return [first + timedelta(seconds=step_s * i) for i in range(count)]


def to_snapshot(body: Body) -> Snapshot:
    return transform_payload(json.dumps(body).encode())


def altered(body: Body, change: Callable[[Body], None]) -> Body:
    copied = copy.deepcopy(body)
    change(copied)
    return copied


def drop_tracker(body: Body) -> None:
    body["data"]["money_tracker"] = None


def zero_pools(body: Body) -> None:
    for pool in body["data"]["tote_pools"]:
        pool["total"] = 0


def drop_pools(body: Body) -> None:
    body["data"]["tote_pools"] = []


def say_status(status: str) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        body["data"]["race"]["status"] = status

    return change


def at_time(body: Body, at: datetime) -> Body:
    """The body as a snapshot generated at `at` (NZ TAB's format: nanoseconds and Z)."""
    copied = copy.deepcopy(body)
    copied["header"]["generated_time"] = at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    return copied


def mixed_sequence(day: SimDay | None = None) -> list[Snapshot]:
    """A race's snapshots, one a minute, with what real feeds do mixed in: dropped trackers, empty and
    missing pools, an unknown status, and a snapshot after the final one that says the race is open."""
    day = day or generate_day(3, ANCHOR)
    race = a_race(day)
    times = race_times(race)
    raw = bodies(day, race, times)
    for index in range(5, len(raw), 7):
        raw[index] = altered(raw[index], drop_tracker)
    raw[3] = altered(raw[3], drop_pools)
    raw[11] = altered(raw[11], zero_pools)
    raw[-4] = altered(raw[-4], say_status("Photo"))
    anomaly = at_time(altered(raw[len(raw) // 2], say_status("Open")), times[-1] + timedelta(seconds=30))
    return [to_snapshot(body) for body in [*raw, anomaly]]


def dump(conn: psycopg.Connection[Any]) -> dict[str, list[str]]:
    """Every derived row as JSON text without bookkeeping columns, sorted: equal dumps, equal tables."""
    dropped = ", ".join(f"'{column}'" for column in BOOKKEEPING)
    return {
        table: [
            row[0]
            for row in conn.execute(
                f"SELECT (to_jsonb(t) - ARRAY[{dropped}])::text FROM {table} t ORDER BY 1"
            )
        ]
        for table in DERIVED_TABLES
    }


def wipe(conn: psycopg.Connection[Any]) -> None:
    conn.execute(f"TRUNCATE {', '.join(DERIVED_TABLES)} CASCADE")
