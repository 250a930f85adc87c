"""Rebuilding a day's derived tables from its recorded responses: after a fix, history is corrected.

Because what raceday stores is a function of the set of snapshots received, writing a race's recorded
snapshots again into an empty slate gives exactly the tables live polling would have given with today's
code. Each race is rebuilt in its own transaction (its rows deleted and written again, or left as they
were), and what changed is counted per table: rows added, removed, and rows whose values changed. Run
twice, it changes nothing. A recording that cannot be read is reported by its key and skipped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from raceday.core.log import get_logger
from raceday.db.partitions import PartitionKeeper
from raceday.db.recording import RawResponse, recorded_day
from raceday.db.writers import bump_version, upsert_meetings, write_snapshot
from raceday.domain.rows import Snapshot
from raceday.domain.transform import InvalidPayload, meeting_from_listing, tracked, transform_payload
from raceday.nztab.decode import NzTabPayloadError, decode_response
from raceday.nztab.models import MeetingsResponse
from raceday.nztab.raw import CorruptRecording, unpack

log = get_logger(__name__)

# A race's derived rows, by table: the natural key, and how to select them (bookkeeping columns dropped).
_BOOKKEEPING = "ARRAY['created_at', 'updated_at', 'polling_timestamp', 'received_at', 'id']"
_ENTRANTS = "(SELECT entrant_id FROM entrants WHERE race_id = %(race_id)s)"
RACE_ROWS: dict[str, tuple[str, str]] = {
    "races": ("race_id", "FROM races t WHERE t.race_id = %(race_id)s"),
    "entrants": ("entrant_id", "FROM entrants t WHERE t.race_id = %(race_id)s"),
    "race_pools": ("race_id", "FROM race_pools t WHERE t.race_id = %(race_id)s"),
    "race_results": ("race_id", "FROM race_results t WHERE t.race_id = %(race_id)s"),
    "race_snapshots": ("generated_time", "FROM race_snapshots t WHERE t.race_id = %(race_id)s"),
    "money_flow_history": (
        "entrant_id || ' ' || event_timestamp",
        "FROM money_flow_history t WHERE t.race_id = %(race_id)s",
    ),
    "odds_history": (
        "entrant_id || ' ' || type || ' ' || event_timestamp",
        f"FROM odds_history t WHERE t.entrant_id IN {_ENTRANTS}",
    ),
}

# History first (it references entrants), then the race: its entrants, pools, results, snapshots go with it.
DELETE_RACE = (
    f"DELETE FROM odds_history WHERE entrant_id IN {_ENTRANTS}",
    "DELETE FROM money_flow_history WHERE race_id = %(race_id)s",
    "DELETE FROM races WHERE race_id = %(race_id)s",
)


@dataclass
class Changes:
    added: int = 0
    removed: int = 0
    corrected: int = 0

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.corrected)


@dataclass
class RebuildReport:
    day: date
    races: int = 0
    snapshots: int = 0
    meetings_pages: int = 0
    unreadable: list[str] = field(default_factory=list)
    """Recordings that could not be read or are not valid responses, by key."""
    changes: dict[str, Changes] = field(default_factory=dict)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = [
            f"rebuilt {self.day}: {self.races} races from {self.snapshots} snapshots and "
            f"{self.meetings_pages} meetings pages in {self.seconds:.1f} s"
        ]
        for table, change in sorted(self.changes.items()):
            out.append(
                f"  {table}: {change.added} added, {change.removed} removed, {change.corrected} corrected"
            )
        if not any(self.changes.values()):
            out.append("  nothing changed")
        out += [f"  skipped (unreadable): {key}" for key in self.unreadable]
        return out


async def _race_rows(conn: AsyncConnection[Any], race_id: str) -> Rows:
    rows: Rows = {}
    for table, (key, source) in RACE_ROWS.items():
        sql = f"SELECT ({key})::text, (to_jsonb(t) - {_BOOKKEEPING})::text {source}"
        cursor = await conn.execute(sql, {"race_id": race_id})
        rows[table] = {row[0]: row[1] for row in await cursor.fetchall()}
    return rows


Rows = dict[str, dict[str, str]]


def _count(before: Rows, after: Rows, into: dict[str, Changes]) -> None:
    for table in RACE_ROWS:
        old, new = before[table], after[table]
        change = into.setdefault(table, Changes())
        change.added += len(new.keys() - old.keys())
        change.removed += len(old.keys() - new.keys())
        change.corrected += sum(1 for key in old.keys() & new.keys() if old[key] != new[key])


def _snapshot(response: RawResponse) -> Snapshot:
    return transform_payload(unpack(response.body), response.race_id)


async def rebuild_day(
    pool: AsyncConnectionPool,
    day: date,
    *,
    countries: frozenset[str],
    categories: frozenset[str],
    race_id: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RebuildReport:
    """Rebuild the day's races (or one) from their recorded responses; see the module's docstring.
    The meetings of the tracked countries and categories are upserted from the day's latest pages."""
    started = time.perf_counter()
    report = RebuildReport(day)
    async with pool.connection() as conn:
        responses = await recorded_day(conn, day)
    pages = [r for r in responses if r.endpoint == "meetings"]
    await _meetings(pool, pages, report, countries, categories)
    by_race: dict[str, list[RawResponse]] = {}
    for response in responses:
        if response.endpoint == "events" and response.race_id and race_id in (None, response.race_id):
            by_race.setdefault(response.race_id, []).append(response)
    keeper = PartitionKeeper()
    for done, (race, recorded) in enumerate(sorted(by_race.items()), start=1):
        snapshots = []
        for response in recorded:
            try:
                snapshots.append((response, _snapshot(response)))
            except (CorruptRecording, InvalidPayload) as error:
                report.unreadable.append(f"{response.key}: {error}")
        async with pool.connection() as conn, conn.transaction():
            before = await _race_rows(conn, race)
            for statement in DELETE_RACE:
                await conn.execute(statement, {"race_id": race})
            await bump_version(conn, race)
            for response, snapshot in snapshots:
                await write_snapshot(conn, snapshot, response.received_at, keeper)
            _count(before, await _race_rows(conn, race), report.changes)
        report.races += 1
        report.snapshots += len(snapshots)
        if progress is not None:
            progress(done, len(by_race))
    report.seconds = round(time.perf_counter() - started, 2)
    log.info("day rebuilt", day=day.isoformat(), races=report.races, snapshots=report.snapshots)
    return report


async def _meetings(
    pool: AsyncConnectionPool,
    pages: list[RawResponse],
    report: RebuildReport,
    countries: frozenset[str],
    categories: frozenset[str],
) -> None:
    """The day's meetings as its latest recorded pages give them (earlier pages are overtaken)."""
    latest: dict[str, RawResponse] = {}
    for page in pages:
        latest[page.request_key] = page
    meetings = []
    for page in latest.values():
        try:
            body = unpack(page.body)
            response = decode_response(MeetingsResponse, body, endpoint="meetings")
        except (CorruptRecording, NzTabPayloadError, json.JSONDecodeError) as error:
            report.unreadable.append(f"{page.key}: {error}")
            continue
        listed = tracked(response.data.meetings, countries, categories)
        meetings += [meeting_from_listing(m, response.simulated) for m in listed]
        report.meetings_pages += 1
    if meetings:
        async with pool.connection() as conn:
            await upsert_meetings(conn, meetings)
