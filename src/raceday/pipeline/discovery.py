"""Which races there are: the meetings list of the racing days that may still be running, stored.

The racing day is the NZ date; before 06:00 NZ the previous day's night meetings are still running,
so discovery then reads both days. It is read every few minutes (`queue.discover`), so meetings and
races added, re-timed or abandoned through the day are followed too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Protocol

from psycopg_pool import AsyncConnectionPool

from raceday.core.clock import Clock
from raceday.core.nztime import NZ, nz_day
from raceday.db.writers import upsert_meetings
from raceday.domain.transform import meeting_from_listing, tracked
from raceday.nztab.models import Meeting, MeetingsResponse

# Until 06:00 NZ, the previous NZ day's night meetings may still be racing.
PREVIOUS_DAY_UNTIL = clock_time(6, 0)


class MeetingSource(Protocol):
    async def meetings(
        self, day: date, *, countries: Iterable[str] | None = None, categories: Iterable[str] | None = None
    ) -> MeetingsResponse: ...


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
