"""The money-flow arithmetic, rule by rule (domain.md part 1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from raceday.domain import money_flow as mf

START = datetime(2025, 7, 17, 0, 50, tzinfo=UTC)


@pytest.mark.parametrize(
    ("before_start", "minutes"),
    [
        (timedelta(minutes=10), 10),
        (timedelta(minutes=10, seconds=29), 10),
        (timedelta(minutes=10, seconds=30), 11),
        (timedelta(seconds=29), 0),
        (timedelta(0), 0),
        (timedelta(seconds=-30), 0),
        (timedelta(seconds=-31), -1),
        (timedelta(minutes=-626, seconds=-59.189), -627),
    ],
)
def test_time_to_start_rounds_to_whole_minutes(before_start: timedelta, minutes: int) -> None:
    assert mf.time_to_start(START, START - before_start) == minutes


@pytest.mark.parametrize(
    ("minutes", "bucket"),
    [(240, 60), (60, 60), (59, 55), (55, 55), (31, 30), (12, 10), (10, 10), (9, 5), (5, 5),
     (4, 4), (3, 3), (2, 2), (1, 1), (0, 0), (-1, -1), (-5, -5), (-6, -6), (-627, -627)],
)  # fmt: skip
def test_buckets(minutes: int, bucket: int) -> None:
    assert mf.time_interval(minutes) == bucket


@pytest.mark.parametrize(
    ("minutes", "kind"),
    [(61, "5m"), (31, "5m"), (30, "2m"), (6, "2m"), (5, "30s"), (1, "30s"), (0, "live"), (-3, "live")],
)
def test_interval_types(minutes: int, kind: str) -> None:
    assert mf.interval_type(minutes) == kind


def test_shares_are_summed_slices_and_strangers_are_ignored() -> None:
    entries = [
        ("a", Decimal(9), Decimal(8)),
        ("b", Decimal(3), Decimal(4)),
        ("a", Decimal(7), Decimal(9)),
        ("ghost", Decimal(8), Decimal(8)),
        ("a", Decimal(0), Decimal(0)),
    ]
    assert mf.summed_shares(entries, ["a", "b", "c"]) == {
        "a": (Decimal(16), Decimal(17)),
        "b": (Decimal(3), Decimal(4)),
        "c": (Decimal(0), Decimal(0)),
    }


def test_pool_shares_in_cents_round_half_up() -> None:
    assert mf.pool_share_cents(Decimal("9151.38"), Decimal(16)) == 146422
    assert mf.pool_share_cents(Decimal("3923.51"), Decimal(16)) == 62776
    assert mf.pool_share_cents(Decimal("3923.51"), Decimal(5)) == 19618  # 19617.55
    assert mf.pool_share_cents(Decimal(0), Decimal(40)) == 0


def test_pool_percentage_is_null_without_a_pool() -> None:
    assert mf.pool_percentage(146422, Decimal("9151.38")) == Decimal("16.00")
    assert mf.pool_percentage(0, Decimal(0)) is None


def test_increments() -> None:
    assert mf.increment(146422, None) == 146422
    assert mf.increment(146422, 100000) == 46422
    assert mf.increment(90000, 100000) == -10000
    assert mf.increment(None, 5) is None


def test_odds_change_threshold_is_strictly_more_than_a_cent() -> None:
    last = {("a", "fixed_win"): Decimal("4.20"), ("a", "pool_win"): Decimal("4.80")}
    points = [
        ("a", "fixed_win", Decimal("4.21")),
        ("a", "pool_win", Decimal("4.82")),
        ("a", "fixed_place", Decimal("1.65")),
    ]
    assert mf.changed_odds(points, last) == [
        ("a", "pool_win", Decimal("4.82")),
        ("a", "fixed_place", Decimal("1.65")),
    ]
