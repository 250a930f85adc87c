"""The polling ladder: 60 s, then 30 s inside 15 minutes, then 15 s inside 5 minutes and after the start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from raceday.domain.schedule import NextPoll, next_poll_at, plan_next_poll, poll_interval_s


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


START = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "at", "retry_after_s", "time_scale", "expected"),
    [
        # 10 minutes out: the 30 s step.
        (
            "open",
            START - timedelta(minutes=10),
            None,
            1.0,
            NextPoll(START - timedelta(seconds=570), "ladder"),
        ),
        # A 5 s Retry-After is inside the 30 s step; a 90 s one pushes the poll back.
        ("open", START - timedelta(minutes=10), 5.0, 1.0, NextPoll(START - timedelta(seconds=570), "ladder")),
        (
            "open",
            START - timedelta(minutes=10),
            90.0,
            1.0,
            NextPoll(START - timedelta(seconds=510), "retry_after"),
        ),
        # At 30x, 2 s of wall time is 60 s of data time: past the 30 s step.
        (
            "open",
            START - timedelta(minutes=10),
            2.0,
            30.0,
            NextPoll(START - timedelta(seconds=540), "retry_after"),
        ),
        ("final", START + timedelta(minutes=3), None, 1.0, NextPoll(None, "terminal")),
        ("abandoned", START - timedelta(hours=1), 30.0, 1.0, NextPoll(None, "terminal")),
        # Unknown status (the poll failed): followed on the ladder until 3 h after the start.
        (
            None,
            START + timedelta(hours=3),
            None,
            1.0,
            NextPoll(START + timedelta(hours=3, seconds=15), "ladder"),
        ),
        ("interim", START + timedelta(hours=3, seconds=1), None, 1.0, NextPoll(None, "given_up")),
    ],
)
def test_plan_next_poll(
    status: str | None, at: datetime, retry_after_s: float | None, time_scale: float, expected: NextPoll
) -> None:
    assert plan_next_poll(START, status, at, retry_after_s=retry_after_s, time_scale=time_scale) == expected
