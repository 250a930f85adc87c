"""The simulator's HTTP face: the real API paths plus `/_sim/*` controls, served by uvicorn.

`serve_simulator` runs a real server on a free local port inside the caller's event loop, which
is what the client's retry tests and the pipeline benchmark talk to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from raceday.core.clock import Clock, ScaledClock
from raceday.core.http_server import serve_in_background
from raceday.core.log import get_logger
from raceday.simulator import payloads
from raceday.simulator.day import SimDay, generate_day
from raceday.simulator.faults import FaultRegistry, FaultRule, RequestLog, RequestRecord
from raceday.simulator.model import DayConfig

log = get_logger(__name__)

API = "/affiliates/v1/racing"
SIMULATED_HEADER = "X-Raceday-Simulated"


def _dumps(body: Any) -> bytes:
    """orjson: a race event is 120–200 kB of JSON, which the standard library took about 2 ms to encode, a
    tenth of that with orjson; on a shared machine the simulator's CPU is the pipeline's too."""
    return orjson.dumps(body)


def remove_path(body: Any, dotted: str) -> bool:
    """Delete `a.b.0.c` from nested dicts/lists in place; False if the path is not there."""
    *parents, last = dotted.split(".")
    node = body
    for part in parents:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    if isinstance(node, dict) and last in node:
        del node[last]
        return True
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        del node[int(last)]
        return True
    return False


class MarkSimulated:
    """ASGI middleware: every response carries `X-Raceday-Simulated: true`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-raceday-simulated", b"true")]
            await send(message)

        await self.app(scope, receive, marked)


Builder = Callable[[datetime, str], dict[str, Any] | None]


