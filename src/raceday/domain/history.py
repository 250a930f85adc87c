"""Where a race's history rows lie in time: bounds that let PostgreSQL prune to the race's partitions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from raceday.core.nztime import nz_day, nz_midnight

# The poller gives up on a race 3 h after its start; twice that is the margin for a late race.
HISTORY_AFTER_START = timedelta(hours=6)


@dataclass(frozen=True)
class HistoryWindow:
    """The event_timestamp range that can hold a race's history rows."""

    lower: datetime
    upper: datetime


def history_window(start_time: datetime, race_date_nz: date | None) -> HistoryWindow:
    """Any poll on the race's NZ day writes history (a baseline after a restart polls settled races too),
    and the poller follows a race up to 3 h past its start: from NZ midnight of the race's day to the
    later of the next NZ midnight and 6 h after the start. Usually that is one partition."""
    start_day = nz_day(start_time)
    first_day = start_day if race_date_nz is None else min(start_day, race_date_nz)
    lower = nz_midnight(first_day)
    next_midnight = nz_midnight(start_day + timedelta(days=1))
    return HistoryWindow(lower, max(next_midnight, start_time + HISTORY_AFTER_START))
