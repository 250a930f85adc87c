"""Discovering races: the daily baseline (every race polled once) and the re-reads through the day.

The racing day is the NZ date; before 06:00 NZ the previous day's night meetings are still running,
so discovery then reads both days. The baseline polls every listed race once and hands the unsettled
ones to the scheduler; a re-read only tracks what is new, re-timed or not yet settled, so meetings and
races added or abandoned after 06:00 are followed too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Protocol

from psycopg_pool import AsyncConnectionPool

from raceday.core.clock import Clock
from raceday.core.log import get_logger
from raceday.core.nztime import NZ, nz_day
from raceday.core.timing import elapsed_ms
from raceday.db.writers import upsert_meetings
from raceday.domain.transform import meeting_from_listing, tracked
from raceday.nztab.models import Meeting, MeetingsResponse
from raceday.pipeline.processor import PollResult, RaceProcessor
from raceday.pipeline.scheduler import Scheduler

log = get_logger(__name__)

# Until the day's 06:00 baseline, the previous NZ day's night meetings may still be racing.
PREVIOUS_DAY_UNTIL = clock_time(6, 0)

SETTLED_RACES = "SELECT race_id FROM races WHERE race_id = ANY(%s) AND status IN ('final', 'abandoned')"


class MeetingSource(Protocol):
    async def meetings(
        self, day: date, *, countries: Iterable[str] | None = None, categories: Iterable[str] | None = None
    ) -> MeetingsResponse: ...


@dataclass(frozen=True)
class BaselineSummary:
    day: date
    meetings: int
    races: int
    already_tracked: int
    """Races the scheduler was already polling: not polled again by the baseline."""
    already_settled: int
    """Races final or abandoned in the database (a restart): not polled again."""
    entrants: int
    failed: int
    duration_ms: float


@dataclass(frozen=True)
class Listing:
    """The tracked meetings of the days discovery reads, as the meetings list gives them."""

    day: date
    meetings: list[Meeting]
    simulated: bool


def discovery_days(now: datetime) -> list[date]:
    """The NZ racing days whose races may still be running at `now`."""
    today = nz_day(now)
    if now.astimezone(NZ).time() < PREVIOUS_DAY_UNTIL:
        return [today - timedelta(days=1), today]
    return [today]


async def read_listing(
    source: MeetingSource,
    pool: AsyncConnectionPool,
    clock: Clock,
    countries: frozenset[str],
    categories: frozenset[str],
) -> Listing:
    """The meetings of the discovery days, upserted (with their race ids) before anything is polled."""
    meetings: list[Meeting] = []
    simulated = False
    days = discovery_days(clock.now())
    for day in days:
        response = await source.meetings(day, countries=sorted(countries), categories=sorted(categories))
        meetings += tracked(response.data.meetings, countries, categories)
        simulated = simulated or response.simulated
    async with pool.connection() as conn:
        await upsert_meetings(conn, [meeting_from_listing(m, simulated) for m in meetings])
    return Listing(days[-1], meetings, simulated)


async def run_baseline(
    source: MeetingSource,
    processor: RaceProcessor,
    scheduler: Scheduler,
    pool: AsyncConnectionPool,
    clock: Clock,
    *,
    countries: frozenset[str],
    categories: frozenset[str],
    stop: asyncio.Event | None = None,
) -> BaselineSummary:
    """Upsert the day's meetings, poll every race once, and track each race not yet settled.

    Races the scheduler already follows are left to it (one poll of a race at a time), and the
    baseline's polls take the scheduler's slots, so together they stay within POLL_CONCURRENCY.
    Once `stop` is set, polls still waiting for a slot are not started.
    """
    started = time.perf_counter()
    listing = await read_listing(source, pool, clock, countries, categories)
    settled = await _settled(pool, [race.id for m in listing.meetings for race in m.races])

    async def poll(race_id: str) -> PollResult | None:
        async with scheduler.slots:
            if stop is not None and stop.is_set():
                return None
            return await processor.process(race_id)

    listed = [
        (race.id, race.start_time)
        for m in listing.meetings
        for race in m.races
        if race.id not in scheduler.races and race.id not in settled
    ]
    followed = sum(len(m.races) for m in listing.meetings) - len(listed) - len(settled)
    results = await asyncio.gather(*(poll(race_id) for race_id, _ in listed))
    entrants = failed = 0
    for (race_id, start), result in zip(listed, results, strict=True):
        if result is not None and result.snapshot is not None and result.outcome == "ok":
            entrants += len(result.snapshot.entrants)
            scheduler.track(race_id, result.snapshot.race.start_time, result.status, polled=True)
        else:
            # Not stored (failed, or skipped while stopping): tracked as unknown until a poll is stored.
            failed += 1 if result is not None else 0
            scheduler.track(race_id, start, None)
    summary = BaselineSummary(
        day=listing.day,
        meetings=len(listing.meetings),
        races=len(listed) + followed + len(settled),
        already_tracked=followed,
        already_settled=len(settled),
        entrants=entrants,
        failed=failed,
        duration_ms=elapsed_ms(started),
    )
    log.info(
        "daily baseline complete",
        **asdict(summary) | {"day": listing.day.isoformat()},
        simulated=listing.simulated,
    )
    return summary


async def _settled(pool: AsyncConnectionPool, race_ids: list[str]) -> set[str]:
    """The races already final or abandoned in the database: nothing left to poll."""
    async with pool.connection() as conn:
        cursor = await conn.execute(SETTLED_RACES, (sorted(race_ids),))
        return {row[0] for row in await cursor.fetchall()}


async def rediscover(
    source: MeetingSource,
    scheduler: Scheduler,
    pool: AsyncConnectionPool,
    clock: Clock,
    *,
    countries: frozenset[str],
    categories: frozenset[str],
) -> list[str]:
    """Re-read the meetings list: track every listed race not followed yet and not settled in the
    database (new, re-timed or abandoned since the baseline); returns the races newly tracked."""
    listing = await read_listing(source, pool, clock, countries, categories)
    candidates = {
        race.id: race for m in listing.meetings for race in m.races if race.id not in scheduler.races
    }
    settled = await _settled(pool, list(candidates))
    added = sorted(set(candidates) - settled)
    for race_id in added:
        scheduler.track(race_id, candidates[race_id].start_time, None)
    if added:
        log.info("races discovered", races=len(added), day=listing.day.isoformat())
    return added
