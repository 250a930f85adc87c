"""What NzTabClient costs per call on top of the HTTP round trip.

One race event of the simulator is captured, then served as fixed bytes by a process of its own
(aiohttp's server), so this process's CPU is the client's alone. For N sequential calls it reports
the median and p95 wall time and the CPU per call of: a raw aiohttp GET of the same URL with the same
headers (the client's transport), the same GET with httpx (the one it replaced), the raw GET plus
`json.loads`, and `NzTabClient.race_event` (GET, retry machinery, validation into the models,
logging). It also times validating a real NZ TAB sample alone, since simulated events are smaller
than real ones.

    raceday bench client [--calls 300] [--sample tests/fixtures/nztab/race-event-full-response.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import aiohttp
import httpx
from aiohttp import web

from raceday.bench.processes import serve_until_closed, spawned
from raceday.bench.stats import percentile
from raceday.core.config import Settings
from raceday.core.log import configure_logging
from raceday.core.timing import elapsed_ms
from raceday.nztab.client import EVENT_FLAGS, NzTabClient
from raceday.nztab.models import RaceEventResponse
from raceday.simulator import serve_simulator

# The real NZ TAB sample kept with the tests (run from the checkout).
REAL_EVENT = Path("tests/fixtures/nztab/race-event-full-response.json")


@dataclass(frozen=True)
class Timed:
    wall_ms: list[float]
    cpu_ms: float
    """This process's CPU per call (the server runs elsewhere)."""


async def _time_calls(calls: int, call: Callable[[], Awaitable[object]]) -> Timed:
    for _ in range(min(20, calls)):  # warm up connections and caches
        await call()
    durations = []
    cpu = time.process_time()
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        durations.append(elapsed_ms(started, 3))
    return Timed(durations, (time.process_time() - cpu) * 1000 / calls)


def _row(label: str, timed: Timed) -> str:
    samples = timed.wall_ms
    median, p95 = statistics.median(samples), percentile(samples, 95)
    return f"{label:<40} median {median:7.3f} ms   p95 {p95:7.3f} ms   CPU {timed.cpu_ms:6.3f} ms\n"


def _client(base_url: str, http: aiohttp.ClientSession | None = None) -> NzTabClient:
    return NzTabClient(base_url, from_email="bench@example.invalid", partner_name="bench", http=http)


async def _captured_event() -> tuple[str, bytes]:
    """A simulated race event's id and body, as the simulator serves it."""
    async with serve_simulator(seed=1, speed=1.0) as sim, _client(sim.base_url) as client:
        meetings = await client.meetings(sim.day.nz_date)
        race_id = meetings.data.meetings[0].races[0].id
        return race_id, await client.race_event_bytes(race_id)


def _serve_main(body: bytes, pipe: Connection) -> None:
    asyncio.run(_serve_bytes(body, pipe))


async def _serve_bytes(body: bytes, pipe: Connection) -> None:
    """Every GET answered with the same bytes, until the bench closes its end of the pipe."""

    async def answer(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{path:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    await serve_until_closed(pipe, f"http://{host}:{port}")
    await runner.cleanup()


@contextlib.asynccontextmanager
async def _fixed_server(body: bytes) -> AsyncIterator[str]:
    async with spawned(_serve_main, (body,), "raceday bench server") as (_, base_url):
        yield base_url


async def _measure(calls: int, sample: bytes | None) -> None:
    configure_logging("info", stream=io.StringIO())  # the client's log lines cost, the terminal doesn't
    out = sys.stdout
    race_id, body = await _captured_event()
    async with (
        _fixed_server(body) as base_url,
        aiohttp.ClientSession(raise_for_status=True) as http,
        httpx.AsyncClient(timeout=5.0) as other,
        _client(base_url, http) as client,
    ):
        url = f"{client.base_url}/affiliates/v1/racing/events/{race_id}"
        headers = client._headers()  # same request as the client's, minus the client

        async def raw_get() -> bytes:
            async with http.get(url, params=EVENT_FLAGS, headers=headers) as response:
                return await response.read()

        async def raw_get_json() -> object:
            return json.loads(await raw_get())

        async def httpx_get() -> object:
            response = await other.get(url, params=EVENT_FLAGS, headers=headers)
            response.raise_for_status()
            return response.content

        async def client_call() -> object:
            return await client.race_event(race_id)

        raw = await _time_calls(calls, raw_get)
        raw_httpx = await _time_calls(calls, httpx_get)
        raw_json = await _time_calls(calls, raw_get_json)
        typed = await _time_calls(calls, client_call)

    out.write(
        f"{calls} sequential race_event calls of one simulated event ({len(body) / 1024:.0f} KB body)\n"
    )
    out.write(_row("raw aiohttp GET", raw))
    out.write(_row("raw httpx GET (replaced by aiohttp)", raw_httpx))
    out.write(_row("raw aiohttp GET + json.loads", raw_json))
    out.write(_row("NzTabClient.race_event", typed))
    median_overhead = statistics.median(typed.wall_ms) - statistics.median(raw.wall_ms)
    out.write(
        f"{'client overhead over raw GET':<40} median {median_overhead:7.3f} ms"
        f"   p95 {percentile(typed.wall_ms, 95) - percentile(raw.wall_ms, 95):7.3f} ms"
        f"   CPU {typed.cpu_ms - raw.cpu_ms:6.3f} ms\n"
    )
    if sample is not None:
        parse = []
        for _ in range(calls):
            started = time.perf_counter()
            RaceEventResponse.model_validate_json(sample)
            parse.append(elapsed_ms(started, 3))
        out.write(
            _row(f"validate real sample ({len(sample) / 1024:.0f} KB)", Timed(parse, statistics.mean(parse)))
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=300, help="sequential calls per measurement")
    parser.add_argument(
        "--sample", type=Path, default=REAL_EVENT, help="a real race-event body to time validation on"
    )


def run(_: Settings, args: argparse.Namespace) -> int:
    sample = args.sample.read_bytes() if args.sample.exists() else None
    asyncio.run(_measure(args.calls, sample))
    return 0
