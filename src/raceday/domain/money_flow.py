"""The money-flow arithmetic of domain.md part 1, as pure functions: no I/O, no clock.

Amounts are integer cents computed from Decimal dollars (ROUND_HALF_UP, as JavaScript's
Math.round does for the positive amounts involved), so the stored numbers are exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from raceday.domain.rows import MoneyFlowRow

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
BUCKETED = "bucketed_aggregation"
COMBINED = "combined"
ODDS_TYPES = ("fixed_win", "fixed_place", "pool_win", "pool_place")
ODDS_CHANGE_THRESHOLD = Decimal("0.01")


def cents(amount: Decimal) -> int:
    """A Decimal amount of cents rounded to a whole cent."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_cents(dollars: Decimal) -> int:
    return cents(dollars * HUNDRED)


def percentage(value: Decimal) -> Decimal:
    """A percentage as NUMERIC(5,2) holds it."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def time_to_start(start: datetime, at: datetime) -> int:
    """Whole minutes from `at` to `start`, negative after the start (Math.round semantics)."""
    return math.floor((start - at).total_seconds() / 60 + 0.5)


EARLIEST_BUCKET = 60
"""Every poll an hour or more before the start: no bucket is earlier."""


def time_interval(minutes_to_start: int) -> int:
    """The timeline bucket: 60 caps earlier polls, 5-minute steps to 5, then every minute."""
    if minutes_to_start >= EARLIEST_BUCKET:
        return EARLIEST_BUCKET
    if minutes_to_start >= 5:
        return minutes_to_start - minutes_to_start % 5
    return minutes_to_start


def interval_type(minutes_to_start: int) -> str:
    if minutes_to_start > 30:
        return "5m"
    if minutes_to_start > 5:
        return "2m"
    if minutes_to_start > 0:
        return "30s"
    return "live"


def summed_shares(
    entries: Iterable[tuple[str, Decimal, Decimal]], runners: Iterable[str]
) -> dict[str, tuple[Decimal, Decimal]]:
    """Each runner's hold and bet %: the sum of its money-tracker slices; other ids are ignored."""
    shares = {entrant_id: (Decimal(0), Decimal(0)) for entrant_id in runners}
    for entrant_id, hold, bet in entries:
        if entrant_id in shares:
            total_hold, total_bet = shares[entrant_id]
            shares[entrant_id] = (total_hold + hold, total_bet + bet)
    return shares


def pool_share_cents(pool_dollars: Decimal, hold: Decimal) -> int:
    """An entrant's share of a pool in cents: round(pool$ × hold/100 × 100)."""
    return cents(pool_dollars * hold)


def pool_percentage(amount_cents: int, pool_dollars: Decimal) -> Decimal | None:
    if pool_dollars <= 0:
        return None
    return percentage(Decimal(amount_cents) / (pool_dollars * HUNDRED) * HUNDRED)


def increment(current: int | None, previous: int | None) -> int | None:
    """The change since the latest row in an earlier bucket; an entrant's first row carries all."""
    if current is None:
        return None
    return current - (previous or 0)


def odds_changed(new: Decimal, last: Decimal | None) -> bool:
    return last is None or abs(new - last) > ODDS_CHANGE_THRESHOLD


def changed_odds(
    points: Iterable[tuple[str, str, Decimal]], last: Mapping[tuple[str, str], Decimal]
) -> list[tuple[str, str, Decimal]]:
    """The (entrant, type, odds) points that differ by more than 0.01 from the last stored value."""
    return [(e, kind, odds) for e, kind, odds in points if odds_changed(odds, last.get((e, kind)))]


def incremental_amounts(
    rows: Sequence[MoneyFlowRow], previous: dict[str, tuple[int | None, int | None]]
) -> list[tuple[int | None, int | None]]:
    """Win and place increments per row against the entrant's latest earlier-bucket amounts."""
    return [
        (
            increment(row.win_pool_amount, previous.get(row.entrant_id, (None, None))[0]),
            increment(row.place_pool_amount, previous.get(row.entrant_id, (None, None))[1]),
        )
        for row in rows
    ]
