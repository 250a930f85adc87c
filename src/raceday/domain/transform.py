"""One race-event response → the rows one poll writes; a meetings listing → meeting rows.

Pure: runs unchanged in a worker process. Increments and odds filtering need the previous stored
rows, so the writer finishes them inside its transaction with the pure helpers of `money_flow`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from raceday.core.nztime import nz_day
from raceday.domain import money_flow as mf
from raceday.domain.rows import (
    EntrantRow,
    MeetingRow,
    MoneyFlowRow,
    PoolRow,
    RaceRow,
    ResultRow,
    Snapshot,
)
from raceday.nztab.decode import NzTabPayloadError, decode_response
from raceday.nztab.models import Meeting, RaceEventData, RaceEventResponse, RaceStatus, Runner

RACE_TYPES = {"T": "thoroughbred", "H": "harness", "G": "greyhound"}
POOL_COLUMNS = {
    "win": "win",
    "place": "place",
    "quinella": "quinella",
    "trifecta": "trifecta",
    "exacta": "exacta",
    "first4": "first4",
    "firstfour": "first4",
}


def _meeting_row(
    meeting_id: str,
    name: str,
    country: str,
    category: str,
    day: date,
    *,
    status: str,
    simulated: bool,
    category_name: str | None = None,
    state: str | None = None,
    track_condition: str | None = None,
    tote_status: str | None = None,
) -> MeetingRow:
    code = category.upper()
    return MeetingRow(
        meeting_id=meeting_id,
        meeting_name=name,
        country=country,
        race_type=RACE_TYPES.get(code, "thoroughbred"),
        date=day,
        status=status,
        category=code,
        category_name=category_name,
        state=state,
        track_condition=track_condition or None,
        tote_status=tote_status,
        data_source="simulator" if simulated else "nztab",
    )


def meeting_status(meeting: Meeting) -> str:
    """`cancelled` when every race is abandoned, `completed` when every race is settled."""
    statuses = [race.race_status for race in meeting.races]
    if statuses and all(s is RaceStatus.ABANDONED for s in statuses):
        return "cancelled"
    if statuses and all(s is not None and s.is_terminal for s in statuses):
        return "completed"
    return "active"


def meeting_from_listing(meeting: Meeting, simulated: bool) -> MeetingRow:
    """A meeting of the meetings list, with its status settled from its races."""
    return _meeting_row(
        meeting.meeting,
        meeting.name,
        meeting.country,
        meeting.category,
        meeting.racing_date,
        status=meeting_status(meeting),
        simulated=simulated,
        category_name=meeting.category_name,
        state=meeting.state,
        track_condition=meeting.track_condition,
        tote_status=meeting.tote_status,
    )


def tracked(
    meetings: Iterable[Meeting], countries: frozenset[str], categories: frozenset[str]
) -> list[Meeting]:
    """The meetings of the tracked countries and categories (and of a category raceday knows)."""
    return [
        m
        for m in meetings
        if m.country.upper() in countries
        and m.category.upper() in categories
        and m.category.upper() in RACE_TYPES
    ]


def _race_row(data: RaceEventData) -> RaceRow:
    race = data.race
    status = race.race_status
    prize = (race.prize_monies or {}).get("total_value")
    return RaceRow(
        race_id=race.event_id,
        meeting_id=race.meeting_id,
        name=race.description,
        race_number=race.race_number,
        start_time=race.start_utc,
        status=status.value if status else None,
        actual_start=race.actual_start_utc,
        race_date_nz=race.race_date_nz,
        start_time_nz=race.start_time_nz,
        distance=race.distance,
        track_condition=race.track_condition or None,
        track_surface=race.track_surface or None,
        weather=race.weather or None,
        type=race.type,
        country=race.country,
        entrant_count=race.entrant_count,
        field_size=race.field_size,
        positions_paid=race.positions_paid,
        total_prize_money=prize,
        silk_url=race.silk_url,
        silk_base_url=race.silk_base_url,
    )


def _meeting_of_event(data: RaceEventData, simulated: bool) -> MeetingRow:
    """The race's meeting as the event describes it: inserted only if the baseline has not."""
    race = data.race
    return _meeting_row(
        race.meeting_id,
        race.meeting_name or race.meeting_id,
        race.country or "",
        race.type or "T",
        race.race_date_nz or nz_day(race.start_utc),
        status="active",
        simulated=simulated,
        state=race.state,
        track_condition=race.track_condition,
    )


def _pools(data: RaceEventData) -> PoolRow | None:
    if not data.tote_pools:
        return None
    named: dict[str, Decimal] = {}
    unknown = 0
    for pool in data.tote_pools:
        column = POOL_COLUMNS.get(pool.product_type.casefold().replace(" ", ""))
        if column is None:
            unknown += 1
        else:
            named[column] = named.get(column, Decimal(0)) + pool.total
    zero = Decimal(0)
    score = 100 - 5 * unknown - (30 if not named.get("win") or not named.get("place") else 0)
    return PoolRow(
        race_id=data.race.event_id,
        win=named.get("win", zero),
        place=named.get("place", zero),
        quinella=named.get("quinella", zero),
        trifecta=named.get("trifecta", zero),
        exacta=named.get("exacta", zero),
        first4=named.get("first4", zero),
        total=sum((pool.total for pool in data.tote_pools), zero),
        data_quality_score=max(score, 0),
        extracted_pools=len(data.tote_pools),
    )


