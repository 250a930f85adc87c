"""The static race day: meetings, races and runners, generated once from (seed, anchor, config).

Nothing here depends on the current time except through the anchor; how each race evolves is
`race.py`'s job. Start times are spread across the anchor so that, whenever the simulator starts,
some races are already final, one is about to jump, and many are still to come.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from raceday.core.nztime import NZ
from raceday.simulator import names
from raceday.simulator.model import (
    DayConfig,
    Plunge,
    SimMeeting,
    SimRace,
    SimRunner,
)
from raceday.simulator.race import Market
from raceday.simulator.seeding import stable_random, stable_uuid

if TYPE_CHECKING:
    from random import Random


@dataclass(frozen=True)
class SimDay:
    """Everything generated for one seed and anchor, with lookups by id.

    `serve_simulator` exposes it as `sim.day`, so tests and the pipeline know ids and start times.
    """

    seed: int
    anchor: datetime
    nz_date: date
    meetings: tuple[SimMeeting, ...]
    _races: dict[str, SimRace] = field(init=False, repr=False, compare=False)
    _meetings: dict[str, SimMeeting] = field(init=False, repr=False, compare=False)
    _markets: dict[str, Market] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        races = {race.race_id: race for meeting in self.meetings for race in meeting.races}
        object.__setattr__(self, "_races", races)
        object.__setattr__(self, "_meetings", {m.meeting_id: m for m in self.meetings})
        object.__setattr__(self, "_markets", {})

    @cached_property
    def races(self) -> tuple[SimRace, ...]:
        """Every race, in start order."""
        return tuple(sorted(self._races.values(), key=lambda race: (race.start, race.race_id)))

    def race(self, race_id: str) -> SimRace | None:
        return self._races.get(race_id)

    def meeting(self, meeting_id: str) -> SimMeeting | None:
        return self._meetings.get(meeting_id)

    def market(self, race: SimRace) -> Market:
        """The race's betting market, built on first use and kept (the day is immutable)."""
        found = self._markets.get(race.race_id)
        if found is None:
            found = self._markets[race.race_id] = Market(race)
        return found

    def next_to_jump(self, t: datetime) -> SimRace | None:
        """The race with the soonest start at or after `t` that is not abandoned by then."""
        upcoming = [r for r in self.races if r.start >= t and r.status(t) == "Open"]
        return upcoming[0] if upcoming else None


# --- generation -------------------------------------------------------------------------------

_RACE_GAP_MINUTES = {"T": (26, 36), "H": (20, 30), "G": (15, 22)}
_FIELD_SIZE = {"T": (7, 14), "H": (7, 12), "G": (6, 8)}
_DISTANCES = {
    "T": (1000, 1100, 1175, 1200, 1300, 1400, 1500, 1600, 1700, 2000, 2100, 2200, 2400),
    "H": (1609, 1700, 1950, 1980, 2200, 2600, 2700, 3200),
    "G": (305, 350, 400, 457, 520, 595, 715),
}
_WIN_POOL_MEDIAN = {  # dollars, NZ TAB's (commingled) pools
    ("NZ", "T"): 11_000.0,
    ("NZ", "H"): 7_000.0,
    ("NZ", "G"): 2_500.0,
    ("AUS", "T"): 9_000.0,
    ("AUS", "H"): 4_000.0,
    ("AUS", "G"): 2_500.0,
}
_TRACK = {
    ("NZ", "T"): ("Good", "Soft", "Easy", "Heavy", "Synthetic"),
    ("AUS", "T"): ("Good4", "Good3", "Soft5", "Soft7", "Heavy8"),
    "H": ("Fast", "Good", "Easy"),
    "G": ("Good",),
}
_WEATHER = {"NZ": ("Fine", "Overcast", "Showery"), "AUS": ("FINE", "OCAST", "SHWRY")}


