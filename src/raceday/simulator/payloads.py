"""Response bodies in the real API's shapes, built from the day and a sim time (pure functions).

Every body has the real envelope `{header, params, data}`; the header also says `simulated: true`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from raceday.core.nztime import NZ
from raceday.simulator.day import SimDay
from raceday.simulator.model import SimMeeting, SimRace
from raceday.simulator.race import TAKE_OUT, Market, RaceState
from raceday.simulator.results import dividends, results
from raceday.simulator.runners import FAVOURITE_OMITS, MOVER_OMITS

MAX_LIMIT = 200
DEFAULT_LIMIT = 100
# Pools whose tote trends list per-runner investments (Quinella carries qla_odds instead).
_EXOTIC_CODES = {"Exacta": "EXA", "Trifecta": "TFA", "FirstFour": "FT4"}
_EXOTIC_LEGS = {"Exacta": 2, "Trifecta": 3, "FirstFour": 4}
_PRIZE_SPLIT = (0.56, 0.18, 0.09, 0.05, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02)
_ORDINALS = ("1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th", "9th", "10th")


class BadRequest(ValueError):
    """A query the real API would refuse with 400."""


# --- time formats -------------------------------------------------------------------------------


def go_time(moment: datetime) -> str:
    """RFC 3339 with nanoseconds and trailing zeros trimmed, as the API's Go backend prints it.

    Python keeps microseconds; the last three digits are derived from them, so the same instant
    always renders the same way.
    """
    moment = moment.astimezone(UTC)
    micros = moment.microsecond
    nanos = micros * 1000 + (micros * 7919) % 1000 if micros else 0
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{nanos:09d}".rstrip("0") + "Z" if nanos else f"{text}Z"


def nztab_instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _nz_clock(moment: datetime) -> str:
    return moment.astimezone(NZ).strftime("%H:%M:%S")


def header(title: str, now: datetime, url: str) -> dict[str, Any]:
    return {"title": title, "generated_time": go_time(now), "url": url, "simulated": True}


def error_body(now: datetime, url: str, message: str, code: str) -> dict[str, Any]:
    """The API's error shape: a header carrying `error` and `error_code`."""
    return {"header": header("Error", now, url) | {"error": message, "error_code": code}}


# --- query parsing ------------------------------------------------------------------------------


def _date_param(value: str | None, now: datetime, name: str) -> date | None:
    """`today` (the NZ date), a YYYY-MM-DD date, or None for week/month/all (no bound)."""
    if value is None or value == "" or value == "today":
        return now.astimezone(NZ).date()
    if value in ("week", "month", "all"):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"invalid {name} {value!r}: expected YYYY-MM-DD or today") from None


def _int_param(value: str | None, default: int, name: str, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"invalid {name} {value!r}: expected an integer") from None
    if not low <= number <= high:
        raise BadRequest(f"invalid {name} {number}: must be between {low} and {high}")
    return number


def _codes(value: str | None) -> set[str]:
    return {part.strip().upper() for part in (value or "").split(",") if part.strip()}


