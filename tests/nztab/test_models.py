"""The response models against the real NZ TAB samples, and what a bad payload turns into."""

from __future__ import annotations

import copy
import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from raceday.nztab.decode import NzTabPayloadError, decode_response
from raceday.nztab.models import (
    Envelope,
    MeetingResponse,
    MeetingsResponse,
    Race,
    RaceEventResponse,
    RacesListResponse,
    RaceStatus,
    Runner,
    parse_race_status,
)
from tests.samples import NZTAB_DIR, load_sample, sample_path

EVENT = "race-event-full-response.json"
MEETINGS = "meetings-list-response.json"
MEETING = "meeting-detail-response.json"
RACES_LIST = "races-list-response.json"
EXTRAS = "meeting-extras-response.json"

# Each real sample and the model that reads it. Extras is not an endpoint raceday uses, so only its
# envelope is typed.
SAMPLE_MODELS: dict[str, type[BaseModel]] = {
    EVENT: RaceEventResponse,
    MEETINGS: MeetingsResponse,
    MEETING: MeetingResponse,
    RACES_LIST: RacesListResponse,
    EXTRAS: Envelope[dict[str, Any]],
}

RUJI_ID = "7346bd2c-c03d-41c3-bcb9-2b085c4e72cd"


def _parse(name: str, model: type[BaseModel]) -> Any:
    return model.model_validate_json(sample_path(name).read_bytes())


@pytest.fixture(scope="module")
def event() -> Any:
    return _parse(EVENT, RaceEventResponse)


@pytest.fixture(scope="module")
def meetings() -> Any:
    return _parse(MEETINGS, MeetingsResponse)


def test_every_real_sample_has_a_model() -> None:
    samples = {path.name for path in NZTAB_DIR.glob("*.json")}
    assert samples == set(SAMPLE_MODELS)


@pytest.mark.parametrize(("name", "model"), SAMPLE_MODELS.items(), ids=list(SAMPLE_MODELS))
def test_real_sample_parses(name: str, model: type[BaseModel]) -> None:
    parsed = _parse(name, model)
    raw = load_sample(name)
    header = parsed.header
    assert header.title == raw["header"]["title"]
    assert header.url == raw["header"]["url"]
    # Go's nanoseconds are cut to microseconds and the instant is UTC.
    assert header.generated_time.utcoffset().total_seconds() == 0
    assert header.generated_time.isoformat()[:26] == raw["header"]["generated_time"][:26]
    assert parsed.simulated is False


def test_event_header_generated_time_keeps_microseconds(event: Any) -> None:
    # Raw value: 2025-07-17T11:16:59.18904298Z (eight fractional digits).
    assert event.generated_time == datetime(2025, 7, 17, 11, 16, 59, 189042, tzinfo=UTC)


def test_event_race_fields(event: Any) -> None:
    race = event.data.race
    assert race.event_id == "0f57e087-00d9-4c61-9549-835abe2ae2ed"
    assert race.meeting_id == "e9f2039d-d489-4a7d-aae1-d66225f1a5f4"
    assert race.meeting_name == "Awapuni Synthetic"
    assert race.description == "PRYDA HANDICAP 1700"
    assert race.race_number == 1
    assert race.status == "Final"
    assert race.race_status is RaceStatus.FINAL
    assert race.advertised_start == 1752713400
    assert race.actual_start == 1752713566
    assert race.start_utc == datetime(2025, 7, 17, 0, 50, tzinfo=UTC)
    assert race.actual_start_utc == datetime(2025, 7, 17, 0, 52, 46, tzinfo=UTC)
    assert race.race_date_nz == date(2025, 7, 17)
    assert race.start_time_nz == "12:50:00 NZST"
    assert (race.type, race.country, race.state) == ("T", "NZ", "NZ")
    assert race.distance == 1700
    assert (race.track_condition, race.track_surface, race.track_direction) == (
        "Synthetic",
        "Synthetic",
        "Left",
    )
    assert (race.entrant_count, race.field_size, race.positions_paid) == (8, 8, 3)
    assert race.video_channels == ("Trackside1",)
    assert race.prize_monies is not None
    assert race.prize_monies["1st"] == 9520
    assert race.prize_monies["total_value"] == 17000