def generate_day(seed: int, anchor: datetime, config: DayConfig | None = None) -> SimDay:
    """The whole day for `seed`, with start times spread around `anchor` (aware datetime)."""
    config = config or DayConfig()
    anchor = anchor.astimezone(UTC)
    nz_date = anchor.astimezone(NZ).date()
    slots = [
        (quota.country, quota.category, index) for quota in config.meetings for index in range(quota.count)
    ]
    total = len(slots)
    # First races spread from 5 h before the anchor to 2 h after it, in shuffled order so that
    # every country and category has meetings on both sides of the anchor.
    order = list(range(total))
    stable_random(seed, nz_date, "meeting-order").shuffle(order)
    meetings: list[SimMeeting] = []
    for slot_index, (country, category, index) in enumerate(slots):
        rng = stable_random(seed, nz_date, "meeting", country, category, index)
        position = (order[slot_index] + rng.random()) / max(total, 1)
        first_offset = timedelta(hours=-5 + 7 * position)
        meetings.append(_meeting(seed, nz_date, anchor, country, category, index, first_offset, config, rng))
    meetings = _pull_a_race_near(anchor, meetings, seed, nz_date)
    meetings.sort(key=lambda meeting: (meeting.first_start, meeting.meeting_id))
    return SimDay(seed=seed, anchor=anchor, nz_date=nz_date, meetings=tuple(meetings))


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _meeting(
    seed: int,
    nz_date: date,
    anchor: datetime,
    country: str,
    category: str,
    index: int,
    first_offset: timedelta,
    config: DayConfig,
    rng: Random,
) -> SimMeeting:
    venues = names.VENUES[(country, category)]
    venue, state = venues[(index + rng.randrange(len(venues))) % len(venues)]
    meeting_id = stable_uuid(seed, nz_date, "meeting", country, category, index)
    track = _track(country, category, rng)
    weather = rng.choice(_WEATHER.get(country, ("",)))
    race_count = rng.randint(config.min_races, config.max_races)
    gap_low, gap_high = _RACE_GAP_MINUTES[category]
    start = _minute(anchor + first_offset)
    video = ("Trackside1",) if country == "NZ" else ("Trackside1", "Trackside2")
    races: list[SimRace] = []
    for number in range(1, race_count + 1):
        races.append(
            _race(
                seed,
                meeting_id,
                venue,
                country,
                state,
                category,
                number,
                start,
                weather,
                track,
                video,
                race_count,
            )
        )
        start += timedelta(minutes=rng.randint(gap_low, gap_high))
    races = [
        replace(race, quaddie_final_leg_start=races[index + 3].start)
        if race.quaddie_first_leg and index + 3 < len(races)
        else race
        for index, race in enumerate(races)
    ]
    return SimMeeting(
        meeting_id=meeting_id,
        name=venue,
        country=country,
        state=state,
        category=category,
        date=nz_date,
        track_condition=track,
        tote_meeting_number=index + 1 + rng.randrange(30),
        video_channels=video,
        races=tuple(races),
    )


def _track(country: str, category: str, rng: Random) -> str:
    choices = _TRACK.get((country, category)) or _TRACK.get(category) or ("Good",)
    return rng.choice(choices)


