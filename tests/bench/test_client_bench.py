"""`raceday bench client`: what it times is the captured simulator event, served byte for byte."""

from __future__ import annotations

import aiohttp

from raceday.bench.client import _captured_event, _fixed_server
from raceday.nztab.client import EVENT_FLAGS
from raceday.nztab.decode import decode_response
from raceday.nztab.models import RaceEventResponse


async def test_the_fixed_server_answers_with_the_captured_simulated_event() -> None:
    race_id, body = await _captured_event()
    event = decode_response(RaceEventResponse, body, endpoint="events")
    assert (event.data.race.event_id, event.simulated) == (race_id, True)
    async with _fixed_server(body) as base_url, aiohttp.ClientSession() as http:
        url = f"{base_url}/affiliates/v1/racing/events/{race_id}"
        async with http.get(url, params=EVENT_FLAGS) as response:
            assert (response.status, await response.read()) == (200, body)