def test_start_falls_back_to_nz_local_date_and_time() -> None:
    raw = load_sample(EVENT)["data"]["race"]
    del raw["advertised_start"]
    race = Race.model_validate(raw)
    # 12:50:00 NZST on 2025-07-17 is 00:50 UTC, the same instant as advertised_start.
    assert race.start_utc == datetime(2025, 7, 17, 0, 50, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start_time_nz", "expected_utc"),
    [
        # Daylight saving ended 2025-04-06 03:00 NZDT: 02:30 happened twice.
        ("02:30:00 NZDT", datetime(2025, 4, 5, 13, 30, tzinfo=UTC)),
        ("02:30:00 NZST", datetime(2025, 4, 5, 14, 30, tzinfo=UTC)),
        ("19:05:00 NZST", datetime(2025, 4, 6, 7, 5, tzinfo=UTC)),
    ],
)
def test_start_fallback_uses_the_zone_abbreviation(start_time_nz: str, expected_utc: datetime) -> None:
    race = Race.model_validate(
        {
            "event_id": "e",
            "meeting_id": "m",
            "status": "Open",
            "description": "d",
            "race_number": 1,
            "race_date_nz": "2025-04-06",
            "start_time_nz": start_time_nz,
        }
    )
    assert race.start_utc == expected_utc


def test_race_without_any_start_is_rejected() -> None:
    raw = load_sample(EVENT)["data"]["race"]
    del raw["advertised_start"], raw["start_time_nz"]
    with pytest.raises(ValidationError, match="no start time"):
        Race.model_validate(raw)


def test_event_runner_four_ruji(event: Any) -> None:
    ruji = next(runner for runner in event.data.runners if runner.runner_number == 4)
    assert ruji.name == "Ruji"
    assert ruji.entrant_id == RUJI_ID
    assert ruji.barrier == 1
    assert ruji.barrier_number == 1
    assert ruji.jockey == "Liam Kauri"
    assert ruji.trainer_name == "Suzy Gordon"
    assert ruji.silk_colours == "White, emerald green shamrock (b&f) & white cap"
    assert ruji.silk_url_64x64 is not None
    assert ruji.silk_url_64x64.endswith("/ruji_64x64.png")
    assert ruji.silk_url_128x128 is not None
    assert ruji.silk_url_128x128.endswith("/ruji_128x128.png")
    assert ruji.is_scratched is False
    assert ruji.is_late_scratched is False
    assert ruji.scratch_time == 0
    assert ruji.scratched_at is None
    assert ruji.favourite is True
    assert ruji.mover is False
    assert ruji.odds.fixed_win == Decimal("4.2")
    assert ruji.odds.fixed_place == Decimal("1.65")
    assert ruji.odds.pool_win == Decimal("4.8")
    assert ruji.odds.pool_place == Decimal("1.9")
    assert ruji.runner_change == {"01/06/2024": "Gelding", "04/07/2025": "Stable Change - Clinton Isdale"}


def test_event_runners(event: Any) -> None:
    runners = event.data.runners
    assert [runner.runner_number for runner in runners] == list(range(1, 9))
    assert [runner.name for runner in runners if runner.mover] == ["Tickford"]
    assert [runner.name for runner in runners if runner.favourite] == ["Ruji"]
    assert all(isinstance(runner.barrier, int) for runner in runners)
    assert sorted(runner.barrier_number for runner in runners) == list(range(1, 9))