def _race(
    seed: int,
    meeting_id: str,
    venue: str,
    country: str,
    state: str,
    category: str,
    number: int,
    start: datetime,
    weather: str,
    track: str,
    video: tuple[str, ...],
    race_count: int,
) -> SimRace:
    rng = stable_random(seed, meeting_id, "race", number)
    race_id = stable_uuid(seed, meeting_id, "race", number)
    distance = rng.choice(_DISTANCES[category])
    low, high = _FIELD_SIZE[category]
    field_size = rng.randint(low, high)
    runners = _runners(seed, race_id, country, category, field_size, start, rng)
    actual_start = start + timedelta(seconds=rng.choice((0, 0, 12, 25, 40, 60, 95, 150)))
    speed = {"T": 16.5, "H": 14.0, "G": 17.0}[category]
    run_time = distance / speed
    interim_at = actual_start + timedelta(seconds=run_time + rng.uniform(40, 110))
    final_at = interim_at + timedelta(seconds=rng.uniform(150, 420))
    abandon_at = start - timedelta(minutes=rng.uniform(5, 90)) if rng.random() < 0.02 else None
    median = _WIN_POOL_MEDIAN.get((country, category), 3_000.0)
    win = median * math.exp(rng.gauss(0, 0.45)) * (1 + 0.04 * number)
    pools = {
        "Win": win,
        "Place": win * rng.uniform(0.35, 0.5),
        "Quinella": win * rng.uniform(0.45, 0.65),
        "Trifecta": win * rng.uniform(0.7, 1.0),
    }
    if field_size >= 8:
        pools["FirstFour"] = win * rng.uniform(0.35, 0.55)
    if country == "AUS":
        pools["Exacta"] = win * rng.uniform(0.2, 0.35)
    quaddie = None
    if country in ("NZ", "AUS") and race_count >= 8:
        if number == 1:
            quaddie = "EarlyQuadrella"
        elif number == race_count - 3:
            quaddie = "Quadrella"
    if quaddie is not None:
        pools[quaddie] = win * rng.uniform(0.6, 1.2)
    finishers = [runner for runner in runners if runner.scratch_at is None]
    plunge = None
    if rng.random() < 0.35 and len(finishers) >= 4:
        ranked = sorted(finishers, key=lambda runner: -runner.opinion)
        target = rng.choice(ranked[2 : min(len(ranked), 7)])
        plunge = Plunge(
            runner_number=target.runner_number,
            starts_at=actual_start - timedelta(seconds=15 * rng.randint(16, 40)),
            factor=rng.uniform(5.0, 9.0),
        )
    return SimRace(
        seed=seed,
        race_id=race_id,
        meeting_id=meeting_id,
        meeting_name=venue,
        country=country,
        state=state,
        category=category,
        race_number=number,
        name=_race_name(country, category, number, distance, rng),
        distance=distance,
        weather=weather,
        track_condition=track,
        start=start,
        actual_start=actual_start,
        interim_at=interim_at,
        final_at=final_at,
        abandon_at=abandon_at,
        runners=runners,
        ghost_ids=tuple(stable_uuid(seed, race_id, "ghost", ghost) for ghost in range(rng.randint(1, 3))),
        pool_sizes={product: round(total, 2) for product, total in pools.items()},
        finish_order=_finish_order(finishers, rng),
        plunge=plunge,
        silk_url=(
            f"https://cdn.prod.pricekinetics.com/silks/sprites/cerberus/sim-{race_id[:8]}_SPRITE_64x64.png"
        ),
        video_channels=video,
        quaddie_first_leg=quaddie,
    )


def _runners(
    seed: int,
    race_id: str,
    country: str,
    category: str,
    field_size: int,
    start: datetime,
    rng: Random,
) -> tuple[SimRunner, ...]:
    # True chances: a log-normal spread gives a clear favourite and a tail of outsiders.
    raw = [math.exp(rng.gauss(0, 0.85)) for _ in range(field_size)]
    total = sum(raw)
    barriers = list(range(1, field_size + 1))
    rng.shuffle(barriers)
    people: tuple[str, ...]
    if category == "H":
        people = names.DRIVERS
    elif country == "NZ":
        people = names.JOCKEYS_NZ
    else:
        people = names.JOCKEYS_AUS
    riders = rng.sample(people, min(field_size, len(people)))
    used_names: set[str] = set()
    runners: list[SimRunner] = []
    scratch_count = rng.choice((0, 0, 1, 1, 2)) if field_size > 6 else 0
    scratched = set(rng.sample(range(field_size), scratch_count))
    late = {number for number in scratched if rng.random() < 0.5}
    for index in range(field_size):
        name = _runner_name(rng, used_names)
        scratch_at = None
        if index in late:
            scratch_at = start - timedelta(seconds=15 * rng.randint(20, 240))
        elif index in scratched:
            scratch_at = start - timedelta(hours=rng.uniform(9, 14))
        colours = rng.sample(names.COLOURS, 2)
        runners.append(
            SimRunner(
                entrant_id=stable_uuid(seed, race_id, "runner", index + 1),
                runner_number=index + 1,
                name=name,
                barrier=barriers[index],
                jockey="" if category == "G" else riders[index % len(riders)],
                trainer_name=rng.choice(names.TRAINERS),
                silk_colours=(
                    f"{colours[0]}, {colours[1].lower()} {rng.choice(names.PATTERNS)}"
                    if category != "G"
                    else ""
                ),
                strength=raw[index] / total,
                opinion=raw[index] / total * math.exp(rng.gauss(0, 0.3)),
                age=rng.randint(2, 4) if category == "G" else rng.randint(3, 9),
                sex=rng.choice(("g", "m", "f", "h")) if category != "G" else rng.choice("db"),
                colour=rng.choice(("b", "br", "ch", "gr", "bl")),
                weight=rng.choice((54.0, 55.5, 56.0, 57.0, 58.5, 60.0)) if category == "T" else 0,
                scratch_at=scratch_at,
                is_late_scratch=index in late,
            )
        )
    return tuple(runners)


