"""One race-event response → the rows one poll writes; a meetings listing → meeting rows.

Pure: runs unchanged in a worker process. Increments and odds filtering need the previous stored
rows, so the writer finishes them inside its transaction with the pure helpers of `money_flow`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from raceday.core.nztime import nz_day
from raceday.domain import money_flow as mf
from raceday.domain.checks import (
    MONEY,
    POOLS,
    RUNNERS,
    Rejection,
    dollars_check,
    first_failure,
    integer_check,
    odds_check,
    percentage_check,
    summed_share_check,
)
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
    race_ids: tuple[str, ...] | None = None,
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
        race_ids=race_ids,
    )


def meeting_from_listing(meeting: Meeting, simulated: bool) -> MeetingRow:
    """A meeting of the meetings list with its races' ids; the writer settles its status from them."""
    return _meeting_row(
        meeting.meeting,
        meeting.name,
        meeting.country,
        meeting.category,
        meeting.racing_date,
        status="active",
        simulated=simulated,
        race_ids=tuple(race.id for race in meeting.races),
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
    """The race's meeting as the event describes it: inserted only if discovery has not."""
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
    """Placings, dividends and each runner's closing fixed odds, with every number a JSON number.

    The web client calls `.toFixed` on dividends (domain §7.4): a numeric string would break it. Fixed
    odds carry the client's names (`fixed_win_odds`) and the legacy ones (`fixed_win`) its results
    panel still reads.
    """
    if status not in (RaceStatus.INTERIM, RaceStatus.FINAL) or not (data.results or data.dividends):
        return None
    dividend_statuses = {d.status.casefold() for d in data.dividends}
    runners = {runner.runner_number: runner for runner in data.runners}
    return ResultRow(
        race_id=data.race.event_id,
        result_status="final" if status == RaceStatus.FINAL else "interim",
        results_data=[_json_numbers(r.model_dump()) for r in data.results],
        dividends_data=[_json_numbers(d.model_dump()) for d in data.dividends],
        fixed_odds_data={
            str(number): {
                "fixed_win_odds": _json_number(r.odds.fixed_win),
                "fixed_place_odds": _json_number(r.odds.fixed_place),
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


def _json_number(value: Decimal | None) -> int | float | None:
    """A number as NZ TAB wrote it: `0` stays an integer, `3.7` a float (Decimal would dump as "3.7")."""
    if value is None:
        return None
    exponent = value.as_tuple().exponent  # a letter for NaN and infinities
    if isinstance(exponent, int) and exponent >= 0:
        return int(value)
    return float(value)


def _json_numbers(value: Any) -> Any:
    """A dumped model with its Decimals as JSON numbers and its tuples as lists."""
    if isinstance(value, Decimal):
        return _json_number(value)
    if isinstance(value, dict):
        return {key: _json_numbers(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_numbers(item) for item in value]
    return value


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


def _runners_rejection(data: RaceEventData) -> Rejection | None:
    if not data.runners:
        return Rejection(RUNNERS, "data.runners", "[]", "no runners in the poll")
    checks = (
        check
        for index, runner in enumerate(data.runners)
        for check in (
            integer_check(f"data.runners[{index}].runner_number", runner.runner_number),
            integer_check(f"data.runners[{index}].barrier", runner.barrier_number),
            *(
                odds_check(f"data.runners[{index}].odds.{kind}", getattr(runner.odds, kind))
                for kind in mf.ODDS_TYPES
            ),
        )
    )
    return first_failure(checks, RUNNERS)


def _pools_part(data: RaceEventData) -> tuple[PoolRow | None, Rejection | None]:
    """The pools, or None: missing, over their columns, or all empty (nothing bet yet: not an error)."""
    if not data.tote_pools:
        return None, Rejection(POOLS, "data.tote_pools", "[]", "no pools in the poll")
    totals = (
        dollars_check(f"data.tote_pools[{i}].total", pool.total) for i, pool in enumerate(data.tote_pools)
    )
    failure = first_failure(totals, POOLS)
    if failure is not None:
        return None, failure
    pools = _pools(data)
    if pools is None or pools.total <= 0:
        return None, None
    failure = first_failure([dollars_check("data.tote_pools[*].total (sum)", pools.total)], POOLS)
    return (None, failure) if failure else (pools, None)


def _shares(
    data: RaceEventData, active: list[Runner], pools: PoolRow | None
) -> tuple[dict[str, tuple[Decimal, Decimal]], Rejection | None]:
    """Each active runner's summed hold and bet %, or why the money part of this poll is rejected."""
    tracker = data.money_tracker
    if tracker is None or not tracker.entrants:
        missing = Rejection(
            MONEY, "data.money_tracker", "missing" if tracker is None else "[]", "no money tracker"
        )
        return {}, missing if pools is not None else None
    slices = (
        check
        for index, entry in enumerate(tracker.entrants)
        for check in (
            percentage_check(f"data.money_tracker.entrants[{index}].hold_percentage", entry.hold_percentage),
            percentage_check(f"data.money_tracker.entrants[{index}].bet_percentage", entry.bet_percentage),
        )
    )
    failure = first_failure(slices, MONEY)
    if failure is not None:
        return {}, failure
    runner_ids = {runner.entrant_id for runner in active}
    if not any(entry.entrant_id in runner_ids for entry in tracker.entrants):
        ids = ",".join(sorted({entry.entrant_id for entry in tracker.entrants})[:3])
        return {}, Rejection(MONEY, "data.money_tracker.entrants[*].entrant_id", ids, "no id is a runner")
    shares = mf.summed_shares(
        ((e.entrant_id, e.hold_percentage, e.bet_percentage) for e in tracker.entrants), runner_ids
    )
    totals = [
        summed_share_check(
            "data.money_tracker.entrants[*].hold_percentage (sum)", {k: v[0] for k, v in shares.items()}
        ),
        summed_share_check(
            "data.money_tracker.entrants[*].bet_percentage (sum)", {k: v[1] for k, v in shares.items()}
        ),
    ]
    failure = first_failure(totals, MONEY)
    if failure is not None:
        return {}, failure
    if pools is None or pools.win <= 0:
        return {}, None
    return shares, None


def _money_flow(runner: Runner, share: tuple[Decimal, Decimal], pools: PoolRow) -> MoneyFlowRow:
    hold, bet = share
    win = mf.pool_share_cents(pools.win, hold)
    place = mf.pool_share_cents(pools.place, hold)
    return MoneyFlowRow(
        entrant_id=runner.entrant_id,
        hold_percentage=mf.percentage(hold),
        bet_percentage=mf.percentage(bet),
        win_pool_amount=win,
        place_pool_amount=place,
        total_pool_amount=mf.pool_share_cents(pools.win + pools.place, hold),
        win_pool_percentage=mf.pool_percentage(win, pools.win),
        place_pool_percentage=mf.pool_percentage(place, pools.place),
        fixed_win_odds=runner.odds.fixed_win,
        fixed_place_odds=runner.odds.fixed_place,
        pool_win_odds=runner.odds.pool_win,
        pool_place_odds=runner.odds.pool_place,
    )


def _race_rejection(race: RaceRow) -> Rejection | None:
    checks = [
        integer_check("data.race.race_number", race.race_number),
        integer_check("data.race.distance", race.distance),
    ]
    if race.total_prize_money is not None:
        checks.append(dollars_check("data.race.prize_monies.total_value", race.total_prize_money))
    return first_failure(checks, "race")


def transform_event(response: RaceEventResponse) -> Snapshot:
    """The rows of one poll, part by part. Money flow needs the runners, a money tracker and a win
    pool; scratched runners get none (they are out of the betting).

    The race part carries every other part, so a race that fails its checks fails the whole poll
    (InvalidPayload); any other part is dropped alone and named in `rejections`.
    """
    data = response.data
    event_timestamp = response.generated_time
    race = _race_row(data)
    race_rejected = _race_rejection(race)
    if race_rejected is not None:
        raise InvalidPayload(str(race_rejected))
    minutes = mf.time_to_start(race.start_time, event_timestamp)
    runners_rejected = _runners_rejection(data)
    pools, pools_rejected = _pools_part(data)
    active = [runner for runner in data.runners if not runner.is_scratched]
    shares: dict[str, tuple[Decimal, Decimal]] = {}
    money_rejected = None
    if runners_rejected is None:
        shares, money_rejected = _shares(data, active, pools)
    flows = {r.entrant_id: _money_flow(r, shares[r.entrant_id], pools) for r in active if shares and pools}
    odds = tuple(
        (runner.entrant_id, kind, value)
        for runner in active
        for kind in mf.ODDS_TYPES
        if runners_rejected is None and (value := getattr(runner.odds, kind)) is not None
    )
    rejections = tuple(r for r in (runners_rejected, money_rejected, pools_rejected) if r is not None)
    return Snapshot(
        meeting=_meeting_of_event(data, response.simulated),
        race=race,
        entrants=tuple(
            _entrant_row(r, race.race_id, shares.get(r.entrant_id), flows.get(r.entrant_id))
            for r in data.runners
        )
        if runners_rejected is None
        else (),
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
        has_runners=runners_rejected is None,
        has_money=bool(flows),
        rejections=rejections,
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
