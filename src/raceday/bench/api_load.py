"""REST API under a busy race day's read load: p50/p95/p99 per endpoint, overall, and /api/entrants.

It starts its own PostgreSQL 18 (embedded, fsync off), seeds a busy NZ racing day (default 50 meetings x
10 races x 16 runners, each runner with 200 money-flow and 200 odds rows), serves the app from a separate
process on a real uvicorn server, and runs 50 concurrent httpx clients over a fixed mix of the client's
calls for a fixed number of requests, on loopback only. Then it times /api/entrants of one 16-runner race
with a single client, to show the service time without queueing.

Then the cached and push figures, against issue 13's targets, with commits landing meanwhile as the
pipeline's would (each one a transaction that changes a runner and bumps the race's version):
- 50 clients, each polling the entrants, pools and timeline of the race it shows in turn every 500 ms,
  spread over the 10 races nearest the jump, each of which the pipeline writes every 15 s (p95 <= 10 ms);
- flat out on one hot race's /api/entrants, gzip as browsers take it (>= 2000 req/s);
- commit -> SSE event on /api/races/{id}/stream, over many commits (median and p95 <= 50 ms).
These use a bare keep-alive HTTP/1.1 client on asyncio streams: httpx costs more CPU per request than the
service does, and on 2 cores the client would be what is measured. Not a test: nothing is asserted.

    raceday bench api [--requests 6000] [--clients 50] [--meetings 50] [--pace-ms 500]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import multiprocessing
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

import httpx
import psycopg

from raceday.bench.stats import percentile
from raceday.core.config import Settings
from raceday.core.log import configure_logging
from raceday.core.nztime import NZ
from raceday.core.timing import elapsed_ms
from raceday.db.embedded import EmbeddedPostgres
from raceday.db.migrate import apply_migrations
from raceday.db.writers import BUMP_VERSION

SEED = """
INSERT INTO meetings (meeting_id, meeting_name, country, state, race_type, category, date, status)
SELECT md5('meeting' || m)::uuid::text, 'Meeting ' || m, 'NZ', 'NZ', 'thoroughbred', 'T', %(day)s, 'active'
FROM generate_series(1, %(meetings)s) m;

INSERT INTO races (race_id, meeting_id, name, race_number, start_time, status, race_date_nz, distance,
  weather)
SELECT md5('race' || m || '-' || n)::uuid::text, md5('meeting' || m)::uuid::text, 'RACE ' || n, n,
  (%(day)s::date + time '12:00' + n * interval '30 minutes' + m * interval '20 seconds')
    AT TIME ZONE 'Pacific/Auckland',
  'open', %(day)s, 1200 + 100 * n, 'Fine'
FROM generate_series(1, %(meetings)s) m, generate_series(1, %(races)s) n;

INSERT INTO entrants (entrant_id, race_id, name, runner_number, barrier, jockey, trainer_name,
  fixed_win_odds, fixed_place_odds, pool_win_odds, pool_place_odds, hold_percentage, win_pool_amount,
  place_pool_amount)
SELECT md5(r.race_id || k)::uuid::text, r.race_id, 'Runner ' || k, k, k, 'Jockey ' || k, 'Trainer ' || k,
  2 + k, 1.2 + k / 10.0, 2.1 + k, 1.3 + k / 10.0, 100.0 / %(runners)s, 100000 + k, 40000 + k
FROM races r, generate_series(1, %(runners)s) k;

INSERT INTO race_pools (race_id, win_pool_total, place_pool_total, quinella_pool_total, trifecta_pool_total,
  exacta_pool_total, first4_pool_total, total_race_pool, data_quality_score, extracted_pools)
SELECT race_id, 9151.38, 3923.51, 5341.06, 7976.24, 0, 4617.92, 39136.72, 95, 6 FROM races;
"""

# One row per poll, 45 s apart on average, ending at the start; the bucket as domain.md §3.4 has it.
HISTORY = """
INSERT INTO money_flow_history (entrant_id, race_id, hold_percentage, bet_percentage, type, time_to_start,
  time_interval, interval_type, event_timestamp, polling_timestamp, win_pool_amount, place_pool_amount,
  win_pool_percentage, place_pool_percentage, incremental_amount, incremental_win_amount,
  incremental_place_amount, pool_type, fixed_win_odds, pool_win_odds, created_at)
