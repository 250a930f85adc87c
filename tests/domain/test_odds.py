"""Odds history from a race's snapshots: a row whenever a price moved by more than 0.01 from its last row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from raceday.domain.odds import odds_json, odds_rows, points_from_json

T0 = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
A = ("a", "fixed_win")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_row_only_when_the_price_moved_more_than_a_cent() -> None:
    snapshots = [
        (at(0), {A: Decimal("3.00")}),
        (at(1), {A: Decimal("3.01")}),  # 0.01 from the last row: no row
        (at(2), {A: Decimal("3.02")}),  # 0.02 from the last row (3.00): a row
        (at(3), {A: Decimal("3.01")}),  # 0.01 from 3.02: no row
    ]
    assert odds_rows({}, snapshots) == {
        ("a", "fixed_win", at(0), Decimal("3.00")),
        ("a", "fixed_win", at(2), Decimal("3.02")),
    }


def test_the_chain_starts_from_the_last_stored_value_and_follows_time_not_arrival() -> None:
    delivered = [(at(2), {A: Decimal("3.02")}), (at(1), {A: Decimal("2.98")})]
    # From 3.00 stored before: 2.98 at 1 min moved 0.02 (a row); 3.02 at 2 min moved 0.04 from it (a row).
    assert odds_rows({A: Decimal("3.00")}, delivered) == {
        ("a", "fixed_win", at(1), Decimal("2.98")),
        ("a", "fixed_win", at(2), Decimal("3.02")),
    }


def test_a_late_snapshot_can_remove_a_later_row() -> None:
    # 3.00 then 3.02 gives two rows; a late 3.02 between them makes the third a repeat.
    alone = odds_rows({}, [(at(0), {A: Decimal("3.00")}), (at(2), {A: Decimal("3.02")})])
    with_late = odds_rows(
        {}, [(at(0), {A: Decimal("3.00")}), (at(1), {A: Decimal("3.02")}), (at(2), {A: Decimal("3.02")})]
    )
    assert ("a", "fixed_win", at(2), Decimal("3.02")) in alone
    assert with_late == {
        ("a", "fixed_win", at(0), Decimal("3.00")),
        ("a", "fixed_win", at(1), Decimal("3.02")),
    }


def test_the_ledger_keeps_odds_exactly() -> None:
    stored = odds_json([("a", "fixed_win", Decimal("4.20")), ("a", "pool_win", Decimal("12.5"))])
    assert stored == {"a": {"fixed_win": "4.20", "pool_win": "12.5"}}
    assert points_from_json(stored) == {A: Decimal("4.20"), ("a", "pool_win"): Decimal("12.5")}
