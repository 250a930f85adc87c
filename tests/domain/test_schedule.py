"""The polling ladder: 60 s, then 30 s inside 15 minutes, then 15 s inside 5 minutes and after the start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from raceday.domain.schedule import next_poll_at, poll_interval_s


@pytest.mark.parametrize(
    ("seconds", "interval"),
    [(3600, 60), (901, 60), (900, 30), (301, 30), (300, 15), (1, 15), (0, 15), (-600, 15)],
)
def test_poll_interval_ladder(seconds: float, interval: int) -> None:
    assert poll_interval_s(seconds) == interval


def test_next_poll_follows_the_ladder() -> None:
    start = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    for before, interval in (
        (timedelta(hours=1), 60),
        (timedelta(minutes=10), 30),
        (timedelta(minutes=2), 15),
    ):
        now = start - before
        assert next_poll_at(start, now) - now == timedelta(seconds=interval)
    after = start + timedelta(minutes=5)
    assert next_poll_at(start, after) - after == timedelta(seconds=15)