SELECT e.entrant_id, e.race_id, 6.25, 6.0, 'bucketed_aggregation', p.tts,
  CASE WHEN p.tts >= 60 THEN 60 WHEN p.tts >= 5 THEN p.tts - p.tts %% 5 ELSE p.tts END,
  CASE WHEN p.tts > 30 THEN '5m' WHEN p.tts > 5 THEN '2m' WHEN p.tts > 0 THEN '30s' ELSE 'live' END,
  p.at, p.at, 1000 * g, 400 * g, 6.25, 6.25, 1000, 1000, 400, 'combined', 4.5, 4.8, p.at
FROM entrants e JOIN races r USING (race_id), generate_series(0, %(polls)s - 1) g,
  LATERAL (SELECT r.start_time - (%(polls)s - 1 - g) * interval '45 seconds' AS at,
                  ((%(polls)s - 1 - g) * 45 / 60)::int AS tts) p;

INSERT INTO odds_history (entrant_id, odds, type, event_timestamp)
SELECT e.entrant_id, 2 + (g %% 7) / 10.0 + k, t, r.start_time - (%(polls)s / 4 - g) * interval '3 minutes'
FROM entrants e JOIN races r USING (race_id), generate_series(1, %(polls)s / 4) g,
  unnest(ARRAY['fixed_win', 'fixed_place', 'pool_win', 'pool_place']) WITH ORDINALITY AS o(t, k);
