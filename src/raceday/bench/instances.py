"""`raceday bench instances`: polls per second and the ladder's lateness with 1, 2 and 3 `raceday worker`
instances sharing one database and one simulator.

Each run gets a fresh database on a private PostgreSQL 18 (fsync off) and a fresh simulated busy day at
`--speed`; the instances (one worker process each) poll it, and after `--warmup` (discovery polls every
race once) `--seconds` of wall time are measured. Lateness is how
long after its ladder time each poll reached the simulator, from the simulator's own request log:
the gap between two polls of a race minus the interval the ladder gave it, in wall milliseconds. Runs
alternate between instance counts (1, 2, 3, 1, 2, 3, ...); the table shows medians over rounds. Not a
test: nothing is asserted.

    raceday bench instances [--instances 1,2,3] [--rounds 2] [--warmup 20] [--seconds 45] [--speed 20]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from raceday.bench.stats import percentile
from raceday.core.config import Settings
from raceday.core.nztime import nz_day
from raceday.db.embedded import EmbeddedPostgres
from raceday.db.migrate import apply_migrations
from raceday.db.partitions import PartitionKeeper
from raceday.domain.schedule import poll_interval_s
from raceday.simulator import DayConfig, serve_simulator

BUSY_DAY = "NZ:T=6,NZ:H=4,AUS:T=14,AUS:H=8"


def _database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _start(url: str, simulator_url: str, concurrency: int) -> subprocess.Popen[bytes]:
    env = os.environ | {"DATABASE_URL": url, "NZTAB_API_URL": simulator_url, "LOG_LEVEL": "error"}
    command = [sys.executable, "-m", "raceday", "worker", "--processes", "1"]
    return subprocess.Popen(
        [*command, "--concurrency", str(concurrency), "--simulator-clock"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )


def lateness_ms(
    polls: dict[str, list[datetime]], starts: dict[str, datetime], speed: float, since: datetime
) -> list[float]:
    """Per poll after a race's first one since `since`: how late after its ladder time, in wall ms."""
    late: list[float] = []
    for race_id, times in polls.items():
        for earlier, later in itertools.pairwise(sorted(times)):
            if earlier < since:
                continue
            interval = poll_interval_s((starts[race_id] - earlier).total_seconds())
            late.append(max(0.0, ((later - earlier).total_seconds() - interval) / speed * 1000))
    return late


async def _run(
    base_url: str, run: int, instances: int, args: argparse.Namespace, kept_days: int
) -> dict[str, float]:
    name = f"raceday_bench_{run}"
    async with await psycopg.AsyncConnection.connect(base_url, autocommit=True) as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')
    url = _database(base_url, name)
    await apply_migrations(url)
    async with serve_simulator(seed=run, speed=args.speed, meetings=DayConfig.parse(BUSY_DAY)) as simulator:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await PartitionKeeper().ensure_days_before(conn, nz_day(simulator.clock.now()), kept_days)
        processes = [_start(url, simulator.base_url, args.concurrency) for _ in range(instances)]
        try:
            # The first minutes poll every race of the day once (discovery): not the steady state.
            await asyncio.sleep(args.warmup)
            since = simulator.clock.now()
            started = time.monotonic()
            await asyncio.sleep(args.seconds)
            until = simulator.clock.now()
            wall_s = time.monotonic() - started
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            # Off the event loop: the simulator runs on it and answers the polls the instances finish.
            for process in processes:
                await asyncio.to_thread(process.wait, 60)
        events = [
            r
            for r in simulator.requests
            if r.endpoint == "events" and r.status == 200 and since <= r.sim_time < until
        ]
        starts = {race.race_id: race.start for race in simulator.day.races}
    polls: dict[str, list[datetime]] = defaultdict(list)
    for request in events:
        polls[request.path.rsplit("/", 1)[-1]].append(request.sim_time)
    late = lateness_ms(polls, starts, args.speed, since) or [0.0]
    return {
        "polls_per_s": len(events) / wall_s,
        "late_p50_ms": statistics.median(late),
        "late_p95_ms": percentile(late, 95),
        "late_max_ms": max(late),
    }


async def _measure(url: str, args: argparse.Namespace, kept_days: int) -> dict[int, list[dict[str, float]]]:
    results: dict[int, list[dict[str, float]]] = defaultdict(list)
    run = 0
    for _ in range(args.rounds):
        for instances in args.instances:
            run += 1
            figures = await _run(url, run, instances, args, kept_days)
            results[instances].append(figures)
            sys.stderr.write(f"run {run}: {instances} instance(s) {figures}\n")
    return results


def render(results: dict[int, list[dict[str, float]]], args: argparse.Namespace) -> str:
    lines = [
        f"raceday worker instances on one database: busy simulated day at {args.speed:g}x, "
        f"{args.seconds:g} s per run, medians of {args.rounds} alternating rounds",
        "",
        f"{'instances':>9} {'polls/s':>9} {'late p50 ms':>12} {'late p95 ms':>12} {'late max ms':>12}",
    ]
    for instances, runs in sorted(results.items()):
        median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        lines.append(
            f"{instances:>9} {median['polls_per_s']:>9.1f} {median['late_p50_ms']:>12.0f}"
            f" {median['late_p95_ms']:>12.0f} {median['late_max_ms']:>12.0f}"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--instances", default="1,2,3", help="instance counts to compare, e.g. 1,2,3")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds")
    parser.add_argument("--seconds", type=float, default=45.0, help="wall seconds per run")
    parser.add_argument("--warmup", type=float, default=20.0, help="wall seconds before measuring")
    parser.add_argument("--speed", type=float, default=20.0, help="the simulator's speed")
    parser.add_argument("--concurrency", type=int, default=5, help="polls at once per instance")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Every run on a private PostgreSQL; prints the table."""
    args.instances = [int(part) for part in str(args.instances).split(",")]
    base = Path(tempfile.mkdtemp(prefix="raceday-bench-"))
    base.chmod(0o755)
    server = EmbeddedPostgres(base, database="raceday_bench", fast=True)
    try:
        url = server.start()
        results = asyncio.run(_measure(url, args, settings.retention_days))
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
    sys.stdout.write(f"{render(results, args)}\n")
    return 0
