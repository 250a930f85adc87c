"""`raceday bench`: the pipeline against the simulator on loopback, at 1, 5, 10 and 100 races at once.

Each repetition moves the simulator's clock on 15 s, so every poll is a new snapshot and writes
history, as in production. It starts its own throw-away PostgreSQL 18 (fsync off), so numbers
measure the code, not the disk, and nothing of the user's is touched.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from raceday.bench.stats import summarise
from raceday.core.config import Settings
from raceday.core.log import get_logger
from raceday.core.timing import elapsed_ms
from raceday.db.embedded import EmbeddedPostgres
from raceday.db.migrate import apply_migrations
from raceday.db.pool import PoolConfig, open_pool
from raceday.nztab.client import NzTabClient
from raceday.pipeline.processor import BATCH_BUDGET_MS, RACE_BUDGET_MS, PollResult, RaceProcessor
from raceday.pipeline.workers import WorkerPool
from raceday.simulator import DayConfig, ManualClock, serve_simulator

log = get_logger(__name__)

ANCHOR = datetime(2026, 3, 14, 1, 0, tzinfo=UTC)
# A busy Saturday: enough meetings for 100 races open at once.
BUSY_DAY = "NZ:T=6,NZ:H=4,AUS:T=14,AUS:H=8"
METRICS = ("fetch_ms", "transform_ms", "write_ms", "total_ms")
# Scenario keys for the recording comparison (one race, with and without keeping raw responses).
RECORDING_ON, RECORDING_OFF = -1, -2


@dataclass
class Scenario:
    races: int
    walls_ms: list[float] = field(default_factory=list)
    polls: list[PollResult] = field(default_factory=list)

    def stats(self) -> dict[str, dict[str, float]]:
        table = {metric: summarise([getattr(p, metric) for p in self.polls]) for metric in METRICS}
        table["transform+write_ms"] = summarise([p.transform_ms + p.write_ms for p in self.polls])
        table["wall_ms"] = summarise(self.walls_ms)
        return table


def targets(scenarios: dict[int, Scenario]) -> list[tuple[str, float, float, bool]]:
    """(target, measured, limit, met) for the spec's budgets and our tighter ones."""
    checks: list[tuple[str, float, float]] = []
    for count, scenario in scenarios.items():
        if count < 1:
            continue
        stats = scenario.stats()
        checks.append((f"{count} races: p95 total per race (spec)", stats["total_ms"]["p95"], RACE_BUDGET_MS))
        checks.append((f"{count} races: median transform+write", stats["transform+write_ms"]["median"], 20))
    if 5 in scenarios:
        wall = scenarios[5].stats()["wall_ms"]["median"]
        checks += [
            ("5 races: median wall (spec)", wall, BATCH_BUDGET_MS),
            ("5 races: median wall", wall, 100),
        ]
    if 100 in scenarios:
        checks.append(("100 races: median wall", scenarios[100].stats()["wall_ms"]["median"], 2000))
    if RECORDING_ON in scenarios:
        on, off = (scenarios[key].stats()["total_ms"]["median"] for key in (RECORDING_ON, RECORDING_OFF))
        checks.append(("recording raw responses: added to a poll's median", round(on - off, 2), 1))
    return [(name, value, limit, value <= limit) for name, value, limit in checks]