class Simulator:
    """The day, its clock, the fault rules and the request log, plus the app that serves them."""

    def __init__(self, day: SimDay, clock: Clock, speed: float = 1.0) -> None:
        self.day = day
        self.clock = clock
        self.speed = speed
        self.faults = FaultRegistry()
        self.requests = RequestLog()
        self.base_url = ""
        self._stopping: asyncio.Event | None = None
        self.app = MarkSimulated(
            Starlette(
                routes=[
                    Route("/", self._index),
                    Route("/_sim/status", self._status),
                    Route("/_sim/faults", self._faults, methods=["GET", "POST", "DELETE"]),
                    Route("/_sim/faults/{rule_id}", self._delete_fault, methods=["DELETE"]),
                    Route("/_sim/requests", self._requests, methods=["GET", "DELETE"]),
                    Route(f"{API}/meetings", self._meetings),
                    Route(f"{API}/meetings/{{meeting_id}}", self._meeting),
                    Route(f"{API}/list", self._list),
                    Route(f"{API}/events/{{race_id}}", self._event),
                    Route(f"{API}/{{rest:path}}", self._unknown),
                ]
            )
        )

    # --- lifecycle ---------------------------------------------------------------------------

    def release_hung_requests(self) -> None:
        """Let requests held by latency/timeout faults answer now (used on shutdown)."""
        if self._stopping is not None:
            self._stopping.set()

    async def _hold(self, seconds: float) -> None:
        if self._stopping is None:
            self._stopping = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    # --- the API -----------------------------------------------------------------------------

    async def _serve(
        self, request: Request, endpoint: str, build: Builder, race_id: str | None = None
    ) -> Response:
        fault = self.faults.take(endpoint, race_id)
        url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = await self._respond(fault, build, url)
        self.requests.append(
            RequestRecord(
                method=request.method,
                path=request.url.path,
                query=dict(request.query_params),
                headers=dict(request.headers),
                sim_time=self.clock.now(),
                endpoint=endpoint,
                status=response.status_code,
                fault=fault,
            )
        )
        return response

    async def _respond(self, fault: FaultRule | None, build: Builder, url: str) -> Response:
        if fault is not None and fault.kind in ("latency", "timeout"):
            await self._hold(fault.delay)
        now = self.clock.now()
        if fault is not None and fault.kind == "stale":
            now -= timedelta(seconds=fault.delay)
        if fault is not None and fault.kind == "error":
            body = payloads.error_body(now, url, "simulated server error", str(fault.status))
            return Response(_dumps(body), fault.status, media_type="application/json")
        if fault is not None and fault.kind == "rate_limit":
            body = payloads.error_body(now, url, "too many requests", "429")
            return Response(
                _dumps(body),
                429,
                headers={"Retry-After": f"{fault.retry_after_s:g}"},
                media_type="application/json",
            )
        try:
            built = build(now, url)
        except payloads.BadRequest as error:
            body = payloads.error_body(now, url, str(error), "400")
            return Response(_dumps(body), 400, media_type="application/json")
        if built is None:
            body = payloads.error_body(now, url, "not found", "404")
            return Response(_dumps(body), 404, media_type="application/json")
        if fault is not None and fault.kind == "missing_field" and fault.field:
            remove_path(built, fault.field)
        content = _dumps(built)
        if fault is not None and fault.kind == "malformed":
            content = content[: max(1, len(content) // 2)]
        return Response(content, 200, media_type="application/json")

    async def _meetings(self, request: Request) -> Response:
        query = dict(request.query_params)
        return await self._serve(
            request, "meetings", lambda now, url: payloads.meetings_list(self.day, now, query, url)
        )

    async def _meeting(self, request: Request) -> Response:
        meeting = self.day.meeting(request.path_params["meeting_id"])

        def build(now: datetime, url: str) -> dict[str, Any] | None:
            return payloads.meeting_detail(meeting, now, url) if meeting else None

        return await self._serve(request, "meeting", build)

    async def _list(self, request: Request) -> Response:
        query = dict(request.query_params)
        return await self._serve(
            request, "list", lambda now, url: payloads.races_list(self.day, now, query, url)
        )

    async def _event(self, request: Request) -> Response:
        race_id = request.path_params["race_id"]
        race = self.day.race(race_id)
        flags = payloads.EventFlags.from_query(dict(request.query_params))

        def build(now: datetime, url: str) -> dict[str, Any] | None:
            return payloads.event(self.day.market(race), now, flags, url) if race else None

        return await self._serve(request, "events", build, race_id=race_id)

    async def _unknown(self, request: Request) -> Response:
        return await self._serve(request, "unknown", lambda now, url: None)

    # --- controls ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What `/_sim/status` reports: this is a simulator, its seed, time and day."""
        now = self.clock.now()
        upcoming = self.day.next_to_jump(now)
        return {
            "simulator": True,
            "description": "raceday's offline NZ TAB simulator: generated data, not real racing",
            "seed": self.day.seed,
            "speed": self.speed,
            "anchor": payloads.go_time(self.day.anchor),
            "sim_time": payloads.go_time(now),
            "nz_date": self.day.nz_date.isoformat(),
            "meetings": len(self.day.meetings),
            "races": len(self.day.races),
            "next_to_jump": {
                "race_id": upcoming.race_id,
                "meeting": upcoming.meeting_name,
                "race_number": upcoming.race_number,
                "advertised_start": payloads.nztab_instant(upcoming.start),
            }
            if upcoming
            else None,
            "faults": len(self.faults),
            "requests": len(self.requests),
        }

    async def _index(self, request: Request) -> Response:
        return JSONResponse(self.status())

    async def _status(self, request: Request) -> Response:
        return JSONResponse(self.status())

    async def _faults(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(self.faults.describe())
        if request.method == "DELETE":
            self.faults.clear()
            return JSONResponse({"cleared": True})
        try:
            raw = await request.json()
        except json.JSONDecodeError as error:
            return JSONResponse({"error": "invalid JSON", "details": str(error)}, 400)
        if not isinstance(raw, dict):
            return JSONResponse({"error": "invalid fault", "details": "expected an object"}, 400)
        raw.pop("id", None)
        try:
            rule = FaultRule.model_validate(raw)
        except ValidationError as error:
            details = "; ".join(
                f"{'.'.join(str(p) for p in item['loc']) or 'body'}: {item['msg']}"
                for item in error.errors(include_url=False)
            )
            return JSONResponse({"error": "invalid fault", "details": details}, 400)
        added = self.faults.add(rule)
        log.info("fault added", fault=added.model_dump(exclude_none=True))
        return JSONResponse(added.model_dump(), 201)

    async def _delete_fault(self, request: Request) -> Response:
        if self.faults.remove(request.path_params["rule_id"]):
            return JSONResponse({"deleted": request.path_params["rule_id"]})
        return JSONResponse({"error": "not found", "details": "no such fault rule"}, 404)

    async def _requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.requests.clear()
            return JSONResponse({"cleared": True})
        return JSONResponse([record.model_dump(mode="json") for record in self.requests])


@contextlib.asynccontextmanager
async def serve_simulator(
    seed: int = 1,
    speed: float = 1.0,
    clock: Clock | None = None,
    meetings: DayConfig | str | None = None,
    port: int = 0,
    host: str = "127.0.0.1",
) -> AsyncIterator[Simulator]:
    """Run the simulator on `host:port` (0 = a free port) until the block exits.

    The day is anchored at the clock's current time; without a clock, sim time starts now and
    runs `speed` times faster than real time.
    """
    clock = clock or ScaledClock(speed=speed)
    config = DayConfig.parse(meetings) if isinstance(meetings, str) else meetings
    day = generate_day(seed, clock.now(), config)
    simulator = Simulator(day, clock, speed)
    async with serve_in_background(simulator.app, host, port, lifespan="off") as base_url:
        simulator.base_url = base_url
        log.info(
            "SIMULATED DATA: NZ TAB simulator serving generated data, not the real API",
            base_url=simulator.base_url,
            seed=seed,
            speed=speed,
            meetings=len(day.meetings),
            races=len(day.races),
            simulated=True,
        )
        try:
            yield simulator
        finally:
            # Requests held open by latency or timeout faults must not hold up the shutdown.
            simulator.release_hung_requests()
    log.info("NZ TAB simulator stopped", base_url=simulator.base_url)
