"""The daily baseline: the NZ racing day's meetings, every race event, and tracking for the rest."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Protocol

from psycopg_pool import AsyncConnectionPool

from raceday.clock import Clock
from raceday.db.writers import upsert_meetings
from raceday.log import get_logger
from raceday.nztab.models import Meeting, MeetingsResponse, RaceStatus
from raceday.pipeline.money_flow import nz_day
from raceday.pipeline.processor import PollResult, RaceProcessor
from raceday.pipeline.scheduler import Scheduler
from raceday.pipeline.transform import RACE_TYPES, MeetingRow

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


def meeting_status(meeting: Meeting) -> str:
    """`cancelled` when every race is abandoned, `completed` when every race is settled."""
    statuses = [race.race_status for race in meeting.races]
    if statuses and all(s is RaceStatus.ABANDONED for s in statuses):
        return "cancelled"
    if statuses and all(s is not None and s.is_terminal for s in statuses):
        return "completed"
    return "active"


def meeting_row(meeting: Meeting, simulated: bool) -> MeetingRow:
    return MeetingRow(
        meeting_id=meeting.meeting,
        meeting_name=meeting.name,
        country=meeting.country,
        race_type=RACE_TYPES[meeting.category.upper()],
        date=meeting.racing_date,
        status=meeting_status(meeting),
        category=meeting.category.upper(),
        category_name=meeting.category_name,
        state=meeting.state,
        track_condition=meeting.track_condition or None,
        tote_status=meeting.tote_status,
        data_source="simulator" if simulated else "nztab",
    )


def tracked(
    meetings: Iterable[Meeting], countries: frozenset[str], categories: frozenset[str]
) -> list[Meeting]:
    return [
        m
        for m in meetings
        if m.country.upper() in countries
        and m.category.upper() in categories
        and m.category.upper() in RACE_TYPES
    ]


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
        await upsert_meetings(conn, [meeting_row(m, response.simulated) for m in meetings])

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
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    log.info(
        "daily baseline complete", **asdict(summary) | {"day": day.isoformat()}, simulated=response.simulated
    )
    return summary
