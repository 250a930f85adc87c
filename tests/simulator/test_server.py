"""The simulator over real HTTP: the API paths, paging, the simulated marks, and every fault kind."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from raceday.simulator import DayConfig, FaultRule, ManualClock, Simulator, serve_simulator

ANCHOR = datetime(2025, 7, 17, 1, 0, tzinfo=UTC)
API = "/affiliates/v1/racing"
EVENT_FLAGS = {"with_money_tracker": "true", "with_tote_trends_data": "true", "with_will_pays": "true"}


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with serve_simulator(seed=5, clock=ManualClock(ANCHOR)) as simulator:
        yield simulator


@pytest.fixture
async def http(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=5.0) as client:
        yield client


def _race_id(sim: Simulator) -> str:
    upcoming = sim.day.next_to_jump(sim.clock.now())
    assert upcoming is not None
    return upcoming.race_id


def _manual(sim: Simulator) -> ManualClock:
    assert isinstance(sim.clock, ManualClock)
    return sim.clock


async def test_every_response_is_marked_simulated(sim: Simulator, http: httpx.AsyncClient) -> None:
    race_id = _race_id(sim)
    meeting_id = sim.day.meetings[0].meeting_id
    for path in (
        f"{API}/meetings",
        f"{API}/meetings/{meeting_id}",
        f"{API}/list",
        f"{API}/events/{race_id}",
        f"{API}/events/no-such-race",
    ):
        response = await http.get(path)
        assert response.headers["X-Raceday-Simulated"] == "true"
        assert response.json()["header"]["simulated"] is True
    status = await http.get("/_sim/status")
    assert status.headers["X-Raceday-Simulated"] == "true"
    assert status.json()["simulator"] is True
    assert "simulator" in (await http.get("/")).json()["description"]


async def test_unknown_ids_are_404_in_the_api_error_style(http: httpx.AsyncClient) -> None:
    for path in (f"{API}/events/nope", f"{API}/meetings/nope", f"{API}/no-such-endpoint"):
        response = await http.get(path)
        assert response.status_code == 404
        header = response.json()["header"]
        assert header["error"] == "not found"
        assert {"title", "generated_time", "url", "error_code"} <= set(header)


async def test_same_seed_and_time_give_the_same_bytes() -> None:
    bodies = []
    for _ in range(2):
        async with (
            serve_simulator(seed=9, clock=ManualClock(ANCHOR)) as simulator,
            httpx.AsyncClient(base_url=simulator.base_url) as client,
        ):
            race_id = _race_id(simulator)
            _manual(simulator).advance(123.456789)
            bodies.append(
                [
                    (await client.get(f"{API}/meetings")).content,
                    (await client.get(f"{API}/list")).content,
                    (await client.get(f"{API}/events/{race_id}", params=EVENT_FLAGS)).content,
                ]
            )
    assert bodies[0] == bodies[1]
    header = json.loads(bodies[0][2])["header"]
    # Nanosecond-style like the real feed: the microseconds, then three more digits.
    assert header["generated_time"].startswith("2025-07-17T01:02:03.456789")
    assert header["generated_time"].endswith("Z")


async def test_generated_time_follows_the_clock(sim: Simulator, http: httpx.AsyncClient) -> None:
    race_id = _race_id(sim)
    first = (await http.get(f"{API}/events/{race_id}")).json()
    _manual(sim).advance(30)
    second = (await http.get(f"{API}/events/{race_id}")).json()

    assert first["header"]["generated_time"] == "2025-07-17T01:00:00Z"
    assert second["header"]["generated_time"] == "2025-07-17T01:00:30Z"


async def test_money_tracker_only_when_asked(sim: Simulator, http: httpx.AsyncClient) -> None:
    race_id = _race_id(sim)
    plain = (await http.get(f"{API}/events/{race_id}")).json()
    asked = (await http.get(f"{API}/events/{race_id}", params=EVENT_FLAGS)).json()

    assert "money_tracker" not in plain["data"]
    assert plain["params"]["with_money_tracker"] is False
    assert asked["data"]["money_tracker"]["entrants"]
    assert asked["params"]["with_money_tracker"] is True
    trifecta = next(p for p in asked["data"]["tote_pools"] if p["product_type"] == "Trifecta")
    assert trifecta["tote_trends"]["tote_trends_data"].startswith("<meetings>")
    plain_trifecta = next(p for p in plain["data"]["tote_pools"] if p["product_type"] == "Trifecta")
    assert "tote_trends" not in plain_trifecta


async def test_event_evolves_as_the_clock_moves(sim: Simulator, http: httpx.AsyncClient) -> None:
    race = sim.day.next_to_jump(sim.clock.now())
    assert race is not None

    def win_pool(body: dict[str, object]) -> float:
        data = body["data"]
        assert isinstance(data, dict)
        return float(next(p["total"] for p in data["tote_pools"] if p["product_type"] == "Win"))

    open_body = (await http.get(f"{API}/events/{race.race_id}")).json()
    _manual(sim).set(race.final_at + timedelta(seconds=1))
    final_body = (await http.get(f"{API}/events/{race.race_id}")).json()

    assert open_body["data"]["race"]["status"] == "Open"
    assert final_body["data"]["race"]["status"] == "Final"
    assert win_pool(final_body) > win_pool(open_body)
    assert final_body["data"]["results"]
    assert final_body["data"]["dividends"]


async def test_meetings_page_past_a_hundred() -> None:
    config = DayConfig.parse("AUS:G=60,UK:G=45,NZ:T=2")
    async with (
        serve_simulator(seed=2, clock=ManualClock(ANCHOR), meetings=config) as simulator,
        httpx.AsyncClient(base_url=simulator.base_url) as client,
    ):
        first = (await client.get(f"{API}/meetings", params={"date_from": "today"})).json()
        second = (await client.get(f"{API}/meetings", params={"offset": 100})).json()
        too_big = await client.get(f"{API}/meetings", params={"limit": 500})
        nz_only = (await client.get(f"{API}/meetings", params={"country": "NZ"})).json()
        greyhounds = (await client.get(f"{API}/meetings", params={"category": "G", "offset": 100})).json()
        tomorrow = (await client.get(f"{API}/meetings", params={"date_from": "2025-07-18"})).json()

    assert first["params"]["limit"] == 100
    assert len(first["data"]["meetings"]) == 100
    assert len(second["data"]["meetings"]) == 7
    ids = [m["meeting"] for m in first["data"]["meetings"] + second["data"]["meetings"]]
    assert sorted(ids) == sorted(m.meeting_id for m in simulator.day.meetings)
    assert too_big.status_code == 400
    assert {m["country"] for m in nz_only["data"]["meetings"]} == {"NZ"}
    assert len(greyhounds["data"]["meetings"]) == 5
    assert {m["category"] for m in greyhounds["data"]["meetings"]} == {"G"}
    assert tomorrow["data"]["meetings"] == []


async def test_races_list_pages_with_tokens(sim: Simulator, http: httpx.AsyncClient) -> None:
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        params = {"limit": "40"} | ({"page_token": token} if token else {})
        body = (await http.get(f"{API}/list", params=params)).json()
        seen += [race["id"] for race in body["data"]["races"]]
        token = body["data"]["next_page_token"]
        pages += 1
        if not token:
            break
    starts = [race.start for race in sim.day.races]

    assert pages == -(-len(starts) // 40)
    assert seen == [race.race_id for race in sim.day.races]
    bad = await http.get(f"{API}/list", params={"page_token": "garbage!"})
    assert bad.status_code == 400


# --- faults -------------------------------------------------------------------------------------


async def test_error_fault_applies_the_given_times(sim: Simulator, http: httpx.AsyncClient) -> None:
    race_id = _race_id(sim)
    added = await http.post(
        "/_sim/faults", json={"endpoint": "events", "kind": "error", "status": 502, "times": 2}
    )
    assert added.status_code == 201
    assert added.json()["id"]

    statuses = [(await http.get(f"{API}/events/{race_id}")).status_code for _ in range(3)]
    meetings = await http.get(f"{API}/meetings")

    assert statuses == [502, 502, 200]
    assert meetings.status_code == 200
    assert (await http.get("/_sim/faults")).json() == []


async def test_fault_for_one_race_leaves_others_alone(sim: Simulator, http: httpx.AsyncClient) -> None:
    target, other = sim.day.races[0].race_id, sim.day.races[1].race_id
    sim.faults.add(FaultRule(endpoint="events", race_id=target, kind="error", status=500))

    assert (await http.get(f"{API}/events/{other}")).status_code == 200
    assert (await http.get(f"{API}/events/{target}")).status_code == 500
    assert (await http.get(f"{API}/events/{target}")).status_code == 500  # no times: stays


async def test_rate_limit_fault_sends_retry_after(sim: Simulator, http: httpx.AsyncClient) -> None:
    sim.faults.add(FaultRule(endpoint="any", kind="rate_limit", retry_after_s=1.5, times=1))
    limited = await http.get(f"{API}/meetings")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1.5"
    assert (await http.get(f"{API}/meetings")).status_code == 200


async def test_malformed_fault_breaks_the_json(sim: Simulator, http: httpx.AsyncClient) -> None:
    sim.faults.add(FaultRule(endpoint="list", kind="malformed", times=1))
    broken = await http.get(f"{API}/list")
    assert broken.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.content)
    json.loads((await http.get(f"{API}/list")).content)


async def test_missing_field_fault_removes_that_path(sim: Simulator, http: httpx.AsyncClient) -> None:
    race_id = _race_id(sim)
    await http.post(
        "/_sim/faults",
        json={"endpoint": "events", "kind": "missing_field", "field": "data.race.status"},
    )
    race = (await http.get(f"{API}/events/{race_id}")).json()["data"]["race"]
    assert "status" not in race
    assert race["event_id"] == race_id


async def test_latency_fault_delays_then_answers(sim: Simulator, http: httpx.AsyncClient) -> None:
    sim.faults.add(FaultRule(endpoint="meeting", kind="latency", delay_s=0.3))
    started = time.monotonic()
    response = await http.get(f"{API}/meetings/{sim.day.meetings[0].meeting_id}")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3
    quick = time.monotonic()
    assert (await http.get(f"{API}/meetings")).status_code == 200
    assert time.monotonic() - quick < 0.3


async def test_timeout_fault_outlasts_the_client_and_does_not_block_shutdown() -> None:
    async with serve_simulator(seed=5, clock=ManualClock(ANCHOR)) as simulator:
        simulator.faults.add(FaultRule(endpoint="events", kind="timeout"))  # hangs 30 s
        async with httpx.AsyncClient(base_url=simulator.base_url, timeout=0.3) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get(f"{API}/events/{_race_id(simulator)}")
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 5


async def test_invalid_fault_bodies_are_400(http: httpx.AsyncClient) -> None:
    for body in (
        {"kind": "explode"},
        {"endpoint": "events", "kind": "error", "status": 200},
        {"kind": "missing_field"},
        {"kind": "error", "times": 0},
        {"kind": "error", "surprise": True},
        [1, 2],
    ):
        response = await http.post("/_sim/faults", json=body)
        assert response.status_code == 400, body
        assert set(response.json()) == {"error", "details"}
    not_json = await http.post("/_sim/faults", content=b"{oops")
    assert not_json.status_code == 400


async def test_faults_can_be_listed_and_cleared(sim: Simulator, http: httpx.AsyncClient) -> None:
    await http.post("/_sim/faults", json={"kind": "latency", "delay_s": 0.01, "times": 3})
    sim.faults.add(FaultRule(kind="error"))
    listed = (await http.get("/_sim/faults")).json()
    assert [(rule["kind"], rule["remaining"]) for rule in listed] == [("latency", 3), ("error", None)]
    assert (await http.delete("/_sim/faults")).status_code == 200
    assert (await http.get("/_sim/faults")).json() == []
    assert (await http.get(f"{API}/meetings")).status_code == 200


async def test_requests_are_logged_with_the_fault_applied(sim: Simulator, http: httpx.AsyncClient) -> None:
    race_id = _race_id(sim)
    sim.faults.add(FaultRule(endpoint="events", kind="error", status=503, times=1))
    await http.get(
        f"{API}/events/{race_id}", params={"with_money_tracker": "true"}, headers={"X-Partner": "raceday"}
    )
    _manual(sim).advance(60)
    await http.get(f"{API}/events/{race_id}")

    log = (await http.get("/_sim/requests")).json()
    assert [entry["status"] for entry in log] == [503, 200]
    assert log[0]["path"] == f"{API}/events/{race_id}"
    assert log[0]["query"] == {"with_money_tracker": "true"}
    assert log[0]["headers"]["x-partner"] == "raceday"
    assert log[0]["fault"]["kind"] == "error"
    assert log[1]["fault"] is None
    assert log[1]["sim_time"] == "2025-07-17T01:01:00Z"
    assert len(sim.requests.for_endpoint("events")) == 2
    assert (await http.delete("/_sim/requests")).status_code == 200
    assert (await http.get("/_sim/requests")).json() == []
