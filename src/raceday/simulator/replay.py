"""A recorded day served on the NZ TAB paths, at any speed: real days drive demos, tests and benchmarks.

Each request gets the latest recording generated at or before the replay clock's now (before a race's
first recording, its first). The bodies are the recorded bytes, marked simulated like everything the
simulator serves (`header.simulated`, `X-Raceday-Simulated: true`): replayed data is not live data.
"""

from __future__ import annotations

import bisect
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from raceday.core.clock import Clock, ScaledClock
from raceday.core.http_server import serve_in_background
from raceday.core.log import get_logger
from raceday.simulator.server import API, MarkSimulated

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Recorded:
    """One recorded response: `body` is the JSON as NZ TAB sent it."""

    endpoint: str
    request_key: str
    generated_time: datetime
    body: bytes


@dataclass
class _Timeline:
    times: list[datetime] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    def at(self, now: datetime) -> bytes:
        index = bisect.bisect_right(self.times, now)
        return self.bodies[max(index - 1, 0)]


def _simulated(body: bytes) -> bytes:
    document = json.loads(body)
    document.setdefault("header", {})["simulated"] = True
    return json.dumps(document, separators=(",", ":")).encode()


class Replay:
    """The recorded responses by what was asked, and the app that answers from them."""

    def __init__(self, recorded: list[Recorded], clock: Clock) -> None:
        if not recorded:
            raise ValueError("nothing recorded to replay")
        self.clock = clock
        self.base_url = ""
        self._timelines: dict[tuple[str, str], _Timeline] = {}
        for response in sorted(recorded, key=lambda r: r.generated_time):
            timeline = self._timelines.setdefault((response.endpoint, response.request_key), _Timeline())
            timeline.times.append(response.generated_time)
            timeline.bodies.append(response.body)
        self.start = min(r.generated_time for r in recorded)
        self.end = max(r.generated_time for r in recorded)
        self.app = MarkSimulated(
            Starlette(
                routes=[
                    Route("/_sim/status", self._status),
                    Route(f"{API}/meetings", self._meetings),
                    Route(f"{API}/events/{{race_id}}", self._event),
                ]
            )
        )

    def _answer(self, key: tuple[str, str]) -> Response:
        timeline = self._timelines.get(key)
        if timeline is None:
            return JSONResponse({"error": "not recorded", "asked": list(key)}, status_code=404)
        return Response(_simulated(timeline.at(self.clock.now())), media_type="application/json")

    async def _event(self, request: Request) -> Response:
        return self._answer(("events", request.path_params["race_id"]))

    async def _meetings(self, request: Request) -> Response:
        day = request.query_params.get("date_from", "")
        offset = request.query_params.get("offset", "0")
        return self._answer(("meetings", f"{day}@{offset}"))

    async def _status(self, _: Request) -> Response:
        return JSONResponse(
            {
                "simulator": "replay",
                "simulated": True,
                "replay_time": self.clock.now().isoformat(),
                "recorded_from": self.start.isoformat(),
                "recorded_to": self.end.isoformat(),
                "races": sum(1 for endpoint, _ in self._timelines if endpoint == "events"),
            }
        )


@contextlib.asynccontextmanager
async def serve_replay(
    recorded: list[Recorded],
    speed: float = 1.0,
    clock: Clock | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> AsyncIterator[Replay]:
    """Serve the recordings until the block exits; the replay clock starts at the first one."""
    start = min(r.generated_time for r in recorded) if recorded else None
    replay = Replay(recorded, clock or ScaledClock(anchor=start, speed=speed))
    async with serve_in_background(replay.app, host, port, lifespan="off") as base_url:
        replay.base_url = base_url
        log.warning(
            "SIMULATED DATA: replaying a recorded day, not the live API",
            base_url=base_url,
            recorded_from=replay.start.isoformat(),
            recorded_to=replay.end.isoformat(),
            speed=speed,
        )
        yield replay
