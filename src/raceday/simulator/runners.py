"""The static part of a runner's JSON: form, breeding and statistics that do not change in a day.

Built once per runner (the race's market caches it); the time-dependent fields (odds, scratching,
favourite/mover, flucs) are overlaid per request by `payloads.py`.
"""

from __future__ import annotations

from random import Random
from typing import Any

from raceday.simulator import names
from raceday.simulator.model import SimRace, SimRunner
from raceday.simulator.seeding import stable_random

_STAT_BLOCKS = (
    "first_up",
    "second_up",
    "third_up",
    "fourth_up",
    "track",
    "distance",
    "track_distance",
    "good",
    "soft",
    "heavy",
    "turf",
    "synthetic",
    "overall",
)
_LATER_BLOCKS = ("left_handed", "right_handed", "hurdle", "steeple", "fresh_30", "fresh_90", "weight_for_age")
_SPEEDMAP_LABELS = ("Leader", "Front Runner", "Midfield", "Backmarker")
# Keys the API leaves out of the `favourite` / `mover` copies of a runner.
FAVOURITE_OMITS = frozenset(
    {
        "scr_time",
        "meta",
        "ride_guide_file",
        "flucs",
        "runner_win_history",
        "flucs_with_timestamp",
        "ride_guide_exists",
        "ride_guide_thumbnail",
        "picks",
        "competitor_id",
    }
)
MOVER_OMITS = FAVOURITE_OMITS - {"runner_win_history"}


