"""How a race's market evolves: a pure function of (race, sim time), never of how often it is polled.

Money model. The Win pool grows as `size * f(tau)` (tau = time to the jump; half the money arrives in
the last ten minutes). Over each small time cell the new money is split between the runners by the
market's current betting shares (opinion * a smooth drift * a late plunge; zero once scratched).
Each runner's dollars are the integral of that, so its hold % is its true share of the pool, a
scratched runner's dollars stop growing, and the pool odds follow from the shares. The cumulative
table is built once per race; a request interpolates it at the sim time.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from raceday.simulator.model import BETTING_OPENS_BEFORE, SimRace, SimRunner
from raceday.simulator.runners import runner_static
from raceday.simulator.seeding import stable_random

TAKE_OUT = 0.15  # the tote's deduction: pool odds ≈ 0.85 / share
BOOK_OVERROUND = 1.18  # fixed-odds margin
_LATE_MONEY_SCALE_S = 600.0  # e-folding time of the late rush
_EARLY_WEIGHT = 0.25  # share of the pool that arrives evenly across the betting window
# The money tracker's slices: windows between these times before the jump (seconds).
TRACKER_WINDOWS_S = (28_800, 14_400, 7_200, 3_600, 1_800, 900, 600, 300, 120, 0)
# Fixed-odds fluctuations are sampled at these times before the jump (seconds).
_FLUC_POINTS_S = (7_200, 3_600, 1_800, 600, 300, 120, 60)
FIXED_MARKET_OPENS_BEFORE = timedelta(hours=40)
_PLUNGE_RAMP_S = 120.0


def pool_fraction(seconds_to_close: float) -> float:
    """Cumulative fraction of the final pool bet by `seconds_to_close` before betting closes."""
    span = BETTING_OPENS_BEFORE.total_seconds()
    tau = min(max(seconds_to_close, 0.0), span)
    early = 1.0 - tau / span
    tail = math.exp(-span / _LATE_MONEY_SCALE_S)
    late = (math.exp(-tau / _LATE_MONEY_SCALE_S) - tail) / (1.0 - tail)
    return _EARLY_WEIGHT * early + (1.0 - _EARLY_WEIGHT) * late


def _grid_offsets() -> list[float]:
    """Seconds before the jump at which the cumulative table is evaluated (finer near the jump)."""
    offsets: set[float] = set()
    for step, start, stop in ((1800, 28_800, 7_200), (300, 7_200, 1_800), (60, 1_800, 300)):
        offsets.update(float(s) for s in range(stop, start + 1, step))
    offsets.update(float(s) for s in range(0, 301, 15))
    offsets.update(float(s) for s in TRACKER_WINDOWS_S)
    return sorted(offsets, reverse=True)


_GRID_OFFSETS = _grid_offsets()


def odds_ladder(price: float) -> float:
    """Round a fixed price to the bookmaker's ladder (finer steps for shorter prices)."""
    for limit, step in ((2.0, 0.05), (5.0, 0.1), (10.0, 0.5), (20.0, 1.0), (50.0, 2.0)):
        if price < limit:
            return round(max(1.01, round(price / step) * step), 2)
    return float(min(1000, round(price / 5.0) * 5))


@dataclass(frozen=True)
class Odds:
    fixed_win: float
    fixed_place: float
    pool_win: float | None
    pool_place: float | None


@dataclass(frozen=True)
class RunnerState:
    """One runner at one instant. `dollars` is its exact Win-pool holding."""

    runner: SimRunner
    scratched: bool
    dollars: float
    hold_share: float
    hold_percentage: int
    bet_percentage: int
    odds: Odds


@dataclass(frozen=True)
class TrackerEntry:
    entrant_id: str
    hold_percentage: int
    bet_percentage: int


