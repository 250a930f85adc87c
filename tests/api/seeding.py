"""Seed data for the API tests, written with plain SQL as the pipeline would leave it.

The centre is the real NZ TAB sample race (Awapuni Synthetic R1, 2025-07-17, 8 runners) with its pools,
results and a money-flow and odds history of 60 polls per runner; around it, races that start relative
to now (upcoming, next scheduled) and a race that starts at the same instant as the sample's (navigation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from raceday.domain.money_flow import interval_type, time_interval, to_cents
from tests.samples import load_sample

NZ = ZoneInfo("Pacific/Auckland")
POLLS = 60
ODDS_TYPES = ("fixed_win", "fixed_place", "pool_win", "pool_place")
TIE_MEETING = "7e1e0000-0000-4000-8000-000000000000"
TIE_RACE = "ffffffff-0000-4000-8000-000000000001"  # same start as the sample race, larger id
EARLY_RACE = "0a000000-0000-4000-8000-000000000002"  # the race before the sample race
LATE_RACE = "ffffffff-0000-4000-8000-000000000003"  # after the tie race
TODAY_MEETING = "70da7000-0000-4000-8000-000000000000"


@dataclass
class Seeded:
    """What the tests need to know about the seeded data."""

    meeting_id: str
    race_id: str
    start: datetime
    runners: dict[int, dict[str, Any]]
    upcoming: dict[str, str] = field(default_factory=dict)
    today: date = field(default_factory=lambda: datetime.now(NZ).date())

    def runner(self, number: int) -> dict[str, Any]:
        return self.runners[number]


def _insert(conn: psycopg.Connection[Any], table: str, row: dict[str, Any]) -> None:
    columns = ", ".join(row)
    values = ", ".join(f"%({name})s" for name in row)
    conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({values})", row)


def _meeting(conn: psycopg.Connection[Any], meeting_id: str, name: str, day: date, race_type: str) -> None:
    _insert(
        conn,
        "meetings",
        {
            "meeting_id": meeting_id,
            "meeting_name": name,
            "country": "NZ",
            "state": "NZ",
            "race_type": race_type,
            "category": {"thoroughbred": "T", "harness": "H", "greyhound": "G"}[race_type],
            "date": day,
            "status": "active",
        },
    )


def _race(
    conn: psycopg.Connection[Any], race_id: str, meeting_id: str, number: int, start: datetime, status: str
) -> None:
    _insert(
        conn,
        "races",
        {
            "race_id": race_id,
            "meeting_id": meeting_id,
            "name": f"RACE {number}",
            "race_number": number,
            "start_time": start,
            "status": status,
            "race_date_nz": start.astimezone(NZ).date(),
        },
    )


def seed_sample_race(conn: psycopg.Connection[Any]) -> Seeded:
    """The real sample race with 60 polls of history per runner (the last 1.75 min after the start)."""
    data = load_sample("race-event-full-response.json")["data"]
    race = data["race"]
    start = datetime.fromtimestamp(race["advertised_start"], UTC)
    day = date.fromisoformat(race["race_date_nz"])
    for offset in (-1, 0, 1):
        for table in ("money_flow_history", "odds_history"):
            conn.execute("SELECT ensure_daily_partition(%s, %s)", (table, day + timedelta(days=offset)))
    _insert(
        conn,
        "meetings",
        {
            "meeting_id": race["meeting_id"],
            "meeting_name": race["meeting_name"],
            "country": race["country"],
            "state": race["state"],
            "race_type": "thoroughbred",
            "category": race["type"],
            "category_name": "Thoroughbred Horse Racing",
            "date": day,
            "status": "active",
            "track_condition": race["track_condition"],
            "tote_status": "Open",
        },
    )
    _insert(
        conn,
        "races",
        {
            "race_id": race["event_id"],
            "meeting_id": race["meeting_id"],
            "name": race["description"],
            "race_number": race["race_number"],
            "start_time": start,
            "actual_start": datetime.fromtimestamp(race["actual_start"], UTC),
            "status": race["status"].lower(),
            "race_date_nz": day,
            "start_time_nz": race["start_time_nz"],
            "distance": race["distance"],
            "track_condition": race["track_condition"],
            "track_surface": race["track_surface"],
            "weather": race["weather"],
            "type": race["type"],
            "country": race["country"],
            "entrant_count": race["entrant_count"],
            "field_size": race["field_size"],
            "positions_paid": race["positions_paid"],
            "total_prize_money": Decimal(race["prize_monies"]["total_value"]),
            "silk_url": race["silk_url"],
            "silk_base_url": race["silk_base_url"],
        },
    )
    pools = {p["product_type"].lower(): Decimal(str(p["total"])) for p in data["tote_pools"]}
    win, place = pools["win"], pools["place"]
    holds: dict[str, Decimal] = {}
    bets: dict[str, Decimal] = {}
    for entry in data["money_tracker"]["entrants"]:
        holds[entry["entrant_id"]] = holds.get(entry["entrant_id"], Decimal(0)) + entry["hold_percentage"]
        bets[entry["entrant_id"]] = bets.get(entry["entrant_id"], Decimal(0)) + entry["bet_percentage"]
    runners: dict[int, dict[str, Any]] = {}
    for runner in data["runners"]:
        hold = holds.get(runner["entrant_id"], Decimal(0))
        odds = runner["odds"]
        row = {
            "entrant_id": runner["entrant_id"],
            "race_id": race["event_id"],
            "name": runner["name"],
            "runner_number": runner["runner_number"],
            "barrier": runner["barrier"],
            "jockey": runner["jockey"],
            "trainer_name": runner["trainer_name"],
            "silk_colours": runner["silk_colours"],
            "silk_url_64x64": runner["silk_url_64x64"],
            "silk_url_128x128": runner["silk_url_128x128"],
            "is_scratched": runner["is_scratched"],
            "favourite": runner["favourite"],
            "mover": runner["mover"],
            "fixed_win_odds": Decimal(str(odds["fixed_win"])),
            "fixed_place_odds": Decimal(str(odds["fixed_place"])),
            "pool_win_odds": Decimal(str(odds["pool_win"])),
            "pool_place_odds": Decimal(str(odds["pool_place"])),
            "hold_percentage": hold,
            "bet_percentage": bets.get(runner["entrant_id"], Decimal(0)),
            "win_pool_percentage": hold,
            "place_pool_percentage": hold,
            "win_pool_amount": to_cents(win * hold / 100),
            "place_pool_amount": to_cents(place * hold / 100),
        }
        _insert(conn, "entrants", row)
        runners[runner["runner_number"]] = row
    _insert(
        conn,
        "race_pools",
        {
            "race_id": race["event_id"],
            "win_pool_total": win,
            "place_pool_total": place,
            "quinella_pool_total": pools["quinella"],
            "trifecta_pool_total": pools["trifecta"],
            "first4_pool_total": pools["firstfour"],
            "total_race_pool": sum(pools.values()),
            "data_quality_score": 95,
            "extracted_pools": len(pools),
        },
    )
    conn.execute(
        """INSERT INTO race_results (race_id, results_available, results_data, dividends_data, result_status,
             result_time) VALUES (%s, true, %s, %s, 'final', %s)""",
        (
            race["event_id"],
            psycopg.types.json.Jsonb(data["results"]),
            psycopg.types.json.Jsonb(data["dividends"]),
            start + timedelta(minutes=8),
        ),
    )
    _seed_history(conn, race["event_id"], start, list(runners.values()), win, place)
    return Seeded(race["meeting_id"], race["event_id"], start, runners)


def _seed_history(
    conn: psycopg.Connection[Any],
    race_id: str,
    start: datetime,
    runners: list[dict[str, Any]],
    win: Decimal,
    place: Decimal,
) -> None:
    """60 polls 75 s apart from 72 min before the start; pools grow linearly to the final totals."""
    flows: list[dict[str, Any]] = []
    odds: list[tuple[Any, ...]] = []
    for runner in runners:
        last_by_bucket: dict[int, tuple[int, int]] = {}
        hold = runner["hold_percentage"]
        for k in range(POLLS):
            at = start - timedelta(minutes=72) + timedelta(seconds=75 * k)
            minutes = round((start - at).total_seconds() / 60)
            interval = time_interval(minutes)
            share = Decimal(k + 1) / POLLS
            win_amount = to_cents(win * share * hold / 100)
            place_amount = to_cents(place * share * hold / 100)
            earlier = [amounts for b, amounts in last_by_bucket.items() if b > interval]
            previous = earlier[-1] if earlier else (0, 0)
            last_by_bucket[interval] = (win_amount, place_amount)
            fixed_win = round(float(runner["fixed_win_odds"]) * (1 + 0.002 * (POLLS - 1 - k)), 2)
            flows.append(
                {
                    "entrant_id": runner["entrant_id"],
                    "race_id": race_id,
                    "hold": hold,
                    "bet": runner["bet_percentage"],
                    "minutes": minutes,
                    "interval": interval,
                    "interval_type": interval_type(minutes),
                    "at": at,
                    "polled": at + timedelta(seconds=1),
                    "win": win_amount,
                    "place": place_amount,
                    "win_increment": win_amount - previous[0],
                    "place_increment": place_amount - previous[1],
                    "fixed_win": fixed_win,
                }
            )
            for n, kind in enumerate(ODDS_TYPES):
                odds.append((runner["entrant_id"], round(fixed_win + n, 2), kind, at))
    with conn.cursor() as cursor:
        cursor.executemany(
            """INSERT INTO money_flow_history (entrant_id, race_id, hold_percentage, bet_percentage, type,
                 time_to_start, time_interval, interval_type, event_timestamp, polling_timestamp,
                 win_pool_amount, place_pool_amount, win_pool_percentage, place_pool_percentage,
                 incremental_amount, incremental_win_amount, incremental_place_amount, pool_type,
                 fixed_win_odds, created_at)
               VALUES (%(entrant_id)s, %(race_id)s, %(hold)s, %(bet)s, 'bucketed_aggregation', %(minutes)s,
                 %(interval)s, %(interval_type)s, %(at)s, %(polled)s, %(win)s, %(place)s, %(hold)s, %(hold)s,
                 %(win_increment)s, %(win_increment)s, %(place_increment)s, 'combined', %(fixed_win)s,
                 %(polled)s)""",
            flows,
        )
        cursor.executemany(
            "INSERT INTO odds_history (entrant_id, odds, type, event_timestamp) VALUES (%s, %s, %s, %s)", odds
        )


def seed_neighbours(conn: psycopg.Connection[Any], seeded: Seeded) -> None:
    """Races around the sample race in start order, one of them starting at the very same instant."""
    _meeting(conn, TIE_MEETING, "Tie Park", seeded.start.astimezone(NZ).date(), "harness")
    _race(conn, EARLY_RACE, TIE_MEETING, 1, seeded.start - timedelta(minutes=65), "final")
    _race(conn, TIE_RACE, TIE_MEETING, 2, seeded.start, "final")
    _race(conn, LATE_RACE, TIE_MEETING, 3, seeded.start + timedelta(minutes=35), "abandoned")


def seed_today(conn: psycopg.Connection[Any], seeded: Seeded) -> None:
    """A harness meeting today with races that start relative to now (whole minutes, as NZ TAB's do)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    _meeting(conn, TODAY_MEETING, "Today Raceway", seeded.today, "harness")
    plan = {
        "settled": (-30, "final"),
        "closed": (-2, "closed"),
        "abandoned": (8, "abandoned"),
        "soon": (10, "open"),
        "later": (40, "open"),
        "evening": (200, "open"),
    }
    for number, (key, (minutes, status)) in enumerate(plan.items(), start=1):
        race_id = f"70da7000-0000-4000-8000-{number:012d}"
        _race(conn, race_id, TODAY_MEETING, number, now + timedelta(minutes=minutes), status)
        seeded.upcoming[key] = race_id


def seed_all(url: str) -> Seeded:
    with psycopg.connect(url, autocommit=True) as conn:
        seeded = seed_sample_race(conn)
        seed_neighbours(conn, seeded)
        seed_today(conn, seeded)
        conn.execute("ANALYZE")
    return seeded