"""

# (weight, endpoint label): what a busy client mix looks like - race pages poll entrants, the timeline
# and pools; the landing pages list meetings, races and what is next.
MIX = [
    (30, "/api/entrants"),
    (20, "/api/money-flow-timeline"),
    (10, "/api/race-pools"),
    (10, "/api/races/{id}"),
    (6, "/api/races/navigation"),
    (6, "/api/meetings"),
    (6, "/api/races"),
    (5, "/api/races/upcoming"),
    (4, "/api/races/next-scheduled"),
    (3, "/api/user-alert-configs"),
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _serve(database_url: str, port: int, log_path: str) -> None:
    """The API in its own process, as `raceday run` serves it (production settings, warnings logged)."""
    from raceday.api.app import create_app
    from raceday.core.config import load_settings
    from raceday.core.http_server import make_server
    from raceday.runtime import open_runtime

    with open(log_path, "a", encoding="utf-8") as log_file:
        configure_logging("warn", "production", stream=log_file)
        settings = load_settings(
            node_env="production",
            database_url=database_url,
            nztab_api_url="https://api.tab.co.nz",
            log_level="warn",
        )

        async def serve() -> None:
            async with open_runtime(settings, database_url) as runtime:
                await make_server(create_app(runtime), "127.0.0.1", port).serve()

        asyncio.run(serve())


def seed(url: str, meetings: int, races: int, runners: int, polls: int) -> tuple[date, dict[str, list[str]]]:
    day = datetime.now(NZ).date()
    params = {"day": day, "meetings": meetings, "races": races, "runners": runners, "polls": polls}
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("money_flow_history", "odds_history"):
            conn.execute("SELECT ensure_daily_partition(%s, %s)", (table, day))
        for statement in (SEED + HISTORY).split(";\n"):
            if statement.strip():
                conn.execute(statement, params)
        conn.execute("VACUUM ANALYZE")
        ids = {
            "meetings": [row[0] for row in conn.execute("SELECT meeting_id FROM meetings")],
            "races": [row[0] for row in conn.execute("SELECT race_id FROM races")],
        }
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM money_flow_history), (SELECT count(*) FROM odds_history)"
        ).fetchone()
    sys.stdout.write(f"seeded {meetings} meetings x {races} races x {runners} runners on {day}: ")
    sys.stdout.write(
        f"{counts[0] if counts else 0} money-flow rows, {counts[1] if counts else 0} odds rows\n"
    )
    return day, ids


def _request(
    rng: random.Random, label: str, day: date, ids: dict[str, list[str]], entrants: dict[str, str]
) -> tuple[str, dict[str, str]]:
    race = rng.choice(ids["races"])
    if label == "/api/entrants":
        return label, {"raceId": race}
    if label == "/api/money-flow-timeline":
        return label, {"raceId": race, "entrants": entrants[race], "poolType": "win"}
    if label == "/api/race-pools":
        return label, {"raceId": race}
    if label == "/api/races/{id}":
        return f"/api/races/{race}", {}
    if label == "/api/races/navigation":
        return label, {"raceId": race}
    if label == "/api/meetings":
        return label, {"date": day.isoformat()}
    if label == "/api/races":
        return label, {"meetingId": rng.choice(ids["meetings"])}
    if label == "/api/races/upcoming":
        return label, {"windowMinutes": "480"}
    if label == "/api/user-alert-configs":
        return label, {"userId": f"user-{rng.randrange(20)}"}
    return label, {}


async def load(
    base_url: str,
    day: date,
    ids: dict[str, list[str]],
    entrants: dict[str, str],
    clients: int,
    total: int,
    pace_ms: float = 0.0,
) -> dict[str, list[float]]:
    """Closed loop (each client sends as soon as it has its answer) unless `pace_ms` is set: then each
    client sends one request every `pace_ms`, as dashboards polling on a timer do."""
    labels = [label for weight, label in MIX for _ in range(weight)]
    timings: dict[str, list[float]] = defaultdict(list)
    remaining = total
    errors = 0

    async def client(number: int) -> None:
        nonlocal remaining, errors
        rng = random.Random(number)  # noqa: S311 - a reproducible request mix, not a secret
        next_send = time.perf_counter() + rng.random() * pace_ms / 1000
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            while remaining > 0:
                remaining -= 1
                if pace_ms:
                    await asyncio.sleep(max(0.0, next_send - time.perf_counter()))
                    next_send += pace_ms / 1000
                label = rng.choice(labels)
                path, params = _request(rng, label, day, ids, entrants)
                started = time.perf_counter()
                response = await http.get(path, params=params)
                elapsed = elapsed_ms(started, 3)
                if response.status_code != 200:
                    errors += 1
                timings[label].append(elapsed)

    await asyncio.gather(*(client(n) for n in range(clients)))
    if errors:
        sys.stdout.write(f"WARNING: {errors} responses were not 200\n")
    return timings


async def sequential(base_url: str, path: str, params: dict[str, str], calls: int) -> list[float]:
    samples = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        for _ in range(calls):
            started = time.perf_counter()
            response = await http.get(path, params=params)
            samples.append(elapsed_ms(started, 3))
            response.raise_for_status()
    return samples


def _row(label: str, samples: list[float]) -> str:
    return (
        f"| {label:<36} | {len(samples):>6} | {statistics.median(samples):8.1f} | "
        f"{percentile(samples, 95):8.1f} | {percentile(samples, 99):8.1f} |\n"
    )


def _slow_queries(log_path: str) -> int:
    return sum(1 for line in Path(log_path).read_text("utf-8").splitlines() if '"slow query"' in line)


async def run(args: argparse.Namespace, url: str, log_path: str) -> None:
    await apply_migrations(url)
    started = time.perf_counter()
    day, ids = seed(url, args.meetings, args.races, args.runners, args.polls)
    sys.stdout.write(f"seeding took {time.perf_counter() - started:.1f} s\n")
    with psycopg.connect(url) as conn:
        entrants: dict[str, list[str]] = defaultdict(list)
        for race_id, entrant_id in conn.execute(
            "SELECT race_id, entrant_id FROM entrants ORDER BY runner_number"
        ):
            entrants[race_id].append(entrant_id)
    joined = {race: ",".join(ids_) for race, ids_ in entrants.items()}

    port = _free_port()
    server = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(url, port, log_path), daemon=True
    )
    server.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url) as probe:
            for _ in range(300):
                try:
                    if (await probe.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        await load(base_url, day, ids, joined, args.clients, min(500, args.requests))  # warm-up
        started = time.perf_counter()
        timings = await load(base_url, day, ids, joined, args.clients, args.requests, args.pace_ms)
        wall = time.perf_counter() - started
        race = ids["races"][len(ids["races"]) // 2]
        alone = await sequential(base_url, "/api/entrants", {"raceId": race}, args.sequential)
        async with httpx.AsyncClient(base_url=base_url) as http:
            size = len((await http.get("/api/entrants", params={"raceId": race})).content)
        cached = io.StringIO()
        await cached_figures(args, port, url, ids, joined, server.pid or 0, cached)
    finally:
        server.terminate()
        server.join(10)

    out = sys.stdout
    out.write(
        f"\n{args.requests} requests, {args.clients} concurrent clients"
        f"{f' each every {args.pace_ms:g} ms' if args.pace_ms else ' flat out'}, {wall:.1f} s, "
        f"{args.requests / wall:.0f} req/s\n\n"
    )
    out.write("| endpoint                             |  count |  p50 ms  |  p95 ms  |  p99 ms  |\n")
    out.write("|--------------------------------------|--------|----------|----------|----------|\n")
    for _, label in MIX:
        out.write(_row(label, timings[label]))
    out.write(_row("all", [t for samples in timings.values() for t in samples]))
    out.write(_row(f"/api/entrants, {args.runners} runners, 1 client", alone))
    out.write(
        f"\n/api/entrants body: {size / 1024:.0f} KB uncompressed JSON ({args.runners} runners x "
        f"{2 * 50} history rows)\n"
    )
    out.write(f"slow-query warnings (> 100 ms) logged by the server: {_slow_queries(log_path)}\n")
    out.write(cached.getvalue())


# --- cached and push figures ---------------------------------------------------------------------------

PACED_TARGET_MS = 10.0
# Dashboards show the races nearest the jump: the paced clients share this many.
WATCHED_RACES = 10
FLAT_OUT_TARGET_RPS = 2000.0
PUSH_TARGET_MS = 50.0
# A poll's visible change: runner 1's fixed odds move, in the transaction that bumps the race's version.
NUDGE = """
UPDATE entrants SET fixed_win_odds = fixed_win_odds + 0.01
WHERE race_id = %(race_id)s AND runner_number = 1"""
VERSION = "SELECT version FROM race_versions WHERE race_id = %s"


class RawHttp:
    """One keep-alive HTTP/1.1 connection and nothing else: the benchmark must not measure its client."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> RawHttp:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    def send(self, target: str, gzip: bool = True) -> None:
        assert self.writer is not None
        encoding = "Accept-Encoding: gzip\r\n" if gzip else ""
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\n{encoding}\r\n".encode())

    async def head(self) -> tuple[int, dict[str, str]]:
        assert self.reader is not None
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(lines[0].split()[1]), headers

    async def get(self, target: str) -> tuple[int, bytes]:
        assert self.reader is not None
        self.send(target)
        status, headers = await self.head()
        return status, await self.reader.readexactly(int(headers["content-length"]))

    async def chunks(self) -> AsyncIterator[bytes]:
        """A chunked body's chunks as they arrive (the SSE stream)."""
        assert self.reader is not None
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                return
            yield (await self.reader.readexactly(size + 2))[:-2]

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def _commit(conn: psycopg.AsyncConnection[Any], race_id: str) -> int:
    """One poll-like commit; its version."""
    async with conn.transaction():
        await conn.execute(BUMP_VERSION, {"race_id": race_id})
        await conn.execute(NUDGE, {"race_id": race_id})
        cursor = await conn.execute(VERSION, (race_id,))
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def _committing(url: str, races: list[str], every_s: float, stop: asyncio.Event) -> int:
    """Commits to one of `races` every `every_s` until `stop`, as polls land; how many."""
    commits = 0
    rng = random.Random(7)  # noqa: S311 - a reproducible order, not a secret
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            await _commit(conn, rng.choice(races))
            commits += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
    return commits


