"""The simulator's bodies have the real responses' shapes: same keys and value kinds as the real
samples, and they validate against raceday's response models."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from raceday.nztab.models import (
    MeetingResponse,
    MeetingsResponse,
    RaceEventResponse,
    RacesListResponse,
)
from raceday.simulator import DayConfig, ManualClock, SimRace, Simulator, serve_simulator
from tests.samples import load_sample

ANCHOR = datetime(2025, 7, 17, 1, 0, tzinfo=UTC)
API = "/affiliates/v1/racing"
# The flags the real event sample was captured with.
SAMPLE_FLAGS = {"with_money_tracker": "true", "with_tote_trends_data": "true", "with_will_pays": "true"}


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    meetings = DayConfig.parse("NZ:T=2,NZ:H=1,AUS:T=2,AUS:G=1,UK:G=1,USA:T=1")
    async with serve_simulator(seed=4, clock=ManualClock(ANCHOR), meetings=meetings) as simulator:
        yield simulator


@pytest.fixture
async def http(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url) as client:
        yield client


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else type(value).__name__


def _assert_like(real: dict[str, Any], ours: dict[str, Any], where: str, extra: Iterable[str] = ()) -> None:
    """Same keys (plus `extra`), and the same JSON kind wherever both have a non-null value."""
    assert set(ours) == set(real) | set(extra), where
    for key in set(real) & set(ours):
        kinds = {_kind(real[key]), _kind(ours[key])}
        assert len(kinds) == 1 or "null" in kinds, f"{where}.{key}: {kinds}"


def _assert_within(samples: list[dict[str, Any]], ours: dict[str, Any], where: str) -> None:
    """Our keys are ones the real feed uses, including every key all real items have."""
    seen = set().union(*samples)
    always = set.intersection(*(set(sample) for sample in samples))
    assert always <= set(ours) <= seen, f"{where}: missing {always - set(ours)}, extra {set(ours) - seen}"


def _final_race(sim: Simulator) -> SimRace:
    """An NZ gallop with the sample event's pools (Win … FirstFour, EarlyQuadrella)."""
    return next(
        race
        for race in sim.day.races
        if race.country == "NZ"
        and race.category == "T"
        and race.abandon_at is None
        and race.quaddie_first_leg == "EarlyQuadrella"
        and "FirstFour" in race.pool_sizes
    )


async def test_event_matches_the_real_sample(sim: Simulator, http: httpx.AsyncClient) -> None:
    real = load_sample("race-event-full-response.json")
    race = _final_race(sim)
    assert isinstance(sim.clock, ManualClock)
    sim.clock.set(race.final_at + timedelta(minutes=1))
    ours = (await http.get(f"{API}/events/{race.race_id}", params=SAMPLE_FLAGS)).json()

    _assert_like(real, ours, "body")
    _assert_like(real["header"], ours["header"], "header", extra={"simulated"})
    _assert_like(real["params"], ours["params"], "params")
    data, real_data = ours["data"], real["data"]
    _assert_like(real_data, data, "data")
    _assert_like(real_data["race"], data["race"], "race")
    for runner in data["runners"]:
        _assert_like(real_data["runners"][0], runner, "runner")
    _assert_like(real_data["favourite"], data["favourite"], "favourite")
    _assert_like(real_data["mover"], data["mover"], "mover")
    _assert_like(real_data["results"][0], data["results"][0], "winner")
    for result in data["results"][1:]:
        _assert_like(real_data["results"][1], result, "placing")
    for dividend in data["dividends"]:
        _assert_like(real_data["dividends"][0], dividend, "dividend")
    for entry in data["money_tracker"]["entrants"]:
        _assert_like(real_data["money_tracker"]["entrants"][0], entry, "money_tracker")
    real_pools = {pool["product_type"]: pool for pool in real_data["tote_pools"]}
    our_pools = {pool["product_type"]: pool for pool in data["tote_pools"]}
    assert set(real_pools) <= set(our_pools)
    for product, pool in real_pools.items():
        _assert_like(pool, our_pools[product], f"pool {product}")
    RaceEventResponse.model_validate(ours)


