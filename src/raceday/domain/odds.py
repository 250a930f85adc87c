"""Odds history as a function of the snapshots received: a row whenever a price moved by more than 0.01.

Walking a race's snapshots in NZ TAB's time order, an (entrant, type) gets a row when its odds differ by
more than 0.01 from its last row. A snapshot that arrives late can change which later rows that rule
keeps, so the writer recomputes the rows from the late snapshot on and stores the difference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from raceday.domain.money_flow import odds_changed

OddsKey = tuple[str, str]
"""(entrant_id, type): type is fixed_win, fixed_place, pool_win or pool_place."""
OddsRow = tuple[str, str, datetime, Decimal]


def odds_points(odds: Iterable[tuple[str, str, Decimal]]) -> dict[OddsKey, Decimal]:
    return {(entrant, kind): value for entrant, kind, value in odds}


def odds_json(odds: Iterable[tuple[str, str, Decimal]]) -> dict[str, dict[str, str]]:
    """A snapshot's odds as the snapshot ledger keeps them (strings: decimals stay exact)."""
    by_entrant: dict[str, dict[str, str]] = {}
    for entrant, kind, value in odds:
        by_entrant.setdefault(entrant, {})[kind] = str(value)
    return by_entrant


def points_from_json(data: Mapping[str, Any] | None) -> dict[OddsKey, Decimal]:
    return {
        (entrant, kind): Decimal(value)
        for entrant, kinds in (data or {}).items()
        for kind, value in kinds.items()
    }


def odds_rows(
    last_before: Mapping[OddsKey, Decimal],
    snapshots: Iterable[tuple[datetime, Mapping[OddsKey, Decimal]]],
) -> set[OddsRow]:
    """The rows the snapshots give, in time order, starting from the last stored value before them."""
    last = dict(last_before)
    rows: set[OddsRow] = set()
    for at, points in sorted(snapshots, key=lambda snapshot: snapshot[0]):
        for key, value in sorted(points.items()):
            if odds_changed(value, last.get(key)):
                rows.add((key[0], key[1], at, value))
                last[key] = value
    return rows