@dataclass(frozen=True)
class RaceState:
    """Everything about a race that changes with time, at sim time `time`."""

    race: SimRace
    time: datetime
    status: str
    betting_open: bool
    pools: dict[str, float]
    runners: tuple[RunnerState, ...]
    tracker: tuple[TrackerEntry, ...]
    favourite: int | None
    mover: int | None
    market: Market = field(compare=False, repr=False)

    @property
    def win_pool(self) -> float:
        return self.pools.get("Win", 0.0)

    def runner(self, runner_number: int) -> RunnerState:
        return next(r for r in self.runners if r.runner.runner_number == runner_number)


class Market:
    """A race's betting market: the cumulative money table plus the functions that read it."""

    def __init__(self, race: SimRace) -> None:
        self.race = race
        self._close = race.closes_at.timestamp()
        self._open = race.opens_at.timestamp()
        freeze = race.closes_at if race.abandon_at is None else min(race.abandon_at, race.closes_at)
        self._freeze = freeze.timestamp()
        rng = stable_random(race.seed, race.race_id, "drift")
        self._drift = [
            (
                rng.uniform(0.1, 0.3),
                rng.uniform(900, 3600),
                rng.uniform(0, 2 * math.pi),
                rng.uniform(0.05, 0.15),
                rng.uniform(200, 900),
                rng.uniform(0, 2 * math.pi),
            )
            for _ in race.runners
        ]
        self._scratch = [
            r.scratch_at.timestamp() if r.scratch_at is not None else math.inf for r in race.runners
        ]
        plunge = race.plunge
        self._plunge_index = -1
        self._plunge_from = math.inf
        self._plunge_factor = 1.0
        if plunge is not None:
            self._plunge_index = plunge.runner_number - 1
            self._plunge_from = plunge.starts_at.timestamp()
            self._plunge_factor = plunge.factor
        points = {self._close - offset for offset in _GRID_OFFSETS}
        points.update(s for s in self._scratch if self._open < s < self._close)
        if self._open < self._plunge_from < self._close:
            points.add(self._plunge_from)
        self._times = sorted(points)
        self._fractions = [pool_fraction(self._close - t) for t in self._times]
        self._cumulative: list[list[float]] = [[0.0] * len(race.runners)]
        for index in range(1, len(self._times)):
            middle = (self._times[index - 1] + self._times[index]) / 2
            shares = self.betting_shares(middle)
            step = self._fractions[index] - self._fractions[index - 1]
            previous = self._cumulative[-1]
            self._cumulative.append([c + s * step for c, s in zip(previous, shares, strict=True)])
        self._window_times = [self._close - offset for offset in TRACKER_WINDOWS_S]
        order = list(range(len(race.runners)))
        stable_random(race.seed, race.race_id, "tracker-order").shuffle(order)
        self._tracker_order = order
        self._opening_fixed = self._fixed_win_at(self._open)

    @cached_property
    def runner_json(self) -> list[dict[str, Any]]:
        """Each runner's static JSON (form, breeding), built once per race."""
        return [runner_static(self.race, runner) for runner in self.race.runners]

    # --- money ----------------------------------------------------------------------------

    def betting_shares(self, at: float, plunge_power: float = 1.0) -> list[float]:
        """Each runner's share of the money being bet at epoch second `at` (0 when scratched).

        A plunge ramps up over two minutes; `plunge_power` < 1 damps it (bookmakers move their
        fixed prices less than the tote money moves).
        """
        tau = self._close - at
        weights = []
        for index, runner in enumerate(self.race.runners):
            if at >= self._scratch[index]:
                weights.append(0.0)
                continue
            a1, p1, f1, a2, p2, f2 = self._drift[index]
            weight = runner.opinion * math.exp(a1 * math.sin(tau / p1 + f1) + a2 * math.sin(tau / p2 + f2))
            if index == self._plunge_index and at >= self._plunge_from:
                ramp = min(1.0, (at - self._plunge_from) / _PLUNGE_RAMP_S)
                weight *= (1.0 + (self._plunge_factor - 1.0) * ramp) ** plunge_power
            weights.append(weight)
        total = sum(weights)
        return [w / total for w in weights] if total > 0 else weights

    def _cumulative_at(self, at: float) -> tuple[float, list[float]]:
        """(pool fraction, per-runner fractions) bet by epoch second `at`."""
        at = min(at, self._freeze)
        if at <= self._times[0]:
            return 0.0, [0.0] * len(self.race.runners)
        index = min(bisect_right(self._times, at) - 1, len(self._times) - 2)
        low, high = self._fractions[index], self._fractions[index + 1]
        fraction = pool_fraction(self._close - at)
        ratio = (fraction - low) / (high - low) if high > low else 0.0
        ratio = min(max(ratio, 0.0), 1.0)
        before, after = self._cumulative[index], self._cumulative[index + 1]
        return fraction, [b + ratio * (a - b) for b, a in zip(before, after, strict=True)]

    # --- odds -----------------------------------------------------------------------------

    def _fixed_win_at(self, at: float) -> list[float]:
        at = min(at, self._freeze)
        shares = self.betting_shares(at, plunge_power=0.5)
        return [odds_ladder(1.0 / (share * BOOK_OVERROUND)) if share > 0 else 0.0 for share in shares]

    def fixed_odds_at(self, t: datetime) -> list[float]:
        """Fixed win prices at `t`; a scratched runner keeps the price it had when scratched."""
        current = self._fixed_win_at(t.timestamp())
        for index, scratch in enumerate(self._scratch):
            if scratch <= t.timestamp():
                current[index] = self._fixed_win_at(scratch - 1.0)[index]
        return current

    def flucs(self, t: datetime) -> list[tuple[datetime, list[float]]]:
        """Fixed-odds history: the opening price, then samples up to `t` (for `flucs`)."""
        times = [self.race.closes_at - FIXED_MARKET_OPENS_BEFORE]
        times += [self.race.closes_at - timedelta(seconds=s) for s in _FLUC_POINTS_S]
        times = [moment for moment in times if moment <= t]
        return [(moment, self.fixed_odds_at(max(moment, self.race.opens_at))) for moment in times]

    # --- the state ------------------------------------------------------------------------

    def state(self, t: datetime) -> RaceState:
        """The race at sim time `t` (aware datetime)."""
        race = self.race
        now = t.astimezone(UTC).timestamp()
        status = race.status(t)
        fraction, cumulative = self._cumulative_at(now)
        pools = {product: round(size * fraction, 2) for product, size in race.pool_sizes.items()}
        scratched = [now >= s for s in self._scratch]
        shares = [c / fraction if fraction > 0 else 0.0 for c in cumulative]
        holds = _percentages(shares, scratched)
        bet_weights = [share**0.75 for share in shares]
        bet_total = sum(bet_weights)
        bets = _percentages([w / bet_total if bet_total else 0.0 for w in bet_weights], scratched)
        fixed = self.fixed_odds_at(t)
        paid = race.positions_paid
        runners = []
        for index, runner in enumerate(race.runners):
            frozen_at = min(now, self._scratch[index] - 1.0) if scratched[index] else now
            share = shares[index]
            if scratched[index]:
                frozen_fraction, frozen_cumulative = self._cumulative_at(frozen_at)
                share = frozen_cumulative[index] / frozen_fraction if frozen_fraction else 0.0
            pool_win = None
            if share > 0:
                pool_win = round(min(999.0, max(1.0, (1 - TAKE_OUT) / share)), 1)
            pool_place = None
            if pool_win is not None:
                pool_place = round(max(1.0, 1 + (pool_win - 1) / (paid + 1.3)), 1)
            fixed_win = fixed[index]
            fixed_place = odds_ladder(1 + (fixed_win - 1) / (paid + 0.8)) if fixed_win else 0.0
            runners.append(
                RunnerState(
                    runner=runner,
                    scratched=scratched[index],
                    dollars=race.pool_sizes["Win"] * cumulative[index],
                    hold_share=shares[index],
                    hold_percentage=holds[index],
                    bet_percentage=bets[index],
                    odds=Odds(fixed_win, fixed_place, pool_win, pool_place),
                )
            )
        active = [r for r in runners if not r.scratched and r.odds.fixed_win > 0]
        favourite = min(active, key=lambda r: r.odds.fixed_win).runner.runner_number if active else None
        mover = None
        if len(active) >= 2:
            opening = self._opening_fixed
            mover = max(
                active,
                key=lambda r: opening[r.runner.runner_number - 1] / r.odds.fixed_win,
            ).runner.runner_number
        return RaceState(
            race=race,
            time=t,
            status=status,
            betting_open=status == "Open" and now > self._open,
            pools=pools,
            runners=tuple(runners),
            tracker=self._tracker(now, cumulative, holds, bets) if fraction > 0 else (),
            favourite=favourite,
            mover=mover,
            market=self,
        )

    def _tracker(
        self,
        now: float,
        cumulative: list[float],
        holds: list[int],
        bets: list[int],
    ) -> tuple[TrackerEntry, ...]:
        """The money tracker's slices: per runner, its hold % split over the betting windows.

        A runner's slices sum to its hold %, so summing the entries per runner (as the pipeline
        does) gives its share of the pool; the entries of all runners sum to 100.
        """
        at = min(now, self._freeze)
        begun = [w for w in self._window_times[:-1] if w < at]
        edges = [self._cumulative_at(w)[1] for w in begun] + [cumulative]
        race = self.race
        slices: list[list[float]] = []
        for index in range(len(race.runners)):
            slices.append([edges[w + 1][index] - edges[w][index] for w in range(len(begun))])
        entries: list[TrackerEntry] = []
        hold_split = [_split(holds[i], slices[i]) for i in range(len(race.runners))]
        bet_split = [_split(bets[i], slices[i]) for i in range(len(race.runners))]
        for window in range(len(begun)):
            for index in self._tracker_order:
                if cumulative[index] <= 0:
                    continue
                entries.append(
                    TrackerEntry(
                        race.runners[index].entrant_id,
                        hold_split[index][window],
                        bet_split[index][window],
                    )
                )
        # Ids that are not (or no longer) runners, holding nothing, as in the real feed.
        for number, ghost in enumerate(race.ghost_ids):
            entries.insert(
                (len(entries) * (number + 1)) // (len(race.ghost_ids) + 1), TrackerEntry(ghost, 0, 0)
            )
        return tuple(entries)


def _largest_remainder(values: list[float], total: int, eligible: list[bool]) -> list[int]:
    """Integers with the given total: floors, plus one each for the largest remainders."""
    floors = [math.floor(v) for v in values]
    short = total - sum(floors)
    ranked = sorted(
        (i for i, ok in enumerate(eligible) if ok),
        key=lambda i: (values[i] - floors[i], values[i]),
        reverse=True,
    )
    for i in ranked[: max(short, 0)]:
        floors[i] += 1
    return floors


def _percentages(shares: list[float], scratched: list[bool]) -> list[int]:
    """Whole percentages summing to 100; scratched runners are rounded down, never up."""
    if not any(shares):
        return [0] * len(shares)
    eligible = [share > 0 and not out for share, out in zip(shares, scratched, strict=True)]
    return _largest_remainder([100 * share for share in shares], 100, eligible)


def _split(total: int, weights: list[float]) -> list[int]:
    """`total` split into whole parts in proportion to `weights`."""
    weight = sum(weights)
    if not weights:
        return []
    if weight <= 0:
        return [0] * (len(weights) - 1) + [total]
    return _largest_remainder([total * w / weight for w in weights], total, [True] * len(weights))