def _targets(race_id: str, entrants: str) -> list[str]:
    query = urlencode({"raceId": race_id})
    return [
        f"/api/entrants?{query}",
        f"/api/race-pools?{query}",
        f"/api/money-flow-timeline?{urlencode({'raceId': race_id, 'entrants': entrants, 'limit': 2000})}",
    ]


async def paced_cached(
    port: int,
    url: str,
    races: list[str],
    entrants: dict[str, str],
    clients: int,
    pace_ms: float,
    seconds: float,
) -> tuple[dict[str, list[float]], int]:
    """Each client keeps one race open and polls its three cached answers in turn every `pace_ms`."""
    timings: dict[str, list[float]] = defaultdict(list)
    errors = 0
    stop = asyncio.Event()

    async def client(number: int) -> None:
        nonlocal errors
        race = races[number % min(clients, WATCHED_RACES)]
        labels = ["/api/entrants", "/api/race-pools", "/api/money-flow-timeline"]
        connection = await RawHttp("127.0.0.1", port).open()
        for target in _targets(race, entrants[race]):  # the page's first load: not timed
            await connection.get(target)
        next_send = time.perf_counter() + random.Random(number).random() * pace_ms / 1000  # noqa: S311
        deadline = time.perf_counter() + seconds
        turn = 0
        try:
            while next_send < deadline:
                await asyncio.sleep(max(0.0, next_send - time.perf_counter()))
                next_send += pace_ms / 1000
                target = _targets(race, entrants[race])[turn % 3]
                started = time.perf_counter()
                status, _ = await connection.get(target)
                timings[labels[turn % 3]].append(elapsed_ms(started, 3))
                errors += status != 200
                turn += 1
        finally:
            await connection.close()

    watched = races[: min(clients, WATCHED_RACES)]
    # The pipeline's ladder near the jump: each watched race written every 15 s.
    writer = asyncio.create_task(_committing(url, watched, 15.0 / len(watched), stop))
    await asyncio.gather(*(client(n) for n in range(clients)))
    stop.set()
    commits = await writer
    if errors:
        sys.stdout.write(f"WARNING: {errors} cached responses were not 200\n")
    return timings, commits


