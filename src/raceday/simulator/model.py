"""The simulated day's fixed facts: meetings, races and runners, and what the day is asked to hold.

Frozen data only. `day.py` generates it; `race.py` derives each race's money from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from raceday.simulator import names

# Betting opens this long before the jump; all pool money arrives in between.
BETTING_OPENS_BEFORE = timedelta(hours=8)


@dataclass(frozen=True)
class MeetingQuota:
    """How many meetings of one country and category the day has."""

    country: str
    category: str
    count: int


DEFAULT_MEETINGS: tuple[MeetingQuota, ...] = (
    MeetingQuota("NZ", "T", 2),
    MeetingQuota("NZ", "H", 2),
    MeetingQuota("AUS", "T", 6),
    MeetingQuota("AUS", "H", 4),
)

_QUOTA = re.compile(r"^\s*([A-Za-z]{2,3}):([THGthg])=(\d+)\s*$")


@dataclass(frozen=True)
class DayConfig:
    """What the generated day holds. The default is a realistic NZ + AUS gallops and trots day."""

    meetings: tuple[MeetingQuota, ...] = DEFAULT_MEETINGS
    min_races: int = 8
    max_races: int = 12

    def __post_init__(self) -> None:
        if not 1 <= self.min_races <= self.max_races:
            raise ValueError("need 1 <= min_races <= max_races")
        for quota in self.meetings:
            if (quota.country, quota.category) not in names.VENUES:
                known = ", ".join(f"{c}:{k}" for c, k in sorted(names.VENUES))
                raise ValueError(f"no venues for {quota.country}:{quota.category}; known: {known}")
            if quota.count < 0:
                raise ValueError("meeting counts must not be negative")

    @classmethod
    def parse(cls, spec: str) -> DayConfig:
        """`"NZ:T=2,NZ:H=2,AUS:G=5"` → a config with those meeting counts."""
        quotas: list[MeetingQuota] = []
        for part in filter(None, (piece.strip() for piece in spec.split(","))):
            match = _QUOTA.match(part)
            if match is None:
                raise ValueError(f"bad meetings entry {part!r}; expected COUNTRY:CATEGORY=N")
            country, category, count = match.groups()
            quotas.append(MeetingQuota(country.upper(), category.upper(), int(count)))
        return cls(meetings=tuple(quotas))


@dataclass(frozen=True)
class Plunge:
    """Late money piling onto one runner: its betting share is multiplied from `starts_at` on."""

    runner_number: int
    starts_at: datetime
    factor: float


@dataclass(frozen=True)
class SimRunner:
    """One entrant. `strength` is its true winning chance; the market sees it with noise."""

    entrant_id: str
    runner_number: int
    name: str
    barrier: int
    jockey: str
    trainer_name: str
    silk_colours: str
    strength: float
    opinion: float
    age: int
    sex: str
    colour: str
    weight: float
    scratch_at: datetime | None = None
    is_late_scratch: bool = False


@dataclass(frozen=True)
class SimRace:
    """A race's fixed facts and its timetable; `market` derives the money from them.

    `start` is the advertised start; betting closes and the status turns Closed at
    `actual_start`, Interim at `interim_at`, Final at `final_at` (or Abandoned at `abandon_at`).
    `finish_order` lists runner numbers; `pool_sizes` are the final pool totals in dollars.
    """

    seed: int
    race_id: str
    meeting_id: str
    meeting_name: str
    country: str
    state: str
    category: str
    race_number: int
    name: str
    distance: int
    weather: str
    track_condition: str
    start: datetime
    actual_start: datetime
    interim_at: datetime
    final_at: datetime
    abandon_at: datetime | None
    runners: tuple[SimRunner, ...]
    ghost_ids: tuple[str, ...]
    pool_sizes: dict[str, float] = field(hash=False)
    finish_order: tuple[int, ...]
    plunge: Plunge | None
    silk_url: str
    video_channels: tuple[str, ...]
    quaddie_first_leg: str | None = None
    quaddie_final_leg_start: datetime | None = None

    @property
    def opens_at(self) -> datetime:
        return self.actual_start - BETTING_OPENS_BEFORE

    @property
    def closes_at(self) -> datetime:
        """Betting closes when the race actually jumps."""
        return self.actual_start

    @property
    def positions_paid(self) -> int:
        starters = sum(1 for runner in self.runners if runner.scratch_at is None)
        return 3 if starters >= 8 else 2 if starters >= 5 else 1

    def status(self, t: datetime) -> str:
        """The API's race status at sim time `t`."""
        if self.abandon_at is not None and t >= self.abandon_at:
            return "Abandoned"
        if t < self.actual_start:
            return "Open"
        if t < self.interim_at:
            return "Closed"
        if t < self.final_at:
            return "Interim"
        return "Final"


@dataclass(frozen=True)
class SimMeeting:
    """A meeting (one venue's card) and its races in race-number order."""

    meeting_id: str
    name: str
    country: str
    state: str
    category: str
    date: date
    track_condition: str
    tote_meeting_number: int
    video_channels: tuple[str, ...]
    races: tuple[SimRace, ...]

    @property
    def category_name(self) -> str:
        return names.CATEGORY_NAMES[self.category]

    @property
    def first_start(self) -> datetime:
        return self.races[0].start

    @property
    def quaddie(self) -> tuple[int, ...]:
        """The last four races (NZ/AUS meetings with enough races only)."""
        count = len(self.races)
        return tuple(range(count - 3, count + 1)) if self.has_quaddies else ()

    @property
    def early_quaddie(self) -> tuple[int, ...]:
        return (1, 2, 3, 4) if self.has_quaddies else ()

    @property
    def has_quaddies(self) -> bool:
        return self.country in ("NZ", "AUS") and len(self.races) >= 8

    def tote_status(self, t: datetime) -> str:
        done = all(race.status(t) in ("Final", "Abandoned") for race in self.races)
        return "Closed" if done else "Open"
