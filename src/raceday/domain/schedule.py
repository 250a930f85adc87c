"""When to poll a race: the 60 s / 30 s / 15 s ladder, and when to stop."""

from __future__ import annotations

from datetime import datetime, timedelta

# A race not settled 3 h after its start is given up (with a warning).
GIVE_UP_AFTER = timedelta(hours=3)
TERMINAL = frozenset({"final", "abandoned"})
# A race moves forward through these; abandoned can come at any point.
STATUS_ORDER = ("open", "closed", "interim", "final", "abandoned")


def poll_interval_s(seconds_to_start: float) -> int:
    """How often to poll a race: 60 s, then 30 s inside 15 min, then 15 s inside 5 min and after."""
    if seconds_to_start > 15 * 60:
        return 60
    if seconds_to_start > 5 * 60:
        return 30
    return 15


def next_poll_at(start: datetime, now: datetime) -> datetime:
    """The next poll of a race starting at `start`, as seen at `now`."""
    return now + timedelta(seconds=poll_interval_s((start - now).total_seconds()))
