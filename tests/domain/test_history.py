"""A race's history window: between its first and last snapshot, whatever NZ days they fall on."""

from __future__ import annotations

from datetime import datetime, timedelta

from raceday.core.nztime import NZ
from raceday.domain.history import history_window

START = datetime(2025, 7, 18, 0, 20, tzinfo=NZ)  # a race just after NZ midnight


def test_the_window_runs_from_the_first_to_the_last_snapshot_across_midnight() -> None:
    first, last = datetime(2025, 7, 17, 18, 0, tzinfo=NZ), datetime(2025, 7, 18, 0, 31, tzinfo=NZ)
    window = history_window(START, first, last)
    assert window.lower == first
    assert window.upper == last + timedelta(microseconds=1)  # the last snapshot is inside


def test_before_any_snapshot_a_day_either_side_of_the_start() -> None:
    window = history_window(START)
    assert (window.lower, window.upper) == (
        datetime(2025, 7, 17, 0, 20, tzinfo=NZ),
        datetime(2025, 7, 19, 0, 20, tzinfo=NZ),
    )
