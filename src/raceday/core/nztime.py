"""New Zealand time: the racing day is the NZ date (`Pacific/Auckland`), whatever the server's zone.

Meeting dates, daily jobs and partition bounds all use it; instants leave raceday as ISO 8601 UTC with `Z`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

NZ = ZoneInfo("Pacific/Auckland")


def nz_day(moment: datetime) -> date:
    """The NZ racing day an instant belongs to."""
    return moment.astimezone(NZ).date()


def nz_midnight(day: date) -> datetime:
    """The instant the NZ racing day `day` begins (DST-aware)."""
    return datetime.combine(day, time(0), tzinfo=NZ)


def next_nz_time(now: datetime, at: time) -> datetime:
    """The next instant strictly after `now` when NZ wall-clock time is `at` (DST-aware)."""
    local = now.astimezone(NZ)
    candidate = datetime.combine(local.date(), at, tzinfo=NZ)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=NZ)
    return candidate


def iso_z(moment: datetime) -> str:
    """An aware instant as JavaScript's toISOString writes it: UTC, milliseconds, `Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
