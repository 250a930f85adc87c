"""Where a race's history rows lie in time: bounds that let PostgreSQL prune to the race's partitions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Discovery follows a race from its NZ racing day (the previous one's, until 06:00) and polling gives up
# 3 h after its start: a day either side of the start holds all of a race's snapshots.
MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class HistoryWindow:
    """The event_timestamp range that can hold a race's history rows."""

    lower: datetime
    upper: datetime


def history_window(
    start_time: datetime,
    first_snapshot: datetime | None = None,
    last_snapshot: datetime | None = None,
) -> HistoryWindow:
    """A race's history lies between its first and last snapshot, whichever NZ days they fall on (a
    race that jumps after NZ midnight was polled the evening before). Before any snapshot is known:
    a day either side of the start, which the poller never goes beyond."""
    if first_snapshot is not None and last_snapshot is not None:
        return HistoryWindow(first_snapshot, last_snapshot + timedelta(microseconds=1))
    return HistoryWindow(start_time - MARGIN, start_time + MARGIN)