async def test_meetings_match_the_real_samples(sim: Simulator, http: httpx.AsyncClient) -> None:
    real = load_sample("meetings-list-response.json")
    ours = (await http.get(f"{API}/meetings", params={"date_from": "today"})).json()

    _assert_like(real, ours, "body")
    _assert_like(real["params"], ours["params"], "params")
    _assert_like(real["data"], ours["data"], "data")
    real_races = [race for meeting in real["data"]["meetings"] for race in meeting["races"]]
    for meeting in ours["data"]["meetings"]:
        _assert_within(real["data"]["meetings"], meeting, f"meeting {meeting['name']}")
        for race in meeting["races"]:
            _assert_within(real_races, race, "meeting race")
    MeetingsResponse.model_validate(ours)

    detail_real = load_sample("meeting-detail-response.json")
    aus = next(m for m in sim.day.meetings if m.country == "AUS" and m.has_quaddies)
    detail = (await http.get(f"{API}/meetings/{aus.meeting_id}")).json()
    _assert_like(detail_real, detail, "detail")
    _assert_like(detail_real["params"], detail["params"], "detail params")
    _assert_like(detail_real["data"]["meetings"][0], detail["data"]["meetings"][0], "detail meeting")
    MeetingResponse.model_validate(detail)


async def test_races_list_matches_the_real_sample(http: httpx.AsyncClient) -> None:
    real = load_sample("races-list-response.json")
    ours = (await http.get(f"{API}/list", params={"date_from": "today"})).json()

    _assert_like(real, ours, "body")
    _assert_like(real["params"], ours["params"], "params")
    _assert_like(real["data"], ours["data"], "data")
    for race in ours["data"]["races"]:
        _assert_within(real["data"]["races"], race, "race summary")
    RacesListResponse.model_validate(ours)


@pytest.mark.parametrize("minutes", [-600, -30, -2, 0, 3, 8, 30])
async def test_every_endpoint_validates_at_every_stage(
    sim: Simulator, http: httpx.AsyncClient, minutes: int
) -> None:
    """Open, just-closed, interim and final races of every category parse with the models."""
    assert isinstance(sim.clock, ManualClock)
    sim.clock.set(ANCHOR + timedelta(minutes=minutes))
    responses: list[tuple[type[BaseModel], httpx.Response]] = [
        (MeetingsResponse, await http.get(f"{API}/meetings")),
        (RacesListResponse, await http.get(f"{API}/list")),
        (MeetingResponse, await http.get(f"{API}/meetings/{sim.day.meetings[-1].meeting_id}")),
    ]
    for race in sim.day.races[::3]:
        responses.append(
            (RaceEventResponse, await http.get(f"{API}/events/{race.race_id}", params=SAMPLE_FLAGS))
        )
        responses.append((RaceEventResponse, await http.get(f"{API}/events/{race.race_id}")))
    for model, response in responses:
        assert response.status_code == 200
        model.model_validate_json(response.content)


async def test_status_and_money_as_the_models_read_them(sim: Simulator, http: httpx.AsyncClient) -> None:
    race = _final_race(sim)
    assert isinstance(sim.clock, ManualClock)
    sim.clock.set(race.actual_start - timedelta(seconds=30))
    body = RaceEventResponse.model_validate_json(
        (await http.get(f"{API}/events/{race.race_id}", params=SAMPLE_FLAGS)).content
    )
    data = body.data
    assert body.simulated
    assert body.generated_time == sim.clock.now()
    assert data.race.start_utc == race.start
    assert data.race.race_status is not None
    assert data.race.race_status.value == "open"
    assert data.money_tracker is not None
    assert 98 <= sum(entry.hold_percentage for entry in data.money_tracker.entrants) <= 102
    win = data.tote_pool("win")
    assert win is not None
    assert win.total > 0