def flag(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1", "yes")


# --- meetings -----------------------------------------------------------------------------------


def _meeting_race(race: SimRace, now: datetime) -> dict[str, Any]:
    return {
        "id": race.race_id,
        "race_number": race.race_number,
        "name": race.name,
        "start_time": nztab_instant(race.start),
        "tote_start_time": _nz_clock(race.start),
        "track_condition": race.track_condition,
        "distance": race.distance,
        "weather": race.weather,
        "country": race.country,
        "state": race.state,
        "status": race.status(now),
    }


def _meeting(meeting: SimMeeting, now: datetime, *, detail: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "meeting": meeting.meeting_id,
        "name": meeting.name,
        "date": f"{meeting.date.isoformat()}T00:00:00Z",
        "track_condition": meeting.track_condition,
        "category": meeting.category,
        "category_name": meeting.category_name,
        "country": meeting.country,
        "state": meeting.state,
        "races": [_meeting_race(race, now) for race in meeting.races],
        "video_channels": list(meeting.video_channels),
    }
    if meeting.has_quaddies:
        body["quaddie"] = list(meeting.quaddie)
        body["early_quaddie"] = list(meeting.early_quaddie)
    body["tote_meeting_number"] = meeting.tote_meeting_number
    body["tote_raceday_date"] = meeting.date.isoformat()
    body["tote_status"] = meeting.tote_status(now)
    if detail:
        mnemonic = meeting.name.replace(" ", "")[:4].upper()
        body |= {
            "jetbet_club_name": "",
            "club_day": meeting.tote_meeting_number * 7,
            "club_mnemonic": mnemonic,
            "jetbet_track_name": meeting.name,
            "sell_date": meeting.date.isoformat(),
            "fob_mnemonic": "",
            "fob_sell_date": "",
            "fob_close_date": "",
            "fob_complete_date": "",
            "fob_club_day": 0,
            "meeting_date": meeting.date.isoformat(),
            "track_mnemonic": mnemonic if meeting.country == "NZ" else "INTL",
            "is_fob_meeting": False,
            "meeting_type": "",
        }
    return body


def meetings_list(day: SimDay, now: datetime, query: dict[str, str], url: str) -> dict[str, Any]:
    """`GET /racing/meetings`: filtered by date, country, category and ids, paged by limit/offset."""
    date_from = _date_param(query.get("date_from"), now, "date_from")
    date_to = _date_param(query.get("date_to"), now, "date_to")
    limit = _int_param(query.get("limit"), DEFAULT_LIMIT, "limit", 1, MAX_LIMIT)
    offset = _int_param(query.get("offset"), 0, "offset", 0, 1_000_000)
    countries = _codes(query.get("country"))
    categories = _codes(query.get("category"))
    ids = {part.strip() for part in query.get("ids", "").split(",") if part.strip()}
    selected = [
        meeting
        for meeting in day.meetings
        if (date_from is None or meeting.date >= date_from)
        and (date_to is None or meeting.date <= date_to)
        and (not countries or meeting.country in countries)
        and (not categories or meeting.category in categories)
        and (not ids or meeting.meeting_id in ids)
    ]
    page = selected[offset : offset + limit]
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    return {
        "header": header("Race Meetings", now, url),
        "params": {
            "enc": "json",
            "ids": sorted(ids) or None,
            "date_from": nztab_instant(minute) if date_from is None else f"{date_from}T00:00:00Z",
            "date_to": nztab_instant(minute) if date_to is None else f"{date_to}T00:00:00Z",
            "type": ",".join(sorted(categories)) or " ",
            "country": ",".join(sorted(countries)) or " ",
            "limit": limit,
            "offset": offset,
            "futures": flag(query.get("futures")),
            "meeting_numbers": None,
        },
        "data": {"meetings": [_meeting(meeting, now, detail=False) for meeting in page]},
    }


def meeting_detail(meeting: SimMeeting, now: datetime, url: str) -> dict[str, Any]:
    """`GET /racing/meetings/{id}`: the meeting, with its club and tote details."""
    return {
        "header": header("Get meeting by id", now, url),
        "params": {"enc": "json", "id": meeting.meeting_id},
        "data": {"meetings": [_meeting(meeting, now, detail=True)]},
    }


# --- races list ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PageToken:
    number: int
    request_hash: str

    def encode(self) -> str:
        raw = json.dumps({"page_number": self.number, "page_request_hash": self.request_hash})
        return base64.urlsafe_b64encode(raw.replace(" ", "").encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> _PageToken:
        try:
            raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            return cls(int(raw["page_number"]), str(raw["page_request_hash"]))
        except (ValueError, KeyError, TypeError):
            raise BadRequest("invalid page_token") from None


def races_list(day: SimDay, now: datetime, query: dict[str, str], url: str) -> dict[str, Any]:
    """`GET /racing/list`: race summaries by start time, paged with `next_page_token`."""
    date_from = _date_param(query.get("date_from"), now, "date_from")
    date_to = _date_param(query.get("date_to"), now, "date_to")
    limit = _int_param(query.get("limit"), DEFAULT_LIMIT, "limit", 1, MAX_LIMIT)
    order_by = _int_param(query.get("order_by"), 1, "order_by", 0, 1)
    countries = _codes(query.get("countries"))
    meet_types = _codes(query.get("meet_types"))
    request_hash = hashlib.sha256(
        repr((date_from, date_to, limit, order_by, sorted(countries), sorted(meet_types))).encode()
    ).hexdigest()[:13]
    token = query.get("page_token", "")
    page_number = 1
    if token:
        decoded = _PageToken.decode(token)
        if decoded.request_hash != request_hash or decoded.number < 1:
            raise BadRequest("page_token does not belong to this query")
        page_number = decoded.number
    races = [
        (meeting, race)
        for meeting in day.meetings
        for race in meeting.races
        if (date_from is None or race.start.astimezone(NZ).date() >= date_from)
        and (date_to is None or race.start.astimezone(NZ).date() <= date_to)
        and (not countries or meeting.country in countries)
        and (not meet_types or meeting.category in meet_types)
    ]
    races.sort(key=lambda pair: (pair[1].start, pair[1].race_id), reverse=order_by == 0)
    start = (page_number - 1) * limit
    page = races[start : start + limit]
    more = start + limit < len(races)
    summaries = []
    for _, race in page:
        started = now >= race.actual_start
        summaries.append(
            {
                "id": race.race_id,
                "name": race.name,
                "number": race.race_number,
                "meeting_id": race.meeting_id,
                "advertised_start": nztab_instant(race.start),
                "actual_start": nztab_instant(race.actual_start if started else race.start),
                "silk_url": race.silk_url,
            }
        )
    first = date_from or now.astimezone(NZ).date()
    last = date_to or first
    return {
        "header": header("List Races", now, url),
        "params": {
            "enc": "json",
            "limit": limit,
            "countries": sorted(countries) or None,
            "meet_types": sorted(meet_types) or None,
            "date_from": f"{first}T00:00:00Z",
            "date_to": f"{last}T23:59:59.999999999Z",
            "order_by": order_by,
            "page_token": token,
        },
        "data": {
            "races": summaries,
            "next_page_token": _PageToken(page_number + 1, request_hash).encode() if more else "",
        },
    }


# --- race event ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventFlags:
    """The event endpoint's query flags (all default to false, as in the API)."""

    with_money_tracker: bool = False
    with_tote_trends_data: bool = False
    with_big_bets: bool = False
    with_live_bets: bool = False
    with_biggest_bet: bool = False
    with_will_pays: bool = False
    present_overlay: bool = False
    bet_type_filter: str = ""

    @classmethod
    def from_query(cls, query: dict[str, str]) -> EventFlags:
        return cls(
            with_money_tracker=flag(query.get("with_money_tracker")),
            with_tote_trends_data=flag(query.get("with_tote_trends_data")),
            with_big_bets=flag(query.get("with_big_bets")),
            with_live_bets=flag(query.get("with_live_bets")),
            with_biggest_bet=flag(query.get("with_biggest_bet")),
            with_will_pays=flag(query.get("with_will_pays")) or flag(query.get("will_pays")),
            present_overlay=flag(query.get("present_overlay")),
            bet_type_filter=query.get("bet_type_filter", ""),
        )


def _race_object(race: SimRace, state: RaceState) -> dict[str, Any]:
    started = state.time >= race.actual_start
    actual = race.actual_start if started else race.start
    local = race.start.astimezone(NZ)
    top = sorted(race.runners, key=lambda runner: -runner.opinion)
    prize_total = 17_000 if race.country == "NZ" else 30_000
    prizes: dict[str, int] = {
        _ORDINALS[i]: round(prize_total * share) for i, share in enumerate(_PRIZE_SPLIT)
    }
    starters = sum(1 for runner in state.runners if not runner.scratched)
    comment = " ".join(
        f"{runner.name.upper()} ({runner.runner_number}) {phrase}"
        for runner, phrase in zip(
            top[:3],
            ("looks the one to beat.", "is next best on recent form.", "can run a place."),
            strict=False,
        )
    )
    return {
        "event_id": race.race_id,
        "meeting_name": race.meeting_name,
        "display_meeting_name": race.meeting_name,
        "meeting_id": race.meeting_id,
        "status": state.status,
        "description": race.name,
        "advertised_start": int(race.start.timestamp()),
        "actual_start": int(actual.timestamp()),
        "advertised_start_string": race.start.strftime("%Y-%m-%d %H:%M:%S +0000 UTC"),
        "actual_start_string": actual.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC"),
        "race_date_nz": local.date().isoformat(),
        "start_time_nz": f"{local:%H:%M:%S} {local.tzname()}",
        "race_number": race.race_number,
        "type": race.category,
        "start_type": "Mobile" if race.category == "H" else "",
        "country": race.country,
        "state": race.state,
        "distance": race.distance,
        "weather": race.weather,
        "form_guide": "",
        "comment": comment,
        "silk_base_url": "drr38safykj6s.cloudfront.net",
        "track_condition": race.track_condition,
        "track_direction": "Left" if race.race_number % 3 else "Right",
        "track_surface": "Synthetic" if "Synthetic" in race.meeting_name else "Turf",
        "track_circumference": 1800,
        "silk_url": race.silk_url,
        "entrant_count": len(race.runners),
        "field_size": starters,
        "positions_paid": race.positions_paid,
        "video_channels": list(race.video_channels),
        "video_channels_meta": {
            "Live1": {
                "RaceNo": race.race_number,
                "RaceType": race.category,
                "VenueName": race.meeting_name,
                "UtcRaceStartTime": nztab_instant(race.start),
                "VenueCountryCode": race.country,
            }
        },
        "tips": [runner.entrant_id for runner in top[:4]],
        "rail_position": "True",
        "group": "",
        "class": "Rating 65 HCP" if race.category == "T" else "",
        "prize_monies": prizes | {"total_value": prize_total},
        "ffwin_option_number": 400 + race.race_number,
        "fftop3_option_number": 1400 + race.race_number,
        "gait": "Pace" if race.category == "H" else "",
        "track_home_straight": 300,
        "gender_conditions": "unrestricted",
        "allowance_conditions": True,
        "age_conditions": "Unrestricted",
        "special_conditions": "",
        "jockey_conditions": "C",
        "weight_and_handicap_conditions": "hcp" if race.category == "T" else "",
        "mile_rate_400": "",
        "mile_rate_800": "",
    }


def _flucs(state: RaceState) -> list[tuple[datetime, list[float]]]:
    current = (state.time, [r.odds.fixed_win for r in state.runners])
    return [*state.market.flucs(state.time), current]


def _runners(state: RaceState) -> list[dict[str, Any]]:
    statics = state.market.runner_json
    history = _flucs(state)
    bodies = []
    for index, runner_state in enumerate(state.runners):
        runner = runner_state.runner
        odds: dict[str, float] = {
            "fixed_win": runner_state.odds.fixed_win,
            "fixed_place": runner_state.odds.fixed_place,
        }
        if runner_state.odds.pool_win is not None and runner_state.odds.pool_place is not None:
            odds["pool_win"] = runner_state.odds.pool_win
            odds["pool_place"] = runner_state.odds.pool_place
        points: list[tuple[datetime, float]] = []
        for moment, prices in history:
            price = prices[index]
            if price and (not points or points[-1][1] != price):
                points.append((moment, price))
        stamped = [{"timestamp": go_time(moment), "fluc": price} for moment, price in points]
        high = max(range(len(points)), key=lambda i: points[i][1], default=0)
        low = min(range(len(points)), key=lambda i: points[i][1], default=0)
        body = dict(statics[index])
        scratched = runner_state.scratched
        body.update(
            is_scratched=scratched,
            is_late_scratched=scratched and runner.is_late_scratch,
            odds=odds,
            scratch_time=int(runner.scratch_at.timestamp()) if scratched and runner.scratch_at else 0,
            favourite=runner.runner_number == state.favourite,
            mover=runner.runner_number == state.mover,
            flucs=[price for _, price in points],
            scr_time=go_time(runner.scratch_at) if scratched and runner.scratch_at else None,
            flucs_with_timestamp={
                "last_six": stamped[-6:],
                "open": stamped[0],
                "high": stamped[high],
                "low": stamped[low],
                "nine_am": stamped[0],
            }
            if stamped
            else None,
        )
        bodies.append(body)
    return bodies


def _tote_trends(state: RaceState, product: str, total: float) -> dict[str, Any]:
    race = state.race
    legs = _EXOTIC_LEGS[product]
    lines = [
        "<meetings>",
        f"  <date>{race.start.astimezone(NZ).date()}</date>",
        f'  <meeting meeting_number="1" meeting_type="{race.category}">',
        f'    <meet_ID meet_mnem="{race.meeting_name[:4].upper()}" NetSet_Name="{race.meeting_name}"/>',
        f'    <race race_number="{race.race_number}">',
        "      <bet_types>",
        f'        <bet_type type="{_EXOTIC_CODES[product]}">',
        f"          <pool_total>{total:.2f}</pool_total>",
        f'          <runners race_number="{race.race_number}">',
    ]
    for runner_state in state.runners:
        runner = runner_state.runner
        lines += [
            f'            <runner runner_number="{runner.runner_number}">',
            f"              <runner_scratched>{runner_state.scratched}</runner_scratched>",
            f"              <runner_name>{runner.name}</runner_name>",
        ]
        for leg in range(1, legs + 1):
            flattened = runner_state.hold_share ** (1 / leg) if runner_state.hold_share else 0.0
            lines.append(
                f"              <runner_investment{leg}>{total * flattened / legs:.2f}"
                f"</runner_investment{leg}>"
            )
        lines.append("            </runner>")
    lines += [
        "          </runners>",
        "        </bet_type>",
        "      </bet_types>",
        "    </race>",
        "  </meeting>",
        "</meetings>",
    ]
    return {"pool_total": total, "tote_trends_data": "\r\n".join(lines)}


def _quaddie_trends(state: RaceState, total: float, final_leg: datetime) -> dict[str, Any]:
    race = state.race
    final_leg_text = final_leg.astimezone(NZ).strftime("%Y-%m-%d %H:%M")
    lines = [
        "<meetings>",
        f"  <date>{race.start.astimezone(NZ).date()}</date>",
        f'  <meeting meeting_number="1" meeting_name="" meeting_type="{race.category}">',
        f'    <meet_ID meet_mnem="{race.meeting_name[:4].upper()}" NetSet_Name="{race.meeting_name}"/>',
        f'    <race race_number="{race.race_number}">',
        "      <bet_types>",
        '        <bet_type type="QAD">',
        f"          <pool_total>{total:.2f}</pool_total>",
        f"          <final_leg_start>{final_leg_text}</final_leg_start>",
    ]
    for leg in range(1, 5):
        number = race.race_number + leg - 1
        lines += [
            f'          <leg leg_number="{leg}">',
            f'            <runners race_number="{number}" source_race-number="{number}"/>',
            "          </leg>",
        ]
    lines += ["        </bet_type>", "      </bet_types>", "    </race>", "  </meeting>", "</meetings>"]
    return {
        "pool_total": total,
        "final_leg_start_time": final_leg_text,
        "tote_trends_data": "\r\n".join(lines),
    }


def _qla_odds(state: RaceState) -> list[dict[str, Any]]:
    shares = [r.hold_share if not r.scratched else 0.0 for r in state.runners]
    ranked = sorted(range(len(shares)), key=lambda i: -shares[i])
    favouritism = {index: rank + 1 for rank, index in enumerate(ranked)}
    rows = []
    for i, first in enumerate(shares):
        cells = []
        for j, second in enumerate(shares):
            chance = 0.0
            if i != j and first > 0 and second > 0 and first < 1 and second < 1:
                chance = first * second / (1 - first) + second * first / (1 - second)
            cells.append(f"{(1 - TAKE_OUT) / chance:.2f}" if chance > 0 else "-")
        rows.append({"favouritism": favouritism[i], "sel": i + 1, "oddsString": "|".join(cells)})
    return rows


def _tote_pools(state: RaceState, flags: EventFlags) -> list[dict[str, Any]]:
    race = state.race
    winner_share = 0.0
    if state.status in ("Interim", "Final") and race.finish_order:
        winner_share = state.runner(race.finish_order[0]).hold_share
    pools = []
    for product, total in state.pools.items():
        pool: dict[str, Any] = {
            "product_type": product,
            "total": total,
            "status": "OPEN" if state.status == "Open" else "CLOSED",
            "guarantee": 0,
            "brought_forward": 0,
            "terminating": False,
            "jackpot": 0,
            "leg": 0,
            "is_commingled": race.country != "NZ",
            "commingled_info": race.country != "NZ",
            "is_concession": False,
            "is_final": state.status == "Final",
            "win_investment": str(round(total * winner_share * 100)),
            "will_pay_live_units": 0,
            "will_pay_current_leg": 0,
        }
        if product == "Quinella":
            pool["qla_odds"] = _qla_odds(state)
        if product in ("EarlyQuadrella", "Quadrella"):
            # As in the real feed: no is_final on the multi-race pools, but their legs.
            del pool["is_final"]
            key = "early_quaddie" if product == "EarlyQuadrella" else "quaddie"
            pool[key] = list(range(race.race_number, race.race_number + 4))
            if flags.with_will_pays:
                pool["will_pays"] = [
                    {
                        "odds": round(total * (1 - TAKE_OUT) / max(r.hold_share, 0.01) / 50, 1),
                        "sel": r.runner.runner_number,
                    }
                    for r in state.runners
                    if not r.scratched
                ]
        if flags.with_tote_trends_data and product in _EXOTIC_LEGS:
            pool["tote_trends"] = _tote_trends(state, product, total)
        if flags.with_tote_trends_data and product == race.quaddie_first_leg:
            final_leg = race.quaddie_final_leg_start or race.start
            pool["tote_trends"] = _quaddie_trends(state, total, final_leg)
        pools.append(pool)
    return pools


def _entrant_copy(body: dict[str, Any], omit: frozenset[str]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key not in omit}


def event(market: Market, now: datetime, flags: EventFlags, url: str) -> dict[str, Any]:
    """`GET /racing/events/{id}`: the race, its runners, pools, money tracker and results."""
    state = market.state(now)
    race = market.race
    runners = _runners(state)
    by_number = {body["runner_number"]: body for body in runners}
    run = state.status in ("Interim", "Final")
    late = [r for r in state.runners if r.scratched and r.runner.is_late_scratch]
    favourite = by_number.get(state.favourite) if state.favourite is not None else None
    mover = by_number.get(state.mover) if state.mover is not None else None
    data: dict[str, Any] = {
        "race": _race_object(race, state),
        "results": results(state) if run else [],
        "dividends": dividends(state) if run else [],
        "substitutions": [{"entrant_id": favourite["entrant_id"], "tote": "NZ", "product_name": "Pool Win"}]
        if late and favourite is not None
        else [],
        "favourite": _entrant_copy(favourite, FAVOURITE_OMITS) if favourite else None,
        "runners": runners,
        "derivatives": None,
        "mover": _entrant_copy(mover, MOVER_OMITS) if mover else None,
        "big_bets": [] if flags.with_big_bets else None,
        "live_bets": [] if flags.with_live_bets else None,
        "biggest_bet": None,
    }
    if flags.with_money_tracker:
        data["money_tracker"] = {
            "entrants": [
                {
                    "entrant_id": entry.entrant_id,
                    "hold_percentage": entry.hold_percentage,
                    "bet_percentage": entry.bet_percentage,
                }
                for entry in state.tracker
            ]
        }
    data["tote_pools"] = _tote_pools(state, flags)
    data["error"] = ""
    return {
        "header": header(f"Event Details: {race.race_id}", now, url),
        "params": {
            "enc": "json",
            "id": race.race_id,
            "present_overlay": flags.present_overlay,
            "with_big_bets": flags.with_big_bets,
            "with_live_bets": flags.with_live_bets,
            "with_money_tracker": flags.with_money_tracker,
            "with_biggest_bet": flags.with_biggest_bet,
            "will_pays": flags.with_will_pays,
            "with_tote_trends_data": flags.with_tote_trends_data,
            "bet_type_filter": flags.bet_type_filter,
            "bets_limit": 10,
        },
        "data": data,
    }