def _stats(rng: Random, starts: int, *, distance: bool = True) -> dict[str, int]:
    wins = rng.randint(0, starts // 3) if starts else 0
    seconds = rng.randint(0, max(0, (starts - wins) // 3))
    thirds = rng.randint(0, max(0, (starts - wins - seconds) // 3))
    block = {
        "number_of_starts": starts,
        "number_of_wins": wins,
        "number_of_placings": 0,
        "number_of_seconds": seconds,
        "number_of_thirds": thirds,
    }
    if distance:
        block["winning_distance"] = 0
    return block


def _last_start(rng: Random, race: SimRace, jockey: str, days: int) -> dict[str, str]:
    field = rng.randint(6, 14)
    finish = rng.randint(1, field)
    return {
        "barrier": str(rng.randint(1, field)),
        "days_since": str(days),
        "distance": str(race.distance + rng.choice((-200, -100, 0, 100, 200))),
        "finish": str(finish),
        "jockey": jockey,
        "limit_weight": "58.00",
        "margin": "0.00" if finish == 1 else f"{rng.uniform(0.1, 12):.2f}",
        "number_of_runners": str(field),
        "class": rng.choice(("Rating 65 Benchmark*", "Maiden", "Rating 75 Benchmark*")),
        "number": str(field),
        "prize_money": str(rng.choice((18500, 20000, 25000, 40000))),
        "second": f"{rng.choice(names.NAME_FIRST)} {rng.choice(names.NAME_SECOND)}",
        "third": f"{rng.choice(names.NAME_FIRST)} {rng.choice(names.NAME_SECOND)}",
        "winner": f"{rng.choice(names.NAME_FIRST)} {rng.choice(names.NAME_SECOND)}",
        "starting_price": f"{rng.uniform(2, 30):.2f}",
        "time_ran": f"{race.distance // 1000}:{rng.randint(0, 59):02d}.{rng.randint(0, 99):02d}",
        "margin_1st_2nd": rng.choice(("Nose", "Head", "1 Length", "2.25 Lengths")),
        "margin_2nd_3rd": rng.choice(("Long Neck", "0.75 Lengths", "1.25 Lengths")),
        "margin_3rd_4th": "",
        "minimum_handicap": "54.00",
        "gear": "",
        "track": race.meeting_name[:4].upper(),
        "track_four_char": race.meeting_name[:4].upper(),
        "track_condition": race.track_condition,
        "weight_carried": "58.0",
        "date": f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/2024",
        "last_600": f"0.{rng.randint(33, 40)}.{rng.randint(0, 99):02d}",
        "bon": "",
        "track_surface": "Grass",
        "track_direction": "Left Handed",
        "run_rating": str(rng.randint(55, 80)),
        "win_favouritism": str(rng.randint(1, field)),
        "place_favouritism": str(rng.randint(1, field)),
    }


def runner_static(race: SimRace, runner: SimRunner) -> dict[str, Any]:
    """The runner's JSON object with the real key order; `None` marks fields set per request."""
    rng = stable_random(race.seed, runner.entrant_id, "form")
    slug = runner.name.lower().replace(" ", "_")
    silks = f"https://cdn.prod.pricekinetics.com/silks/events/racing/sim-{race.race_id[:8]}/{slug}"
    overall = rng.randint(0, 40)
    form = "".join(rng.choice("123456789X0") for _ in range(min(overall, rng.randint(3, 8))))
    sire = f"{rng.choice(names.NAME_FIRST)} {rng.choice(names.NAME_SECOND)}"
    dam = f"{rng.choice(names.NAME_FIRST)} {rng.choice(names.NAME_SECOND)}"
    weight = f"{runner.weight:g}" if runner.weight else ""
    blocks = {key: _stats(rng, rng.randint(0, max(overall // 3, 0))) for key in _STAT_BLOCKS}
    blocks["overall"] = _stats(rng, overall)
    later = {key: _stats(rng, rng.randint(0, max(overall // 2, 0))) for key in _LATER_BLOCKS}
    return {
        "entrant_id": runner.entrant_id,
        "market_name": "Final Field",
        "primary_market": True,
        "name": runner.name,
        "is_scratched": None,
        "is_late_scratched": None,
        "is_emergency": False,
        "first_start_indicator": overall == 0,
        "emergency_position": "",
        "runner_change": {},
        "foaling_date": f"{2025 - runner.age - 1}-{rng.randint(8, 12):02d}-{rng.randint(1, 28):02d}",
        "gear": "",
        "odds": None,
        "scratch_time": None,
        "barrier": runner.barrier,
        "runner_number": runner.runner_number,
        "prize_money": str(rng.randint(0, 200) * 500),
        "age": runner.age,
        "sex": runner.sex,
        "colour": runner.colour,
        "silk_colours": runner.silk_colours,
        "silk_url_64x64": f"{silks}_64x64.png",
        "silk_url_128x128": f"{silks}_128x128.png",
        "alt_silk_url_64x64": f"{silks}_alt_64x64.png",
        "alt_silk_url_128x128": f"{silks}_alt_128x128.png",
        "form_comment": None,
        "class_level": "",
        "jockey": runner.jockey,
        "apprentice_indicator": "",
        "allowance_weight": "",
        "owners": f"{rng.choice(names.TRAINERS).split(' & ')[0]} & Partners",
        "country": race.country if race.country in ("NZ", "AUS") else "NZ",
        "trainer_name": runner.trainer_name,
        "last_twenty_starts": form,
        "sire": sire,
        "dam": dam,
        "breeding": f"{runner.age}  {sire}-{dam}",
        "weight": {"allocated": weight, "total": weight},
        "rating": "",
        "handicap_rating": str(rng.randint(45, 90)) if race.category == "T" else "",
        "favourite": None,
        "mover": None,
        "speedmap": {
            "settling_lengths": rng.randint(0, 12),
            "entrant_id": runner.entrant_id,
            "label": rng.choice(_SPEEDMAP_LABELS),
        },
        "form_indicators": None,
        "past_performances": {"jockey": _stats(rng, rng.randint(0, 12), distance=False)},
        "jockey_past_performances": {
            "last_50_starts": _stats(rng, 50, distance=False),
            "trainer": _stats(rng, rng.randint(0, 12), distance=False),
        },
        **blocks,
        "last_starts": [
            _last_start(rng, race, runner.jockey, rng.randint(7, 60)) for _ in range(min(overall, 3))
        ],
        **later,
        "win_p": f"{100 * blocks['overall']['number_of_wins'] // max(overall, 1)}%",
        "place_p": f"{rng.randint(0, 50)}%",
        "spr": rng.randint(1000, 3000),
        "last_12_months": {
            "number_of_starts": min(overall, 10),
            "number_of_wins": 0,
            "number_of_seconds": 0,
            "number_of_thirds": 0,
        },
        "last_12_w": "0%",
        "last_12_p": "0%",
        "last_12_months_prize_money": {"NZD": rng.randint(0, 100) * 1000},
        "trainer_location": race.meeting_name.split(" ")[0],
        "horse_id": rng.randint(100_000, 999_999),
        "slow": _stats(rng, rng.randint(0, max(overall // 3, 0))),
        "firm": _stats(rng, rng.randint(0, max(overall // 4, 0))),
        "dam_dam": f"{rng.choice(names.NAME_FIRST)} {rng.choice(names.NAME_SECOND)}",
        "dam_sire": f"{rng.choice(names.NAME_FIRST)} {rng.choice(names.NAME_SECOND)}",
        "runner_win_history": [],
        "picks": [],
        "meta": None,
        "flucs": None,
        "scr_time": None,
        "competitor_id": "",
        "ride_guide_exists": False,
        "ride_guide_thumbnail": "",
        "ride_guide_file": "",
        "flucs_with_timestamp": None,
    }