def _runner_name(rng: Random, used: set[str]) -> str:
    while True:
        name = f"{rng.choice(names.NAME_FIRST)} {rng.choice(names.NAME_SECOND)}"
        if name not in used:
            used.add(name)
            return name


def _race_name(country: str, category: str, number: int, distance: int, rng: Random) -> str:
    if country not in ("NZ", "AUS"):
        return rng.choice((f"Race {number}", f"Race {number} - Claiming", f"Race {number}"))
    sponsor = rng.choice(names.SPONSORS)
    kind = {
        "T": rng.choice(("HANDICAP", "MAIDEN", "BM66", "RATING 65", "PLATE")),
        "H": rng.choice(("MOBILE PACE", "HANDICAP TROT", "MOBILE TROT", "PACE")),
        "G": rng.choice(("SPRINT", "DISTANCE", "(300+ RANK)", "MAIDEN")),
    }[category]
    name = f"{sponsor} {kind} {distance}"
    return name if country == "NZ" else name.title()


def _finish_order(finishers: list[SimRunner], rng: Random) -> tuple[int, ...]:
    """Harville sampling: each place goes to a remaining runner in proportion to its strength."""
    remaining = list(finishers)
    order: list[int] = []
    while remaining:
        weights = [runner.strength for runner in remaining]
        pick = rng.choices(range(len(remaining)), weights=weights)[0]
        order.append(remaining.pop(pick).runner_number)
    return tuple(order)


def _pull_a_race_near(
    anchor: datetime, meetings: list[SimMeeting], seed: int, nz_date: date
) -> list[SimMeeting]:
    """Shift the meeting whose race is closest to anchor+4 min so that race jumps 2-6 min out.

    Guarantees a race "about to jump" whatever the anchor, with minimal change to the spread.
    """
    if not meetings:
        return meetings
    target = _minute(anchor) + timedelta(minutes=stable_random(seed, nz_date, "near").randint(3, 5))
    best = min(
        (
            (abs(race.start - target), m_index, race)
            for m_index, m in enumerate(meetings)
            for race in m.races
            if race.abandon_at is None
        ),
        default=None,
        key=lambda item: item[0],
    )
    if best is None:
        return meetings
    _, m_index, race = best
    if timedelta(minutes=2) <= race.start - anchor <= timedelta(minutes=6):
        return meetings
    shift = target - race.start
    meetings[m_index] = _shifted(meetings[m_index], shift)
    return meetings


def _shifted(meeting: SimMeeting, shift: timedelta) -> SimMeeting:
    def move(race: SimRace) -> SimRace:
        plunge = race.plunge
        if plunge is not None:
            plunge = replace(plunge, starts_at=plunge.starts_at + shift)
        runners = tuple(
            replace(r, scratch_at=r.scratch_at + shift) if r.scratch_at is not None else r
            for r in race.runners
        )
        return replace(
            race,
            start=race.start + shift,
            actual_start=race.actual_start + shift,
            interim_at=race.interim_at + shift,
            final_at=race.final_at + shift,
            abandon_at=race.abandon_at + shift if race.abandon_at is not None else None,
            quaddie_final_leg_start=(
                race.quaddie_final_leg_start + shift if race.quaddie_final_leg_start is not None else None
            ),
            plunge=plunge,
            runners=runners,
        )

    return replace(meeting, races=tuple(move(race) for race in meeting.races))