def test_event_money_tracker(event: Any) -> None:
    tracker = event.data.money_tracker
    assert tracker is not None
    assert len(tracker.entrants) == 76
    hold: defaultdict[str, Decimal] = defaultdict(Decimal)
    bet: defaultdict[str, Decimal] = defaultdict(Decimal)
    for entry in tracker.entrants:
        hold[entry.entrant_id] += entry.hold_percentage
        bet[entry.entrant_id] += entry.bet_percentage
    # The entries are slices: summed they make 101 %, and Ruji holds 16 % with 17 % of bets.
    assert sum(hold.values()) == 101
    assert sum(bet.values()) == 101
    assert (hold[RUJI_ID], bet[RUJI_ID]) == (Decimal(16), Decimal(17))
    runner_ids = {runner.entrant_id for runner in event.data.runners}
    assert len(set(hold) - runner_ids) == 3
    # The runners hold 18 + 13 + 5 + 16 + 16 + 19 + 4 + 2 = 93 %; the 3 other ids the remaining 8 %.
    assert sum(held for entrant_id, held in hold.items() if entrant_id in runner_ids) == 93
    assert sum(held for entrant_id, held in hold.items() if entrant_id not in runner_ids) == 8


def test_event_tote_pools(event: Any) -> None:
    data = event.data
    assert [pool.product_type for pool in data.tote_pools] == [
        "Trifecta",
        "Place",
        "FirstFour",
        "Quinella",
        "Win",
        "EarlyQuadrella",
    ]
    win, place = data.tote_pool("win"), data.tote_pool("PLACE")
    assert win is not None
    assert place is not None
    assert win.total == Decimal("9151.38")
    assert place.total == Decimal("3923.51")
    assert (win.status, win.is_final) == ("CLOSED", True)
    assert win.tote_trends is None
    quaddie = data.tote_pool("EarlyQuadrella")
    assert quaddie is not None
    assert quaddie.is_final is False  # the field is absent on this pool
    assert quaddie.jackpot == Decimal("6826.35")
    trifecta = data.tote_pool("Trifecta")
    assert trifecta is not None
    assert trifecta.tote_trends is not None
    assert trifecta.tote_trends.pool_total == Decimal("8388.2")  # a string in the payload
    assert trifecta.tote_trends.tote_trends_data is not None
    assert trifecta.tote_trends.tote_trends_data.startswith("<meetings>")
    assert data.tote_pool("Exacta") is None


def test_event_results(event: Any) -> None:
    results = event.data.results
    assert [(r.position, r.runner_number, r.name) for r in results[:3]] == [
        (1, 2, "Frosbie"),
        (2, 4, "Ruji"),
        (3, 7, "Ballinran"),
    ]
    winner, second = results[0], results[1]
    assert winner.entrant_id == "a8cc87d4-5a53-47b2-bb26-58d555aac7c0"
    assert (winner.winning_time, winner.time_ran, winner.margin_length) == (
        Decimal("106.73"),
        Decimal("106.73"),
        0,
    )
    assert winner.positional_margin is None
    assert (second.margin_length, second.positional_margin, second.winning_time) == (
        Decimal("0.4"),
        "LG NK",
        None,
    )


def test_event_dividends(event: Any) -> None:
    dividends = event.data.dividends
    assert len(dividends) == 14
    assert Counter(d.status for d in dividends) == {"Interim": 7, "Final": 7}
    win_final = next(d for d in dividends if d.product_name == "Pool Win" and d.status == "Final")
    assert win_final.dividend == Decimal("6.6")
    assert win_final.pool_size == Decimal("9151.38")
    assert [(p.runner_number, p.position) for p in win_final.positions] == [(2, 1)]
    # A place dividend is declared per placed runner, not once per product.
    place_final = sorted(
        (d.description, d.dividend)
        for d in dividends
        if d.product_name == "Pool Place" and d.status == "Final"
    )
    assert place_final == [("2", Decimal("1.7")), ("4", Decimal("1.9")), ("7", Decimal("3.7"))]


