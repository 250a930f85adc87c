"""Time as the pipeline and the simulator see it: one `Clock` protocol, three clocks.

`SystemClock` is the wall clock (real NZ TAB data). With the simulator, the simulator and the
pipeline share its clock: `ScaledClock` runs sim time `speed` times faster than the wall clock from
an anchor; `ManualClock` moves only when told, so tests step through a race without sleeping.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the (possibly simulated) time; the pipeline can share it."""

    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("clock times must be timezone-aware")
    return moment.astimezone(UTC)


class ScaledClock:
    """sim_now = anchor + (wall-clock seconds since creation) * speed."""

    def __init__(
        self, anchor: datetime | None = None, speed: float = 1.0, started: float | None = None
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.anchor = _aware(anchor) if anchor is not None else datetime.now(UTC)
        self.speed = speed
        self.started = time.monotonic() if started is None else started
        """The anchor's `time.monotonic()`: Linux's monotonic clock is system-wide, so a worker process
        handed (anchor, speed, started) runs on the same data time as its parent."""

    def now(self) -> datetime:
        elapsed = time.monotonic() - self.started
        return self.anchor + timedelta(seconds=elapsed * self.speed)


class ManualClock:
    """A clock that stands still until `advance` or `set` moves it."""

    def __init__(self, start: datetime) -> None:
        self._now = _aware(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        """Move forward (or back, if negative) by `seconds`; returns the new time."""
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, moment: datetime) -> datetime:
        """Jump to `moment`; returns it."""
        self._now = _aware(moment)
        return self._now
