"""What NzTabClient costs per call on top of the HTTP round trip, measured against the simulator.

For N sequential calls of one race event it reports the median and p95 of: a raw httpx GET of the
same URL with the same headers, the raw GET plus `json.loads`, and `NzTabClient.race_event` (GET,
retry machinery, validation into the models, logging). It also times validating a real NZ TAB
sample alone, since simulated events are smaller than real ones.

    raceday bench client [--calls 300] [--sample tests/fixtures/nztab/race-event-full-response.json]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from raceday.bench.stats import percentile
from raceday.core.config import Settings
from raceday.core.log import configure_logging
from raceday.core.timing import elapsed_ms
from raceday.nztab.client import EVENT_FLAGS, NzTabClient
from raceday.nztab.models import RaceEventResponse
from raceday.simulator import serve_simulator

# The real NZ TAB sample kept with the tests (run from the checkout).
REAL_EVENT = Path("tests/fixtures/nztab/race-event-full-response.json")


async def _time_calls(calls: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    for _ in range(min(20, calls)):  # warm up connections and caches
        await call()
    durations = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        durations.append(elapsed_ms(started, 3))
    return durations


def _row(label: str, samples: list[float]) -> str:
    median, p95 = statistics.median(samples), percentile(samples, 95)
    return f"{label:<44} median {median:8.3f} ms   p95 {p95:8.3f} ms\n"


async def _measure(calls: int, sample: bytes | None) -> None:
    configure_logging("info", stream=io.StringIO())  # the client's log lines cost, the terminal doesn't
    out = sys.stdout
    async with serve_simulator(seed=1, speed=1.0) as sim, httpx.AsyncClient(timeout=5.0) as http:
        client = NzTabClient(
            sim.base_url, from_email="bench@example.invalid", partner_name="bench", http=http
        )
        meetings = await client.meetings(sim.day.nz_date)
        race_id = meetings.data.meetings[0].races[0].id
        url = f"{client.base_url}/affiliates/v1/racing/events/{race_id}"
        headers = client._headers()  # same request as the client's, minus the client

        async def raw_get() -> object:
            response = await http.get(url, params=EVENT_FLAGS, headers=headers)
            response.raise_for_status()
            return response

        async def raw_get_json() -> object:
            response = await http.get(url, params=EVENT_FLAGS, headers=headers)
            response.raise_for_status()
            return json.loads(response.content)

        async def client_call() -> object:
            return await client.race_event(race_id)

        size = len((await http.get(url, params=EVENT_FLAGS, headers=headers)).content)
        raw = await _time_calls(calls, raw_get)
        raw_json = await _time_calls(calls, raw_get_json)
        typed = await _time_calls(calls, client_call)

    out.write(f"{calls} sequential race_event calls against the simulator ({size / 1024:.0f} KB body)\n")
    out.write(_row("raw httpx GET", raw))
    out.write(_row("raw httpx GET + json.loads", raw_json))
    out.write(_row("NzTabClient.race_event", typed))
    median_overhead = statistics.median(typed) - statistics.median(raw)
    out.write(
        f"{'client overhead over raw GET':<44} median {median_overhead:8.3f} ms"
        f"   p95 {percentile(typed, 95) - percentile(raw, 95):8.3f} ms\n"
    )
    if sample is not None:
        body = sample
        parse = []
        for _ in range(calls):
            started = time.perf_counter()
            RaceEventResponse.model_validate_json(body)
            parse.append(elapsed_ms(started, 3))
        out.write(_row(f"validate real sample ({len(body) / 1024:.0f} KB)", parse))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=300, help="sequential calls per measurement")
    parser.add_argument(
        "--sample", type=Path, default=REAL_EVENT, help="a real race-event body to time validation on"
    )


def run(_: Settings, args: argparse.Namespace) -> int:
    sample = args.sample.read_bytes() if args.sample.exists() else None
    asyncio.run(_measure(args.calls, sample))
    return 0