def test_meetings_list(meetings: Any) -> None:
    listed = meetings.data.meetings
    # The fixture keeps 9 of the capture's 76 meetings, in their order: Parx Racing (9 races), Youghal (12),
    # Winton (10), Cambridge (G) (12), Awapuni Synthetic (7), Grafton (8), Penrith (9), Angle Park (12),
    # Chepstow (7): 9 + 12 + 10 + 12 + 7 + 8 + 9 + 12 + 7 = 86 races.
    assert [meeting.name for meeting in listed] == [
        "Parx Racing",
        "Youghal",
        "Winton",
        "Cambridge (G)",
        "Awapuni Synthetic",
        "Grafton",
        "Penrith",
        "Angle Park",
        "Chepstow",
    ]
    assert [len(meeting.races) for meeting in listed] == [9, 12, 10, 12, 7, 8, 9, 12, 7]
    assert sum(len(meeting.races) for meeting in listed) == 86
    # T: Parx Racing, Awapuni Synthetic, Grafton, Chepstow; G: Youghal, Cambridge (G), Angle Park;
    # H: Winton, Penrith.
    assert Counter(meeting.category for meeting in listed) == {"T": 4, "G": 3, "H": 2}
    awapuni = next(m for m in listed if m.meeting_id == "e9f2039d-d489-4a7d-aae1-d66225f1a5f4")
    assert (awapuni.name, awapuni.category, awapuni.category_name) == (
        "Awapuni Synthetic",
        "T",
        "Thoroughbred Horse Racing",
    )
    assert (awapuni.country, awapuni.state, awapuni.track_condition) == ("NZ", "NZ", "Synthetic")
    assert awapuni.date == datetime(2025, 7, 17, tzinfo=UTC)
    assert awapuni.racing_date == date(2025, 7, 17)
    assert awapuni.tote_raceday_date == date(2025, 7, 17)
    first = awapuni.races[0]
    assert (first.id, first.race_number, first.name) == (
        "0f57e087-00d9-4c61-9549-835abe2ae2ed",
        1,
        "PRYDA HANDICAP 1700",
    )
    assert first.start_time == datetime(2025, 7, 17, 0, 50, tzinfo=UTC)
    assert first.tote_start_time == "12:50:00"
    assert (first.status, first.race_status) == ("Final", RaceStatus.FINAL)


def test_meetings_list_optional_fields(meetings: Any) -> None:
    listed = meetings.data.meetings
    races = [race for meeting in listed for race in meeting.races]
    # Parx Racing and Youghal come without the tote fields; their 9 + 12 = 21 races have no tote start.
    assert [m.name for m in listed if m.tote_status is None] == ["Parx Racing", "Youghal"]
    assert [m.name for m in listed if m.tote_meeting_number is None] == ["Parx Racing", "Youghal"]
    assert sum(race.tote_start_time is None for race in races) == 21
    protested = [race for race in races if race.protest]
    # One protest at Parx Racing (R6, 6F Stakes) and one at Winton (R1).
    assert [race.name for race in protested] == ["6F Stakes", "REGENT CAR COURT HANDICAP TROT"]
    assert all(race.protest_reason for race in protested)
    # Final: Parx 9 + Winton 10 + Cambridge (G) 12 + Awapuni 7 + Grafton 8 + Penrith 6 + Angle Park 5 = 57;
    # Open: Penrith 2 + Angle Park 6 + Chepstow 7 = 15; Abandoned: Youghal's 12; Closed: one at Penrith;
    # Interim: one at Angle Park. 57 + 15 + 12 + 1 + 1 = 86.
    assert Counter(race.race_status for race in races) == {
        RaceStatus.FINAL: 57,
        RaceStatus.OPEN: 15,
        RaceStatus.ABANDONED: 12,
        RaceStatus.INTERIM: 1,
        RaceStatus.CLOSED: 1,
    }
    # Angle Park R10-R12 (12:08, 12:29, 12:51 UTC) and all 7 of Chepstow's (13:10 UTC on) start after
    # midnight NZST (12:00 UTC): on the next NZ day, 2025-07-18.
    midnight = datetime(2025, 7, 17, 12, tzinfo=UTC)
    after_midnight = [
        (meeting.name, race.race_number)
        for meeting in listed
        for race in meeting.races
        if race.start_time > midnight
    ]
    assert after_midnight == [("Angle Park", 10), ("Angle Park", 11), ("Angle Park", 12)] + [
        ("Chepstow", number) for number in range(1, 8)
    ]


