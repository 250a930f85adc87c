"""A race's history window: its NZ racing day, stretched when the race runs late into the next."""

from __future__ import annotations

from datetime import date, datetime

from raceday.core.nztime import NZ
from raceday.domain.history import history_window


def test_the_window_is_the_race_day_unless_the_race_runs_late() -> None:
    afternoon = history_window(datetime(2025, 7, 17, 15, 20, tzinfo=NZ), date(2025, 7, 17))
    assert (afternoon.lower, afternoon.upper) == (
        datetime(2025, 7, 17, tzinfo=NZ),
        datetime(2025, 7, 18, tzinfo=NZ),
    )
    late = history_window(datetime(2025, 7, 17, 23, 30, tzinfo=NZ), date(2025, 7, 17))
    assert late.lower == datetime(2025, 7, 17, tzinfo=NZ)
    assert late.upper == datetime(2025, 7, 18, 5, 30, tzinfo=NZ)