def _result(data: RaceEventData, status: str | None) -> ResultRow | None:
    if status not in (RaceStatus.INTERIM, RaceStatus.FINAL) or not (data.results or data.dividends):
        return None
    dividend_statuses = {d.status.casefold() for d in data.dividends}
    runners = {runner.runner_number: runner for runner in data.runners}
    return ResultRow(
        race_id=data.race.event_id,
        result_status="final" if status == RaceStatus.FINAL else "interim",
        results_data=[r.model_dump(mode="json") for r in data.results],
        dividends_data=[d.model_dump(mode="json") for d in data.dividends],
        fixed_odds_data={
            str(number): {
                "fixed_win": _json_number(r.odds.fixed_win),
                "fixed_place": _json_number(r.odds.fixed_place),
                "runner_name": r.name,
                "entrant_id": r.entrant_id,
            }
            for number, r in sorted(runners.items())
        },
        photo_finish="photo" in dividend_statuses,
        stewards_inquiry="inquiry" in dividend_statuses,
        protest_lodged="protest" in dividend_statuses,
    )


def _json_number(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _entrant_row(
    runner: Runner,
    race_id: str,
    share: tuple[Decimal, Decimal] | None,
    flow: MoneyFlowRow | None,
) -> EntrantRow:
    odds = runner.odds
    return EntrantRow(
        entrant_id=runner.entrant_id,
        race_id=race_id,
        name=runner.name,
        runner_number=runner.runner_number,
        barrier=runner.barrier_number,
        jockey=runner.jockey or None,
        trainer_name=runner.trainer_name or None,
        silk_colours=runner.silk_colours or None,
        silk_url_64x64=runner.silk_url_64x64 or None,
        silk_url_128x128=runner.silk_url_128x128 or None,
        is_scratched=runner.is_scratched,
        is_late_scratched=runner.is_late_scratched,
        is_emergency=runner.is_emergency,
        scratch_time=runner.scratched_at,
        favourite=runner.favourite,
        mover=runner.mover,
        fixed_win_odds=odds.fixed_win,
        fixed_place_odds=odds.fixed_place,
        pool_win_odds=odds.pool_win,
        pool_place_odds=odds.pool_place,
        hold_percentage=mf.percentage(share[0]) if share else None,
        bet_percentage=mf.percentage(share[1]) if share else None,
        win_pool_percentage=flow.win_pool_percentage if flow else None,
        place_pool_percentage=flow.place_pool_percentage if flow else None,
        win_pool_amount=flow.win_pool_amount if flow else None,
        place_pool_amount=flow.place_pool_amount if flow else None,
    )


def transform_event(response: RaceEventResponse) -> Snapshot:
    """The rows of one poll. Money flow needs a money tracker and a win pool; scratched runners
    get none (they are out of the betting)."""
    data = response.data
    event_timestamp = response.generated_time
    race = _race_row(data)
    minutes = mf.time_to_start(race.start_time, event_timestamp)
    pools = _pools(data)
    win_dollars = pools.win if pools else Decimal(0)
    place_dollars = pools.place if pools else Decimal(0)
    active = [runner for runner in data.runners if not runner.is_scratched]
    shares: dict[str, tuple[Decimal, Decimal]] = {}
    if data.money_tracker is not None:
        shares = mf.summed_shares(
            ((e.entrant_id, e.hold_percentage, e.bet_percentage) for e in data.money_tracker.entrants),
            (runner.entrant_id for runner in active),
        )
    flows: dict[str, MoneyFlowRow] = {}
    if shares and win_dollars > 0:
        for runner in active:
            hold, bet = shares[runner.entrant_id]
            win = mf.pool_share_cents(win_dollars, hold)
            place = mf.pool_share_cents(place_dollars, hold)
            flows[runner.entrant_id] = MoneyFlowRow(
                entrant_id=runner.entrant_id,
                hold_percentage=mf.percentage(hold),
                bet_percentage=mf.percentage(bet),
                win_pool_amount=win,
                place_pool_amount=place,
                total_pool_amount=mf.pool_share_cents(win_dollars + place_dollars, hold),
                win_pool_percentage=mf.pool_percentage(win, win_dollars),
                place_pool_percentage=mf.pool_percentage(place, place_dollars),
                fixed_win_odds=runner.odds.fixed_win,
                fixed_place_odds=runner.odds.fixed_place,
                pool_win_odds=runner.odds.pool_win,
                pool_place_odds=runner.odds.pool_place,
            )
    odds = tuple(
        (runner.entrant_id, kind, value)
        for runner in active
        for kind in mf.ODDS_TYPES
        if (value := getattr(runner.odds, kind)) is not None
    )
    return Snapshot(
        meeting=_meeting_of_event(data, response.simulated),
        race=race,
        entrants=tuple(
            _entrant_row(r, race.race_id, shares.get(r.entrant_id), flows.get(r.entrant_id))
            for r in data.runners
        ),
        money_flow=tuple(flows.values()),
        odds=odds,
        pools=pools,
        result=_result(data, race.status),
        event_timestamp=event_timestamp,
        time_to_start=minutes,
        time_interval=mf.time_interval(minutes),
        interval_type=mf.interval_type(minutes),
        raw_status=data.race.status,
        simulated=response.simulated,
    )


class InvalidPayload(ValueError):
    """A race-event body that does not validate; the message names the offending field.

    A plain ValueError, so it survives the trip back from a worker process (the client's error,
    with its keyword-only fields, does not unpickle).
    """


def transform_payload(payload: bytes, race_id: str | None = None) -> Snapshot:
    """Validate a raw race-event body and transform it: the whole CPU job of a worker process."""
    try:
        response = decode_response(RaceEventResponse, payload, endpoint="events", race_id=race_id)
    except NzTabPayloadError as error:
        raise InvalidPayload(str(error)) from None
    return transform_event(response)