def test_meeting_detail() -> None:
    parsed = _parse(MEETING, MeetingResponse)
    meeting = parsed.data.meeting
    assert meeting.meeting_id == "d3f82a25-7acb-4a07-a942-e5fb36a1e426"
    assert (meeting.name, meeting.country, meeting.state, meeting.category) == ("Grafton", "AUS", "NSW", "T")
    assert (meeting.tote_status, meeting.meeting_date, meeting.club_mnemonic) == (
        "Open",
        "2025-07-17",
        "NSWC",
    )
    assert meeting.video_channels == ("Trackside1", "Trackside2")
    assert [race.race_number for race in meeting.races] == list(range(1, 9))
    assert meeting.races[6].name == "Westlawn Finance Grafton Cup (L)"


def test_meeting_detail_needs_exactly_one_meeting() -> None:
    raw = load_sample(MEETING)
    raw["data"]["meetings"] = []
    with pytest.raises(NzTabPayloadError) as caught:
        decode_response(MeetingResponse, json.dumps(raw), endpoint="meeting")
    assert caught.value.path == "data.meetings"


def test_races_list() -> None:
    parsed = _parse(RACES_LIST, RacesListResponse)
    races = parsed.data.races
    # The fixture keeps the capture's first 23 races (through PRYDA HANDICAP 1700) and its 100th.
    assert len(races) == 24
    assert races[22].name == "PRYDA HANDICAP 1700"
    assert parsed.data.next_page_token.startswith("eyJwYWdlX251bWJlciI6Mi")
    first = races[0]
    assert (first.id, first.name, first.number) == (
        "ad4131bd-d118-4e11-82a8-d431a2d883b2",
        "GREYHOUNDS NORTH DISTANCE",
        1,
    )
    assert first.meeting_id == "0274bcea-2819-4855-a51e-b77074dc6af0"
    # Unlike the event, the list gives its starts as ISO strings.
    assert first.advertised_start == datetime(2025, 7, 17, tzinfo=UTC)
    assert first.actual_start == datetime(2025, 7, 17, 0, 0, 22, tzinfo=UTC)
    assert [race.name for race in races if race.number is None] == ["Cambridge (G)"]
    # No silk_url on the 1st, 7th, 9th, 12th, 18th, 19th and 20th races, nor on the last (Cambridge (G)).
    assert [i for i, race in enumerate(races) if race.silk_url is None] == [0, 6, 8, 11, 17, 18, 19, 23]


@pytest.mark.parametrize(
    ("barrier", "barrier_position", "expected"),
    [(7, None, 7), ("Fr1", None, 1), ("Sr12", None, 12), ("5", None, 5), (None, "Fr2", 2), ("", None, None)],
)
def test_barrier_is_kept_as_given_with_a_parsed_number(
    barrier: int | str | None, barrier_position: str | None, expected: int | None
) -> None:
    runner = Runner.model_validate(
        {
            "entrant_id": "x",
            "runner_number": 1,
            "name": "Horse",
            "barrier": barrier,
            "barrier_position": barrier_position,
        }
    )
    assert runner.barrier == barrier
    assert runner.barrier_number == expected


def test_barrier_rejects_other_types() -> None:
    with pytest.raises(ValidationError) as caught:
        Runner.model_validate({"entrant_id": "x", "runner_number": 1, "name": "H", "barrier": [1]})
    assert caught.value.errors()[0]["loc"] == ("barrier",)


