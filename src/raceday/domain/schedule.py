"""When to poll a race: the 60 s / 30 s / 15 s ladder, and when to stop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

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


@dataclass(frozen=True)
class NextPoll:
    """What follows a poll: the next one at `at`, or (`at` None) the end of the race's polling."""

    at: datetime | None
    reason: Literal["ladder", "retry_after", "terminal", "given_up"]


def plan_next_poll(
    start: datetime,
    status: str | None,
    now: datetime,
    *,
    retry_after_s: float | None = None,
    time_scale: float = 1.0,
) -> NextPoll:
    """After a poll at `now`: stop once a terminal status is stored or 3 h after the start, else the
    ladder, pushed back by NZ TAB's Retry-After (wall seconds, so scaled to the data clock's speed)."""
    if status in TERMINAL:
        return NextPoll(None, "terminal")
    if now - start > GIVE_UP_AFTER:
        return NextPoll(None, "given_up")
    due = next_poll_at(start, now)
    if retry_after_s is not None:
        paused = now + timedelta(seconds=retry_after_s * time_scale)
        if paused > due:
            return NextPoll(paused, "retry_after")
    return NextPoll(due, "ladder")
