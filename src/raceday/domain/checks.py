"""Sanity checks per part of a poll: a part that fails is rejected whole, naming its field and value.

A poll has parts that stand alone: the runners (names, scratchings, odds), the money (the money tracker
turned into shares and amounts), the pools and the results. Real feeds drop or garble one part at a time;
rejecting only that part keeps the rest of the poll (its status, its odds, its results) instead of
losing all of it, and never writes half a part. Limits are the columns' own (NUMERIC(10,2) odds,
NUMERIC(12,2) pool dollars) and what a share can be.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

ODDS_MAX = Decimal("99999999.99")  # NUMERIC(10,2)
DOLLARS_MAX = Decimal("9999999999.99")  # NUMERIC(12,2)
INT_MAX = 2**31 - 1
# Real NZ TAB runners' holds sum to ~93 % (the rest sits on ids that are not runners); slices are
# rounded, so a little over 100 % happens. A doubled tracker sums to ~186 %: that is not a split.
SUMMED_SHARE_MAX = Decimal(110)

RUNNERS, MONEY, POOLS, RESULTS = "runners", "money", "pools", "results"


@dataclass(frozen=True, slots=True)
class Rejection:
    """One part of one poll that was not stored, and why."""

    part: str
    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.part}: {self.field} = {self.value} ({self.reason})"


def first_failure(checks: Iterable[tuple[str, object, bool, str]], part: str) -> Rejection | None:
    """The first (field, value, ok, reason) check that fails, as a rejection of `part`."""
    for field, value, ok, reason in checks:
        if not ok:
            return Rejection(part, field, str(value), reason)
    return None


def odds_check(field: str, value: Decimal | None) -> tuple[str, object, bool, str]:
    ok = value is None or (value.is_finite() and Decimal(0) <= value <= ODDS_MAX)
    return field, value, ok, f"odds must be between 0 and {ODDS_MAX}"


def integer_check(field: str, value: int | None) -> tuple[str, object, bool, str]:
    return field, value, value is None or 0 <= value <= INT_MAX, "must be a non-negative 32-bit integer"


def dollars_check(field: str, value: Decimal) -> tuple[str, object, bool, str]:
    ok = value.is_finite() and Decimal(0) <= value <= DOLLARS_MAX
    return field, value, ok, f"pool dollars must be between 0 and {DOLLARS_MAX}"


def percentage_check(field: str, value: Decimal) -> tuple[str, object, bool, str]:
    ok = value.is_finite() and Decimal(0) <= value <= Decimal(100)
    return field, value, ok, "a percentage is between 0 and 100"


def summed_share_check(field: str, shares: Mapping[str, Decimal]) -> tuple[str, object, bool, str]:
    total = sum(shares.values(), Decimal(0))
    return field, total, total <= SUMMED_SHARE_MAX, f"runners' shares sum above {SUMMED_SHARE_MAX} %"