async def flat_out(
    port: int, url: str, race_id: str, connections: int, seconds: float
) -> tuple[float, list[float]]:
    """`connections` clients asking one race's /api/entrants back to back, a commit to it every second."""
    target = f"/api/entrants?{urlencode({'raceId': race_id})}"
    samples: list[float] = []
    stop = asyncio.Event()

    async def client() -> None:
        connection = await RawHttp("127.0.0.1", port).open()
        try:
            while not stop.is_set():
                started = time.perf_counter()
                status, _ = await connection.get(target)
                samples.append(elapsed_ms(started, 3))
                if status != 200:
                    raise RuntimeError(f"/api/entrants answered {status}")
        finally:
            await connection.close()

    writer = asyncio.create_task(_committing(url, [race_id], 1.0, stop))
    tasks = [asyncio.create_task(client()) for _ in range(connections)]
    await asyncio.sleep(0.5)  # warm: connections open, the race cached
    samples.clear()
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    count = len(samples)
    wall = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*tasks, writer)
    return count / wall, samples[:count]


async def push_latency(port: int, url: str, race_id: str, streams: int, commits: int) -> list[float]:
    """Commit, then time until each of `streams` open streams has the event carrying that version."""
    seen: list[dict[int, float]] = [{} for _ in range(streams)]
    arrived = asyncio.Event()

    async def follow(index: int, connection: RawHttp) -> None:
        # raceday sends each event as one chunk, its id on its second line: read as it lands.
        async for chunk in connection.chunks():
            if chunk.startswith(b"event: entrants\nid: "):
                seen[index][int(chunk[20 : chunk.index(b"\n", 20)])] = time.perf_counter()
                arrived.set()

    connections = []
    for _ in range(streams):
        connection = await RawHttp("127.0.0.1", port).open()
        connection.send(f"/api/races/{race_id}/stream", gzip=False)
        status, _ = await connection.head()
        if status != 200:
            raise RuntimeError(f"the stream answered {status}")
        connections.append(connection)
    followers = [asyncio.create_task(follow(i, c)) for i, c in enumerate(connections)]
    latencies: list[float] = []
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            for _ in range(commits):
                version = await _commit(conn, race_id)
                committed = time.perf_counter()
                while not all(version in got for got in seen):
                    arrived.clear()
                    await asyncio.wait_for(arrived.wait(), 5)
                latencies += [(got[version] - committed) * 1000 for got in seen]
                # Polls of one race are 15 s apart: let each event go out before the next commit.
                await asyncio.sleep(0.02)
    finally:
        for task in followers:
            task.cancel()
        for connection in connections:
            await connection.close()
    return latencies


