"""New Zealand wall-clock time: the next 06:00 across daylight saving, the racing day, instants as text."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from raceday.core.nztime import iso_z, next_nz_time, nz_day, nz_midnight

SIX = time(6, 0)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # 05:00 NZDT (UTC+13) → 06:00 the same NZ day.
        (datetime(2026, 1, 10, 16, 0, tzinfo=UTC), datetime(2026, 1, 10, 17, 0, tzinfo=UTC)),
        # 06:00 exactly is not "next": the following day.
        (datetime(2026, 1, 10, 17, 0, tzinfo=UTC), datetime(2026, 1, 11, 17, 0, tzinfo=UTC)),
        # Daylight saving ends on 2026-04-05 at 03:00 NZDT: the next 06:00 is NZST (UTC+12).
        (datetime(2026, 4, 4, 18, 0, tzinfo=UTC), datetime(2026, 4, 5, 18, 0, tzinfo=UTC)),
        # Mid-winter (NZST).
        (datetime(2026, 7, 1, 0, 0, tzinfo=UTC), datetime(2026, 7, 1, 18, 0, tzinfo=UTC)),
    ],
)
def test_next_06_00_in_new_zealand(now: datetime, expected: datetime) -> None:
    assert next_nz_time(now, SIX) == expected


def test_the_racing_day_is_the_new_zealand_date() -> None:
    # 11:30 UTC on 17 July is 23:30 NZST; 12:00 UTC is midnight, the next NZ day.
    assert nz_day(datetime(2025, 7, 17, 11, 30, tzinfo=UTC)) == date(2025, 7, 17)
    assert nz_day(datetime(2025, 7, 17, 12, 0, tzinfo=UTC)) == date(2025, 7, 18)


def test_nz_midnight_follows_daylight_saving() -> None:
    assert nz_midnight(date(2025, 7, 17)) == datetime(2025, 7, 16, 12, 0, tzinfo=UTC)  # NZST, UTC+12
    assert nz_midnight(date(2026, 1, 10)) == datetime(2026, 1, 9, 11, 0, tzinfo=UTC)  # NZDT, UTC+13


def test_instants_are_written_in_utc_with_milliseconds_and_z() -> None:
    moment = datetime(2025, 7, 17, 12, 50, 0, 123456, tzinfo=timezone(timedelta(hours=12)))
    assert iso_z(moment) == "2025-07-17T00:50:00.123Z"