def test_nulled_lists_read_as_empty() -> None:
    raw = load_sample(EVENT)
    for key in ("results", "dividends", "tote_pools"):
        raw["data"][key] = None
    raw["data"]["money_tracker"] = None
    for parsed in (
        RaceEventResponse.model_validate(raw),
        RaceEventResponse.model_validate_json(json.dumps(raw)),
    ):
        assert (parsed.data.results, parsed.data.dividends, parsed.data.tote_pools) == ((), (), ())
        assert parsed.data.money_tracker is None


def test_header_simulated_flag() -> None:
    raw = load_sample(EVENT)
    raw["header"]["simulated"] = True
    assert RaceEventResponse.model_validate(raw).simulated is True


def test_models_are_frozen(event: Any) -> None:
    with pytest.raises(ValidationError, match="frozen"):
        event.data.race.status = "Open"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Final", RaceStatus.FINAL),
        (" open ", RaceStatus.OPEN),
        ("Abandoned", RaceStatus.ABANDONED),
        ("Running", None),
    ],
)
def test_parse_race_status(raw: str, expected: RaceStatus | None) -> None:
    assert parse_race_status(raw) is expected


def test_terminal_statuses() -> None:
    assert {status for status in RaceStatus if status.is_terminal} == {RaceStatus.FINAL, RaceStatus.ABANDONED}


# --- bad payloads ------------------------------------------------------------------------------


def _event_with(change: Any) -> str:
    raw = copy.deepcopy(load_sample(EVENT))
    change(raw)
    return json.dumps(raw)


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        (lambda raw: raw["data"]["race"].pop("status"), "data.race.status", "field required"),
        (lambda raw: raw.pop("header"), "header", "field required"),
        (
            lambda raw: raw["data"]["runners"][3].update(runner_number="four"),
            "data.runners[3].runner_number",
            "input should be a valid integer",
        ),
        (
            lambda raw: raw["data"]["tote_pools"][4].update(total="lots"),
            "data.tote_pools[4].total",
            "input should be a valid decimal",
        ),
        (
            lambda raw: raw["header"].update(generated_time="2025-07-17T11:16:59"),
            "header.generated_time",
            "input should have timezone info",
        ),
        (
            lambda raw: raw["data"]["money_tracker"]["entrants"][10].pop("entrant_id"),
            "data.money_tracker.entrants[10].entrant_id",
            "field required",
        ),
        (
            lambda raw: raw["data"]["race"].update(advertised_start=0, start_time_nz=None),
            "data.race",
            "no start time",
        ),
    ],
    ids=["missing", "missing-header", "wrong-type", "bad-money", "naive-time", "nested-list", "no-start"],
)
def test_invalid_payload_names_the_field(change: Any, path: str, reason: str) -> None:
    body = _event_with(change)
    with pytest.raises(NzTabPayloadError) as caught:
        decode_response(RaceEventResponse, body, endpoint="events", race_id="r1")
    error = caught.value
    assert error.path == path
    assert str(error).startswith(f"{path}: {reason}")
    assert (error.endpoint, error.race_id) == ("events", "r1")


def test_invalid_payload_counts_further_errors() -> None:
    def break_two(raw: dict[str, Any]) -> None:
        del raw["data"]["race"]["status"]
        del raw["data"]["race"]["event_id"]

    with pytest.raises(NzTabPayloadError, match=r"\(and 1 more\)$"):
        decode_response(RaceEventResponse, _event_with(break_two), endpoint="events")


@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", b"", b'{"header": {"title": '])
def test_body_that_is_not_json(body: bytes) -> None:
    with pytest.raises(NzTabPayloadError, match=r"^body: not valid JSON") as caught:
        decode_response(RaceEventResponse, body, endpoint="events")
    assert caught.value.path == "body"


def test_json_that_is_not_an_object() -> None:
    with pytest.raises(NzTabPayloadError, match=r"^body: input should be") as caught:
        decode_response(MeetingsResponse, b"[]", endpoint="meetings")
    assert caught.value.path == "body"
