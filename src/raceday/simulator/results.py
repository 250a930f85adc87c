"""Results and tote dividends of a run race, computed from its finish order and closing pools."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from raceday.simulator.race import TAKE_OUT
from raceday.simulator.seeding import stable_random, stable_uuid

if TYPE_CHECKING:
    from raceday.simulator.race import RaceState

_SPEED_M_PER_S = {"T": 16.2, "H": 14.2, "G": 16.8}
_MARGINS = (
    (0.05, "NOSE"),
    (0.1, "SH HD"),
    (0.2, "HD"),
    (0.3, "SH NK"),
    (0.4, "NK"),
    (0.6, "LG NK"),
    (0.85, "3/4L"),
    (1.1, "1L"),
    (1.4, "1-1/4L"),
    (1.6, "1-1/2L"),
    (1.9, "1-3/4L"),
    (2.2, "2L"),
)
# Dividend products: API product name, pool, how many placings the bet names, ordered or not.
_EXOTICS = (
    ("Pool Quinella", "Quinella", 2, False),
    ("Pool Exacta", "Exacta", 2, True),
    ("Pool Trifecta", "Trifecta", 3, True),
    ("Pool First4", "FirstFour", 4, True),
)


def _margin_text(lengths: float) -> str:
    for limit, text in _MARGINS:
        if lengths <= limit:
            return text
    return f"{round(lengths * 4) / 4:g}L"


def results(state: RaceState) -> list[dict[str, Any]]:
    """`data.results`: every finisher in order; the winner carries the race time."""
    race = state.race
    rng = stable_random(race.seed, race.race_id, "margins")
    by_number = {runner.runner_number: runner for runner in race.runners}
    winning_time = round(race.distance / _SPEED_M_PER_S[race.category] * rng.uniform(0.97, 1.03), 2)
    rows: list[dict[str, Any]] = []
    behind = gap = 0.0
    for position, number in enumerate(race.finish_order, start=1):
        runner = by_number[number]
        if position > 1:
            gap = rng.choice((0.05, 0.1, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0))
            behind += gap
        row: dict[str, Any] = {
            "position": position,
            "name": runner.name,
            "barrier": runner.barrier,
            "runner_number": number,
            "margin_length": round(behind, 2),
        }
        if position > 1:
            row["positional_margin"] = _margin_text(gap)
        row["entrant_id"] = runner.entrant_id
        if position == 1:
            row["winning_time"] = winning_time
            row["time_ran"] = winning_time
        rows.append(row)
    return rows


def _tote(value: float) -> float:
    """Dividends are paid in 10-cent steps, rounded down, never below $1.00."""
    return max(1.0, math.floor(value * 10 + 1e-9) / 10)


def _harville(shares: dict[int, float], order: tuple[int, ...]) -> float:
    """Chance of exactly this finishing order if each place goes in proportion to the shares."""
    chance, left = 1.0, 1.0
    for number in order:
        share = shares.get(number, 0.0)
        if left <= 0 or share <= 0:
            return 0.0
        chance *= share / left
        left -= share
    return chance


def dividends(state: RaceState) -> list[dict[str, Any]]:
    """`data.dividends`: Interim dividends, plus the Final ones once the race is Final."""
    race = state.race
    statuses = ["Interim"] if state.status == "Interim" else ["Interim", "Final"]
    shares = {r.runner.runner_number: r.hold_share for r in state.runners}
    placed = race.finish_order[: race.positions_paid]
    products: list[tuple[str, float, tuple[int, ...], float]] = []
    win_pool = state.pools.get("Win", 0.0)
    if placed:
        products.append(("Pool Win", win_pool, placed[:1], _pays(win_pool, shares, placed[:1])))
    place_pool = state.pools.get("Place", 0.0)
    if place_pool and len(placed) > 1:
        stakes = {n: place_pool * shares.get(n, 0.0) for n in placed}
        profit = (1 - TAKE_OUT) * place_pool - sum(stakes.values())
        for number in placed:
            stake = stakes[number]
            dividend = _tote(1 + profit / (len(placed) * stake)) if stake > 0 else 1.0
            products.append(("Pool Place", place_pool, (number,), dividend))
    for product, pool_name, legs, ordered in _EXOTICS:
        total = state.pools.get(pool_name, 0.0)
        if not total or len(race.finish_order) < legs:
            continue
        selection = race.finish_order[:legs]
        chance = _harville(shares, selection)
        if not ordered:
            chance += _harville(shares, selection[::-1])
        dividend = _tote((1 - TAKE_OUT) / chance) if chance > 0 else 0.0
        products.append((product, total, selection, dividend))
    rows: list[dict[str, Any]] = []
    for status in statuses:
        for product, pool_size, selection, dividend in products:
            rows.append(
                {
                    "id": stable_uuid(race.seed, race.race_id, product, status, selection),
                    "tote": "NZ",
                    "product_name": product,
                    "status": status,
                    "dividend": dividend,
                    "pool_size": pool_size,
                    "jackpot_size": 0,
                    "positions": [
                        {"runner_number": number, "position": place}
                        for place, number in enumerate(selection, start=1)
                    ],
                    "description": ":".join(str(number) for number in selection),
                }
            )
    return rows


def _pays(pool: float, shares: dict[int, float], selection: tuple[int, ...]) -> float:
    share = shares.get(selection[0], 0.0)
    return _tote((1 - TAKE_OUT) / share) if share > 0 and pool > 0 else 0.0
