"""The daily baseline: the NZ racing day's meetings, every race event, and tracking for the rest."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Protocol

from psycopg_pool import AsyncConnectionPool

from raceday.core.clock import Clock
from raceday.core.log import get_logger
from raceday.core.nztime import nz_day
from raceday.core.timing import elapsed_ms
from raceday.db.writers import upsert_meetings
from raceday.domain.transform import meeting_from_listing, tracked
from raceday.nztab.models import MeetingsResponse
from raceday.pipeline.processor import PollResult, RaceProcessor
from raceday.pipeline.scheduler import Scheduler

log = get_logger(__name__)


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
    entrants: int
    failed: int
    duration_ms: float


async def run_baseline(
    source: MeetingSource,
    processor: RaceProcessor,
    scheduler: Scheduler,
    pool: AsyncConnectionPool,
    clock: Clock,
    *,
    countries: frozenset[str],
    categories: frozenset[str],
) -> BaselineSummary:
    """Upsert the day's meetings, poll every race once, and track each race not yet settled.

    Races the scheduler already follows are left to it (one poll of a race at a time), and the
    baseline's polls take the scheduler's slots, so together they stay within POLL_CONCURRENCY.
    """
    started = time.perf_counter()
    day = nz_day(clock.now())
    response = await source.meetings(day, countries=sorted(countries), categories=sorted(categories))
    meetings = tracked(response.data.meetings, countries, categories)
    async with pool.connection() as conn:
        await upsert_meetings(conn, [meeting_from_listing(m, response.simulated) for m in meetings])

    async def poll(race_id: str) -> PollResult:
        async with scheduler.slots:
            return await processor.process(race_id)

    listed = [
        (race.id, race.start_time, race.race_status)
        for m in meetings
        for race in m.races
        if race.id not in scheduler.races
    ]
    followed = sum(len(m.races) for m in meetings) - len(listed)
    results = await asyncio.gather(*(poll(race_id) for race_id, _, _ in listed))
    entrants = failed = 0
    for (race_id, start, status), result in zip(listed, results, strict=True):
        if result.snapshot is not None and result.outcome == "ok":
            entrants += len(result.snapshot.entrants)
            scheduler.track(race_id, result.snapshot.race.start_time, result.status, polled=True)
        else:
            failed += 1
            scheduler.track(race_id, start, status.value if status else None)
    summary = BaselineSummary(
        day=day,
        meetings=len(meetings),
        races=len(listed) + followed,
        already_tracked=followed,
        entrants=entrants,
        failed=failed,
        duration_ms=elapsed_ms(started),
    )
    log.info(
        "daily baseline complete", **asdict(summary) | {"day": day.isoformat()}, simulated=response.simulated
    )
    return summary