async def _measure(
    settings: Settings, database_url: str, sizes: list[int], repeats: int
) -> dict[int, Scenario]:
    await apply_migrations(database_url)
    clock = ManualClock(ANCHOR)
    workers = WorkerPool(settings.max_worker_threads)
    pool = await open_pool(database_url, PoolConfig(max=settings.db_pool_max))
    try:
        await workers.warm_up()
        async with (
            serve_simulator(
                seed=settings.simulator_seed, clock=clock, meetings=DayConfig.parse(BUSY_DAY)
            ) as sim,
            NzTabClient.from_settings(settings, base_url=sim.base_url) as client,
        ):
            open_races = [
                r.race_id for r in sim.day.races if r.status(ANCHOR) == "Open" and r.abandon_at is None
            ]
            if len(open_races) < max(sizes):
                raise RuntimeError(f"only {len(open_races)} open races in the simulated day")
            processor = RaceProcessor(client, workers, pool, clock)
            # One untimed round warms connections and creates partitions.
            await asyncio.gather(*(processor.process(race_id) for race_id in open_races[: max(sizes)]))
            results: dict[int, Scenario] = {}
            for size in sizes:
                scenario = Scenario(size)
                for _ in range(repeats):
                    clock.advance(15)
                    started = time.perf_counter()
                    polls = await asyncio.gather(*(processor.process(r) for r in open_races[:size]))
                    scenario.walls_ms.append(elapsed_ms(started, 3))
                    failed = [p for p in polls if p.outcome != "ok"]
                    if failed:
                        raise RuntimeError(f"{len(failed)} polls failed: {failed[0].error}")
                    scenario.polls.extend(polls)
                results[size] = scenario
                log.info("bench scenario done", races=size, **scenario.stats()["wall_ms"])
            unrecorded = RaceProcessor(client, workers, pool, clock, record=False)
            with_recording, without = Scenario(1), Scenario(1)
            for _ in range(max(repeats, 20)):  # alternating, one race at a time: recording's own cost
                for scenario, poller in ((with_recording, processor), (without, unrecorded)):
                    clock.advance(15)
                    poll = await poller.process(open_races[0])
                    scenario.polls.append(poll)
                    scenario.walls_ms.append(poll.total_ms)
            results[RECORDING_ON] = with_recording
            results[RECORDING_OFF] = without
            return results
    finally:
        await pool.close()
        workers.close()


def render(scenarios: dict[int, Scenario]) -> str:
    lines = [f"{'races':>5} {'metric':<20} {'min':>9} {'median':>9} {'p95':>9} {'p99':>9}"]
    for count, scenario in scenarios.items():
        for metric, stats in scenario.stats().items():
            lines.append(
                f"{_label(count):>5} {metric:<20} {stats['min']:>9.2f} {stats['median']:>9.2f}"
                f" {stats['p95']:>9.2f} {stats['p99']:>9.2f}"
            )
    lines.append("")
    for name, value, limit, met in targets(scenarios):
        lines.append(f"{'met ' if met else 'MISSED'} {name}: {value:.2f} ms (target ≤ {limit} ms)")
    return "\n".join(lines)


def _label(count: int) -> str:
    return {RECORDING_ON: "1 rec", RECORDING_OFF: "1 off"}.get(count, str(count))


def save(scenarios: dict[int, Scenario], out_dir: Path, repeats: int) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    document: dict[str, Any] = {
        "when": stamp,
        "repeats": repeats,
        "scenarios": {_label(count): scenario.stats() for count, scenario in scenarios.items()},
        "targets": [
            {"target": name, "measured_ms": value, "limit_ms": limit, "met": met}
            for name, value, limit, met in targets(scenarios)
        ],
    }
    json_path = out_dir / f"pipeline-{stamp}.json"
    json_path.write_text(json.dumps(document, indent=2))
    csv_path = out_dir / f"pipeline-{stamp}.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["races", "metric", "min", "median", "p95", "p99"])
        for count, scenario in scenarios.items():
            for metric, stats in scenario.stats().items():
                writer.writerow(
                    [_label(count), metric, stats["min"], stats["median"], stats["p95"], stats["p99"]]
                )
    return json_path, csv_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--races", type=_sizes, default=[1, 5, 10, 100], help="races at once, e.g. 1,5,10,100"
    )
    parser.add_argument("--repeats", type=int, default=10, help="batches per scenario")
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"), help="where JSON and CSV go")


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("expected comma-separated race counts, e.g. 1,5,10,100") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("race counts are positive")
    return sizes


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Runs every scenario on a private PostgreSQL and prints the report."""
    sizes, repeats, out_dir = args.races, args.repeats, args.out
    base = Path(tempfile.mkdtemp(prefix="raceday-bench-"))
    base.chmod(0o755)
    server = EmbeddedPostgres(base, database="raceday_bench", fast=True)
    try:
        url = server.start()
        scenarios = asyncio.run(_measure(settings, url, sizes, repeats))
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
    json_path, csv_path = save(scenarios, out_dir, repeats)
    sys.stdout.write(f"{render(scenarios)}\n\nsaved {json_path} and {csv_path}\n")
    return 0
