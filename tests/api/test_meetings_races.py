"""Meetings and races: lists, by id, navigation, upcoming and next scheduled, in both parameter casings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from raceday.api.schemas.meetings import Meeting
from raceday.api.schemas.races import Navigation, Race, UpcomingRaces
from tests.api.seeding import EARLY_RACE, LATE_RACE, TIE_MEETING, TIE_RACE, TODAY_MEETING, Seeded
from tests.serving import Api

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _instant(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text)


async def test_meetings_of_a_day_in_name_order(api: Api, seeded: Seeded) -> None:
    response = await api.client.get("/api/meetings", params={"date": "2025-07-17"})
    assert response.status_code == 200
    meetings = [Meeting.model_validate(item) for item in response.json()]
    assert [m.meeting_name for m in meetings] == ["Awapuni Synthetic", "Tie Park"]
    awapuni = meetings[0]
    assert (awapuni.meeting_id, awapuni.race_type, awapuni.category) == (
        seeded.meeting_id,
        "thoroughbred",
        "T",
    )
    assert awapuni.weather == "Overcast"
    assert awapuni.data_source == "nztab"
    assert awapuni.created_at is not None
    _instant(awapuni.created_at)


@pytest.mark.parametrize("name", ["raceType", "race_type"])
async def test_meetings_filter_by_race_type_in_either_casing(api: Api, name: str) -> None:
    response = await api.client.get("/api/meetings", params={"date": "2025-07-17", name: "harness"})
    assert [m["meeting_id"] for m in response.json()] == [TIE_MEETING]


async def test_meetings_without_filters_are_ordered_by_date(api: Api, seeded: Seeded) -> None:
    dates = [m["date"] for m in (await api.client.get("/api/meetings")).json()]
    assert dates == sorted(dates)
    assert str(seeded.today) in dates


@pytest.mark.parametrize(
    ("params", "details"),
    [
        ({"date": "17-07-2025"}, "date:"),
        ({"date": "2025-02-30"}, "date:"),
        ({"raceType": "camel"}, "raceType:"),
    ],
)
async def test_meetings_reject_invalid_filters(api: Api, params: dict[str, str], details: str) -> None:
    response = await api.client.get("/api/meetings", params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Invalid query parameter"
    assert body["details"].startswith(details)


async def test_meeting_by_id_and_unknown_id(api: Api, seeded: Seeded) -> None:
    found = await api.client.get(f"/api/meetings/{seeded.meeting_id}")
    assert Meeting.model_validate(found.json()).meeting_name == "Awapuni Synthetic"
    missing = await api.client.get("/api/meetings/no-such-meeting")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Meeting not found", "details": "No meeting with id 'no-such-meeting'"}


@pytest.mark.parametrize("name", ["meetingId", "meeting_id"])
async def test_races_of_a_meeting_by_number(api: Api, name: str) -> None:
    response = await api.client.get("/api/races", params={name: TODAY_MEETING})
    races = [Race.model_validate(item) for item in response.json()]
    assert [r.race_number for r in races] == [1, 2, 3, 4, 5, 6]
    assert {r.meeting_name for r in races} == {"Today Raceway"}


async def test_races_errors(api: Api) -> None:
    missing = await api.client.get("/api/races")
    assert (missing.status_code, missing.json()["details"]) == (400, "meetingId is required")
    unknown = await api.client.get("/api/races", params={"meetingId": "nope"})
    assert unknown.status_code == 404
    empty = await api.client.get("/api/races", params={"meetingId": ""})
    assert empty.status_code == 400


async def test_race_by_id_has_the_clients_fields_in_cents_and_utc(api: Api, seeded: Seeded) -> None:
    response = await api.client.get(f"/api/races/{seeded.race_id}")
    race = Race.model_validate(response.json())
    assert race.name == "PRYDA HANDICAP 1700"
    assert _instant(race.start_time) == seeded.start == datetime(2025, 7, 17, 0, 50, tzinfo=UTC)
    assert race.actual_start == "2025-07-17T00:52:46.000Z"
    assert (race.status, race.distance, race.weather, race.type) == ("final", 1700, "Overcast", "T")
    assert race.total_prize_money == 1_700_000
    assert race.start_time_nz == "12:50:00 NZST"
    assert (await api.client.get("/api/races/unknown-race")).status_code == 404


async def test_navigation_orders_ties_by_race_id(api: Api, seeded: Seeded) -> None:
    response = await api.client.get("/api/races/navigation", params={"raceId": seeded.race_id})
    navigation = Navigation.model_validate(response.json()).model_dump()
    assert navigation["previousRace"]["race_id"] == EARLY_RACE
    assert navigation["nextRace"]["race_id"] == TIE_RACE
    assert navigation["nextRace"]["start_time"] == "2025-07-17T00:50:00.000Z"
    assert navigation["nextScheduledRace"]["race_id"] == seeded.upcoming["soon"]
    tie = (await api.client.get("/api/races/navigation", params={"race_id": TIE_RACE})).json()
    assert tie["previousRace"]["race_id"] == seeded.race_id
    assert tie["nextRace"]["race_id"] == LATE_RACE
    assert tie["previousRace"]["meeting_name"] == "Awapuni Synthetic"


async def test_navigation_errors(api: Api) -> None:
    assert (await api.client.get("/api/races/navigation")).json() == {
        "error": "Invalid query parameter",
        "details": "raceId is required",
    }
    assert (await api.client.get("/api/races/navigation", params={"raceId": "x"})).status_code == 404


async def test_upcoming_races_in_the_default_window(api: Api, seeded: Seeded) -> None:
    before = datetime.now(UTC)
    body = UpcomingRaces.model_validate((await api.client.get("/api/races/upcoming")).json())
    ids = [race.race_id for race in body.races]
    assert ids == [seeded.upcoming[key] for key in ("closed", "soon", "later")]
    assert body.total == 3
    assert (body.window.window_minutes, body.window.lookback_minutes) == (120, 5)
    upper, lower = _instant(body.window.upper_bound), _instant(body.window.lower_bound)
    assert upper - lower == timedelta(minutes=125)
    assert abs(_instant(body.timestamp) - before) < timedelta(seconds=5)


async def test_upcoming_races_clamp_out_of_range_values(api: Api, seeded: Seeded) -> None:
    params = {"window_minutes": "100000", "lookbackMinutes": "-4", "limit": "0"}
    body = (await api.client.get("/api/races/upcoming", params=params)).json()
    assert (body["window"]["window_minutes"], body["window"]["lookback_minutes"]) == (480, 0)
    assert [race["race_id"] for race in body["races"]] == [seeded.upcoming["soon"]]
    wide = (await api.client.get("/api/races/upcoming", params={"windowMinutes": 480})).json()
    assert seeded.upcoming["evening"] in [race["race_id"] for race in wide["races"]]
    bad = await api.client.get("/api/races/upcoming", params={"limit": "ten"})
    assert bad.status_code == 400
    assert bad.json()["details"].startswith("limit: Input should be a valid integer")


async def test_next_scheduled_race_skips_settled_and_abandoned(api: Api, seeded: Seeded) -> None:
    race = Race.model_validate((await api.client.get("/api/races/next-scheduled")).json())
    assert race.race_id == seeded.upcoming["soon"]
    assert race.status == "open"
