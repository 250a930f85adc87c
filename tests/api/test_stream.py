"""GET /api/races/{id}/stream: the entrants on connect and after every commit, over a real HTTP stream."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from raceday.api.routes import stream
from tests.api.seeding import Seeded
from tests.api.test_cache import RUNNER, odds_at, runner_odds, write
from tests.serving import Api, eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Each SSE event as {"event", "id", "data"}; comments as {"comment"}."""
    fields: dict[str, Any] = {}
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield {"comment": line[1:].strip()}
        elif line == "":
            if data:
                yield {**fields, "data": json.loads("\n".join(data))}
            fields, data = {}, []
        else:
            name, _, value = line.partition(":")
            if name == "data":
                data.append(value.removeprefix(" "))
            else:
                fields[name] = value.removeprefix(" ")


async def test_the_race_is_sent_on_connect_and_after_each_commit(
    api: Api, seeded: Seeded, seeded_database: tuple[str, Seeded]
) -> None:
    url = f"/api/races/{seeded.race_id}/stream"
    with psycopg.connect(seeded_database[0], autocommit=True) as conn:
        async with api.client.stream("GET", url) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert "content-encoding" not in response.headers
            received = events(response)
            first = await anext(received)
            assert first["event"] == "entrants"
            assert first["data"]["race_id"] == seeded.race_id
            assert first["data"]["simulated"] is False
            plain = (await api.client.get("/api/entrants", params={"raceId": seeded.race_id})).json()
            # The runners as /api/entrants has them, without the history (the grid reads the timeline).
            assert plain[0]["money_flow_history"]
            for entrant in plain:
                del entrant["money_flow_history"], entrant["odds_history"]
            assert first["data"]["entrants"] == plain
            for step in (3000, 3001, 3002):
                write(conn, seeded.race_id, step)
                committed = time.perf_counter()
                pushed = await anext(received)
                latency_ms = (time.perf_counter() - committed) * 1000
                version = conn.execute(
                    "SELECT version FROM race_versions WHERE race_id = %s", (seeded.race_id,)
                ).fetchone()
                assert version is not None
                assert pushed["id"] == str(version[0]) == str(pushed["data"]["version"])
                assert runner_odds(pushed["data"]["entrants"]) == odds_at(step)
                # Only a push can be this quick: nothing is polled and the heartbeat is 15 s away.
                assert latency_ms < 1000, latency_ms
    assert RUNNER in {e["runner_number"] for e in plain}


async def test_an_unknown_race_is_a_404_in_the_error_shape(api: Api) -> None:
    response = await api.client.get("/api/races/no-such-race/stream")
    assert response.status_code == 404
    assert response.json() == {"error": "Race not found", "details": "No race with id 'no-such-race'"}
    assert api.app.state.live.feed.count == 0


async def test_simulated_data_is_labelled_on_the_stream(api: Api, seeded: Seeded) -> None:
    api.runtime.simulated = True
    try:
        async with api.client.stream("GET", f"/api/races/{seeded.race_id}/stream") as response:
            assert response.headers["x-raceday-simulated"] == "true"
            first = await anext(events(response))
            assert first["data"]["simulated"] is True
    finally:
        api.runtime.simulated = False


async def test_streams_are_bounded_and_a_closed_one_is_let_go(api: Api, seeded: Seeded) -> None:
    feed = api.app.state.live.feed
    url = f"/api/races/{seeded.race_id}/stream"
    feed.max_streams = 1
    try:
        async with api.client.stream("GET", url) as response:
            # Held: a dropped generator closes the response, and with it the stream.
            received = events(response)
            await anext(received)
            assert feed.count == 1
            async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as other:
                refused = await other.get(url)
            assert refused.status_code == 503
            assert refused.json()["error"] == "Too many streams"

        async def let_go() -> bool:
            return feed.count == 0

        await eventually(let_go, within_s=5, every_s=0.01)
    finally:
        feed.max_streams = 1000


async def test_an_idle_stream_gets_heartbeats(
    api: Api, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "HEARTBEAT_S", 0.05)
    async with api.client.stream("GET", f"/api/races/{seeded.race_id}/stream") as response:
        received = events(response)
        assert (await anext(received))["event"] == "entrants"
        assert await anext(received) == {"comment": "heartbeat"}
        assert await anext(received) == {"comment": "heartbeat"}