def _cpu_s(pid: int) -> float:
    """The process's CPU time so far (Linux): per request, it is what the load of the machine leaves alone."""
    fields = Path(f"/proc/{pid}/stat").read_text("ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


async def cached_figures(
    args: argparse.Namespace,
    port: int,
    url: str,
    ids: dict[str, list[str]],
    joined: dict[str, str],
    server_pid: int,
    out: TextIO,
) -> None:
    races = ids["races"]
    timings, commits = await paced_cached(port, url, races, joined, args.clients, 500.0, args.cached_seconds)
    every = [t for samples in timings.values() for t in samples]
    p95 = percentile(every, 95)
    out.write(
        f"\nCached, {args.clients} clients each polling its race every 500 ms (entrants, pools, timeline "
        f"in turn; gzip; {WATCHED_RACES} races), {args.cached_seconds:g} s, {commits} commits meanwhile:\n\n"
    )
    out.write("| endpoint                             |  count |  p50 ms  |  p95 ms  |  p99 ms  |\n")
    out.write("|--------------------------------------|--------|----------|----------|----------|\n")
    for label, samples in timings.items():
        out.write(_row(label, samples))
    out.write(_row("all", every))
    out.write(f"p95 {p95:.1f} ms, target <= {PACED_TARGET_MS:g} ms: {_verdict(p95 <= PACED_TARGET_MS)}\n")

    hot = races[len(races) // 2]
    cpu = _cpu_s(server_pid)
    rate, samples = await flat_out(port, url, hot, args.hot_connections, args.cached_seconds)
    cpu_ms = (_cpu_s(server_pid) - cpu) * 1000 / (rate * args.cached_seconds)
    out.write(
        f"\nFlat out, one hot race's /api/entrants (gzip), {args.hot_connections} connections, a commit "
        f"to it every second: {rate:.0f} req/s (p50 {statistics.median(samples):.1f} ms, p95 "
        f"{percentile(samples, 95):.1f} ms), target >= {FLAT_OUT_TARGET_RPS:g} req/s: "
        f"{_verdict(rate >= FLAT_OUT_TARGET_RPS)}\n"
        f"server CPU per request {cpu_ms:.3f} ms: {1000 / cpu_ms:.0f} req/s for one free core\n"
    )

    latencies = await push_latency(port, url, hot, args.streams, args.push_commits)
    median, p95 = statistics.median(latencies), percentile(latencies, 95)
    out.write(
        f"\nPush, commit -> SSE event with that version, {args.streams} streams on the race, "
        f"{args.push_commits} commits: median {median:.1f} ms, p95 {p95:.1f} ms, "
        f"max {max(latencies):.1f} ms; "
        f"target <= {PUSH_TARGET_MS:g} ms: median {_verdict(median <= PUSH_TARGET_MS)}, "
        f"p95 {_verdict(p95 <= PUSH_TARGET_MS)}\n"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--pace-ms",
        type=float,
        default=0.0,
        help="each client sends one request per this many ms (0: flat out)",
    )
    parser.add_argument("--meetings", type=int, default=50)
    parser.add_argument("--races", type=int, default=10)
    parser.add_argument("--runners", type=int, default=16)
    parser.add_argument("--polls", type=int, default=200, help="money-flow rows per runner (odds: as many)")
    parser.add_argument("--sequential", type=int, default=300, help="single-client /api/entrants calls")
    parser.add_argument("--cached-seconds", type=float, default=20.0, help="length of each cached run")
    parser.add_argument("--hot-connections", type=int, default=16, help="connections on the hot race")
    parser.add_argument("--streams", type=int, default=20, help="SSE streams open on the hot race")
    parser.add_argument("--push-commits", type=int, default=200, help="commits timed to their SSE event")


def run_load(_: Settings, args: argparse.Namespace) -> int:
    """Seed a private PostgreSQL, serve the API from another process, load it and print the figures."""
    configure_logging("warn", "production", stream=io.StringIO())
    base = Path(tempfile.mkdtemp(prefix="raceday-bench-"))
    base.chmod(0o755)
    database = EmbeddedPostgres(base, fast=True)
    try:
        url = database.start()
        asyncio.run(run(args, url, str(base / "api.log")))
    finally:
        database.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0
