"""`raceday bench pipeline`: polls through the queue, 1, 5, 10 and 100 races at once, and recording's cost.

Processes, as `raceday worker` runs them: `--processes` poll workers (`PollWorkers`) do whole polls with
their own pools; "main" is the bench's main thread, which makes each batch's races due in one statement
and awaits their end (the scheduling role). The simulator has a process of its own and the
commits are watched by a thread of the bench with its own connection: both are reported, never counted,
so main's figure is scheduling alone and NZ TAB's stand-in costs nothing it would not in production.

Each batch moves the simulator's data clock 15 s on (shared memory), so every poll is a new snapshot
and writes history; it makes each race's poll due now, in one statement, and lasts until every poll has
ended. Its wall time runs from that statement to the last poll's commit (the `race_changed` NOTIFY).
Polls are due at once, so workers take them on NOTIFY: this is capacity, not the workers' look every
second for polls due later (that lateness is `raceday bench instances`). The workers' data clock all but
stands still at the anchor, so each poll's next one falls due hours later, and the day's periodic slots,
marked done first, never run discovery into a batch. A poll's queueing (due to taken) and own run (taken
to its next due time stored, in its transaction) are sent as NOTIFYs, at the database's clock, by a
trigger of this throw-away database.

CPU per race by process comes from /proc around each batch, in nanoseconds (schedstat of every thread:
utime/stime count 10 ms ticks); PostgreSQL is the postmaster and its children (the watcher's backend
aside) plus children reaped meanwhile. Sizes alternate, each round's order rotated, so a shared
machine's drift spreads over all of them; tables give medians over rounds.

Recording is measured apart, in this process (workers stopped, one pool
connection): alternating pairs of polls with and without it, in ABBA order, reporting the median of the
per-pair differences in wall time and CPU (this process's, and its connection's backend's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import ctypes
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from raceday.bench.instances import BUSY_DAY
from raceday.bench.processes import serve_until_closed, spawned
from raceday.bench.stats import median_ci, percentile, summarise
from raceday.core.config import Settings
from raceday.core.log import configure_logging, get_logger
from raceday.core.metrics import WorkersCollector
from raceday.core.nztime import nz_day
from raceday.db.embedded import EmbeddedPostgres
from raceday.db.listen import CHANNEL, parse_payload
from raceday.db.migrate import apply_migrations
from raceday.db.partitions import PartitionKeeper
from raceday.db.poll_queue import CHANNEL as POLLS_CHANNEL
from raceday.db.pool import PoolConfig, open_pool
from raceday.nztab.client import NzTabClient
from raceday.pipeline.poll_workers import DataClock, WorkerSpec, running_workers
from raceday.pipeline.processor import BATCH_BUDGET_MS, RACE_BUDGET_MS, PollResult, RaceProcessor
from raceday.pipeline.queue import MARK_DONE, due_slots
from raceday.simulator import DayConfig, serve_simulator

log = get_logger(__name__)

ANCHOR = datetime(2026, 3, 14, 1, 0, tzinfo=UTC)
STEP_S = 15.0
"""Data seconds between two polls of a race: the ladder's shortest step."""
HISTORY_STEP_S = 60.0
"""Between two of a race's polls before the measured ones: the ladder's step over 15 minutes out."""
WORKER_SPEED = 1e-3
"""The workers' data clock: 15 data seconds are 4 wall hours, so no poll's next one falls due in a run."""
POLL_EVENTS = "bench_poll"
BATCH_TIMEOUT_S = 120.0
WARMUP_BATCHES = 2
# A poll made due (by the bench), taken by a worker, and released with its next due time or forgotten.
POLL_EVENT_TRIGGER = f"""
CREATE FUNCTION bench_poll_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  kind text := 'due';
BEGIN
  IF TG_OP = 'DELETE' OR (OLD.worker_id IS NOT NULL AND NEW.worker_id IS NULL) THEN
    kind := 'finished';
  ELSIF TG_OP = 'UPDATE' AND OLD.worker_id IS NULL AND NEW.worker_id IS NOT NULL THEN
    kind := 'started';
  END IF;
  PERFORM pg_notify('{POLL_EVENTS}',
    coalesce(NEW.race_id, OLD.race_id) || ' ' || kind || ' ' || extract(epoch FROM clock_timestamp()));
  RETURN NULL;
END $$;
CREATE TRIGGER bench_poll_event AFTER INSERT OR UPDATE OR DELETE ON race_polls FOR EACH ROW
  EXECUTE FUNCTION bench_poll_event();
"""
MAKE_DUE = """
INSERT INTO race_polls (race_id, start_time, due_at)
SELECT race_id, start_time, now() FROM unnest(%(race_ids)s::text[], %(starts)s::timestamptz[])
  AS r(race_id, start_time)
ON CONFLICT (race_id) DO UPDATE SET start_time = excluded.start_time, due_at = excluded.due_at
"""
COMMITTED = "SELECT count(*) FROM race_snapshots WHERE race_id = ANY(%s) AND generated_time = %s"
WORKERS_REGISTERED = "SELECT count(*) FROM poll_workers"


# --- CPU from /proc ---------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def thread_cpu_ns(pid: int, tid: int) -> int:
    """CPU a thread has used, in ns (schedstat: utime/stime count 10 ms ticks); 0 once it is gone."""
    try:
        return int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return 0


def cpu_ns(pid: int) -> int:
    """CPU a process's live threads have used, in ns."""
    try:
        return sum(thread_cpu_ns(pid, int(tid)) for tid in os.listdir(f"/proc/{pid}/task"))
    except FileNotFoundError:
        return 0


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat from field 3 (state) on: the command name may hold spaces."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def children(parent: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                if int(_stat(int(entry.name))[1]) == parent:
                    found.append(int(entry.name))
    return found


def cluster_cpu_ns(postmaster: int, excluded: frozenset[int]) -> int:
    """The postmaster, its live children but `excluded`, and those it reaped (cutime/cstime)."""
    fields = _stat(postmaster)
    reaped = (int(fields[13]) + int(fields[14])) * 1_000_000_000 // CLOCK_TICKS
    live = sum(cpu_ns(pid) for pid in children(postmaster) if pid not in excluded)
    return cpu_ns(postmaster) + live + reaped


def postmaster_pid(server: EmbeddedPostgres) -> int:
    return int((server.data_dir / "postmaster.pid").read_text().split()[0])


# --- the simulator in its own process, on a clock this process moves -----------------------------------


class SharedClock:
    """Anchor plus seconds kept in shared memory: the simulator's process reads what the bench sets."""

    def __init__(self, anchor: datetime, offset: ctypes.c_double) -> None:
        self.anchor = anchor
        self.offset = offset

    def now(self) -> datetime:
        return self.anchor + timedelta(seconds=self.offset.value)

    def advance(self, seconds: float) -> datetime:
        self.offset.value += seconds
        return self.now()


@dataclass(frozen=True)
class SimulatorHandle:
    base_url: str
    pid: int
    races: list[tuple[str, str]]
    """(race id, start) of the races open at the anchor, in the day's order."""


def _simulator_main(settings: Settings, offset: ctypes.c_double, pipe: Connection) -> None:
    """The simulator process: serves until the bench closes its end of the pipe (or dies)."""
    configure_logging(settings.log_level, settings.node_env)
    asyncio.run(_serve_simulator(settings.simulator_seed, SharedClock(ANCHOR, offset), pipe))


async def _serve_simulator(seed: int, clock: SharedClock, pipe: Connection) -> None:
    async with serve_simulator(seed=seed, clock=clock, meetings=DayConfig.parse(BUSY_DAY)) as sim:
        races = [
            (race.race_id, race.start.isoformat())
            for race in sim.day.races
            if race.status(ANCHOR) == "Open" and race.abandon_at is None
        ]
        await serve_until_closed(pipe, (sim.base_url, races))


@contextlib.asynccontextmanager
async def simulator_process(settings: Settings, clock: SharedClock) -> AsyncIterator[SimulatorHandle]:
    args = (settings, clock.offset)
    async with spawned(_simulator_main, args, "raceday bench simulator") as (pid, (base_url, races)):
        yield SimulatorHandle(base_url, pid, races)


# --- batches of polls -----------------------------------------------------------------------------


class Observer:
    """LISTENs for each poll's commit and its queue events (DB times) on a thread and connection of its
    own, so the main thread's CPU is the scheduling alone; the thread's and its backend's are reported."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.commits: dict[str, float] = {}
        """Race id -> perf_counter when its commit was announced."""
        self.events: dict[str, dict[str, float]] = {}
        """Race id -> event (due, started, finished) -> epoch seconds."""
        self.backend_pid = 0
        self.thread_id = 0
        self._lock = threading.Lock()
        self._waiting: tuple[list[str], asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._listening = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="bench observer", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._listening.wait(10):
            raise RuntimeError("the bench's listener did not start")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def cpu_ns(self) -> int:
        return thread_cpu_ns(os.getpid(), self.thread_id) + cpu_ns(self.backend_pid)

    def _listen(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            conn.execute(f"LISTEN {POLL_EVENTS}")
            self.backend_pid = conn.info.backend_pid
            self.thread_id = threading.get_native_id()
            self._listening.set()
            while not self._stop.is_set():
                for note in conn.notifies(timeout=0.2):
                    self._note(note.channel, note.payload, time.perf_counter())

    def _note(self, channel: str, payload: str, received: float) -> None:
        with self._lock:
            if channel == CHANNEL:
                parsed = parse_payload(payload)
                if parsed is not None:
                    self.commits.setdefault(parsed[0], received)
            else:
                race_id, kind, epoch = payload.split()
                self.events.setdefault(race_id, {})[kind] = float(epoch)
            self._wake_if_ended()

    def _wake_if_ended(self) -> None:
        if self._waiting is None:
            return
        race_ids, loop, ended = self._waiting
        if all("finished" in self.events.get(race_id, {}) for race_id in race_ids):
            self._waiting = None
            loop.call_soon_threadsafe(ended.set)

    def reset(self) -> None:
        with self._lock:
            self.commits.clear()
            self.events.clear()

    async def until_ended(self, race_ids: list[str]) -> None:
        ended = asyncio.Event()
        with self._lock:
            self._waiting = (race_ids, asyncio.get_running_loop(), ended)
            self._wake_if_ended()
        await ended.wait()


@dataclass(frozen=True)
class Meter:
    """The processes of a batch besides this one, read in ns."""

    postmaster: int
    observer: Observer
    workers: tuple[int, ...]
    simulator: int

    def sample(self) -> dict[str, int]:
        sample = {f"worker {pid}": cpu_ns(pid) for pid in self.workers}
        sample["postgres"] = cluster_cpu_ns(self.postmaster, frozenset({self.observer.backend_pid}))
        sample["simulator"] = cpu_ns(self.simulator)
        sample["observer"] = self.observer.cpu_ns()
        return sample


POLL_SECONDS = "raceday_poll_duration_seconds"
OWN_WORK = ("fetch", "transform", "write")


class PollStages:
    """The workers' own timing of their polls' stages (`PollResult`), summed over every poll so far from
    the files their metrics go to: the bench reads them around a batch. The database sees when a poll is
    taken and released; between the two, a poll may also wait for a write slot (`WRITES_AT_ONCE`), which
    only the worker knows."""

    def __init__(self, directory: str) -> None:
        self.collector = WorkersCollector(directory, frozenset({POLL_SECONDS}))

    def sample(self) -> dict[str, float]:
        """Stage -> seconds, summed over every poll so far."""
        return {
            sample.labels["stage"]: sample.value
            for metric in self.collector.collect()
            for sample in metric.samples
            if sample.name == f"{POLL_SECONDS}_sum"
        }


@dataclass
class Scenario:
    races: int
    walls_ms: list[float] = field(default_factory=list)
    queue_ms: list[float] = field(default_factory=list)
    run_ms: list[float] = field(default_factory=list)
    cpu_ms: dict[str, list[float]] = field(default_factory=dict)
    """Process -> CPU per race, one value per batch."""
    stage_ms: dict[str, list[float]] = field(default_factory=dict)
    """Poll stage -> its mean over the batch's polls, one value per batch (`PollStages`)."""
    deferred: int = 0
    committed: int = 0

    def stats(self) -> dict[str, dict[str, float]]:
        return {
            "wall_ms": summarise(self.walls_ms),
            "queue_ms": summarise(self.queue_ms),
            "run_ms": summarise(self.run_ms),
        }

    def cpu_stats(self) -> dict[str, dict[str, float]]:
        return {label: summarise(values) for label, values in self.cpu_ms.items()}

    def stage_stats(self) -> dict[str, dict[str, float]]:
        return {stage: summarise(values) for stage, values in self.stage_ms.items()}


@dataclass
class Bench:
    """What every batch shares: the queue, the listener, the bench's own connection and the clocks."""

    pool: AsyncConnectionPool
    observer: Observer
    clock: SharedClock
    meter: Meter
    stages: PollStages
    races: list[tuple[str, str]]

    async def batch(self, size: int, step_s: float = STEP_S) -> Scenario:
        """One batch of `size` races at once, `step_s` of data time after the last; raises unless every
        poll committed."""
        races = self.races[:size]
        ids = [race_id for race_id, _ in races]
        data_time = self.clock.advance(step_s)
        due = {"race_ids": ids, "starts": [start for _, start in races]}
        self.observer.reset()
        before = self.meter.sample()
        stages_before = self.stages.sample()
        main_before = time.thread_time()
        started = time.perf_counter()
        async with self.pool.connection() as conn:
            await conn.execute(MAKE_DUE, due)
            await conn.execute("SELECT pg_notify(%s, '')", (POLLS_CHANNEL,))
        await asyncio.wait_for(self.observer.until_ended(ids), BATCH_TIMEOUT_S)
        main_cpu_s = time.thread_time() - main_before
        after = self.meter.sample()
        stages_after = self.stages.sample()
        async with self.pool.connection() as conn:
            cursor = await conn.execute(COMMITTED, (ids, data_time))
            row = await cursor.fetchone()
        committed = row[0] if row else 0
        announced = [self.observer.commits[race_id] for race_id in ids if race_id in self.observer.commits]
        if committed != size or len(announced) != size:
            raise RuntimeError(
                f"{size} races: {committed} polls committed, {len(announced)} announced (see the worker logs)"
            )
        scenario = Scenario(size, deferred=size, committed=committed)
        scenario.walls_ms.append(round((max(announced) - started) * 1000, 3))
        for race_id in ids:
            events = self.observer.events[race_id]
            scenario.queue_ms.append(round((events["started"] - events["due"]) * 1000, 3))
            scenario.run_ms.append(round((events["finished"] - events["started"]) * 1000, 3))
        per_race = {label: (after[label] - before[label]) / 1e6 / size for label in before}
        workers = sum(value for label, value in per_race.items() if label.startswith("worker "))
        main = main_cpu_s * 1000 / size
        for label, value in {
            "main": main,
            **{label: value for label, value in per_race.items() if label.startswith("worker ")},
            "workers": workers,
            "postgres": per_race["postgres"],
            "total": main + workers + per_race["postgres"],
            "simulator": per_race["simulator"],
            "observer": per_race["observer"],
        }.items():
            scenario.cpu_ms[label] = [round(value, 4)]
        spent = {
            stage: (stages_after.get(stage, 0.0) - stages_before.get(stage, 0.0)) * 1000 / size
            for stage in (*OWN_WORK, "wait")
        }
        spent["own work"] = sum(spent[stage] for stage in OWN_WORK)
        for stage, value in spent.items():
            scenario.stage_ms[stage] = [round(value, 4)]
        return scenario


def merge(into: Scenario, batch: Scenario) -> None:
    into.walls_ms += batch.walls_ms
    into.queue_ms += batch.queue_ms
    into.run_ms += batch.run_ms
    for label, values in batch.cpu_ms.items():
        into.cpu_ms.setdefault(label, []).extend(values)
    for stage, values in batch.stage_ms.items():
        into.stage_ms.setdefault(stage, []).extend(values)
    into.deferred += batch.deferred
    into.committed += batch.committed


def rounds(sizes: list[int], repeats: int) -> Iterator[int]:
    """Every size once per round, each round's order rotated by one: no size always runs first."""
    for round_ in range(repeats):
        shift = round_ % len(sizes)
        yield from sizes[shift:] + sizes[:shift]


async def _wait_for_workers(pool: AsyncConnectionPool, processes: int) -> None:
    for _ in range(600):
        async with pool.connection() as conn:
            cursor = await conn.execute(WORKERS_REGISTERED)
            row = await cursor.fetchone()
        if row is not None and row[0] >= processes:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the poll workers did not start")


async def _prepare(pool: AsyncConnectionPool, kept_days: int) -> None:
    """The poll events' trigger, the day's periodic slots marked done (no discovery in a batch), and the
    partitions of the `kept_days` before the bench's day, as a service keeps them: a history statement
    that plans or locks every partition costs little on a new database and a lot a month later."""
    async with pool.connection() as conn:
        await conn.execute(POLL_EVENT_TRIGGER)
        for job, slot in due_slots(ANCHOR):
            await conn.execute(MARK_DONE, (job, slot))
        await PartitionKeeper().ensure_days_before(conn, nz_day(ANCHOR), kept_days)


async def _batches(
    settings: Settings,
    url: str,
    args: argparse.Namespace,
    pool: AsyncConnectionPool,
    clock: SharedClock,
    simulator: SimulatorHandle,
    postmaster: int,
) -> tuple[dict[int, Scenario], list[int]]:
    sizes: list[int] = args.races
    if len(simulator.races) < max(sizes):
        raise RuntimeError(f"only {len(simulator.races)} open races in the simulated day")
    data_clock = DataClock(ANCHOR, WORKER_SPEED, time.monotonic())
    metrics_dir = tempfile.mkdtemp(prefix="raceday-bench-metrics-")
    spec = WorkerSpec(url, simulator.base_url, args.concurrency, data_clock, settings, metrics_dir)
    observer = Observer(url)
    observer.start()
    try:
        async with (
            running_workers(spec, args.processes) as workers,
        ):
            await _wait_for_workers(pool, args.processes)
            pids = tuple(workers.pids)
            meter = Meter(postmaster, observer, pids, simulator.pid)
            bench = Bench(pool, observer, clock, meter, PollStages(metrics_dir), simulator.races)
            await _history(bench, max(sizes), args.history_minutes)
            for _ in range(WARMUP_BATCHES):  # connections, partitions, each race's first rows
                await bench.batch(max(sizes))
            scenarios = {size: Scenario(size) for size in sizes}
            for size in rounds(sizes, args.repeats):
                merge(scenarios[size], await bench.batch(size))
            if tuple(workers.pids) != pids or workers.restarts:
                raise RuntimeError("a poll worker died during the bench")
    finally:
        observer.stop()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    log.info("bench batches done", rounds=args.repeats, sizes=sizes)
    return scenarios, list(pids)


async def _history(bench: Bench, size: int, minutes: int) -> None:
    """Each race `minutes` of earlier polls, one a minute, ending where the measured batches begin: a poll
    may cost more the longer its race has been polled (one did, reading every odds row since the first)."""
    bench.clock.advance(-minutes * HISTORY_STEP_S)
    for _ in range(minutes):
        await bench.batch(size, HISTORY_STEP_S)


# --- recording's own cost ------------------------------------------------------------------------


@dataclass(frozen=True)
class PollSample:
    wall_ms: float
    cpu_ms: float
    postgres_ms: float
    poll: PollResult


@dataclass
class Recording:
    pairs: list[tuple[PollSample, PollSample]] = field(default_factory=list)
    """(with recording, without), one pair per alternation."""

    def arms(self) -> dict[str, dict[str, dict[str, float]]]:
        table: dict[str, dict[str, dict[str, float]]] = {}
        for arm, index in (("on", 0), ("off", 1)):
            samples = [pair[index] for pair in self.pairs]
            table[arm] = {
                "wall_ms": summarise([s.wall_ms for s in samples]),
                "cpu_ms": summarise([s.cpu_ms for s in samples]),
                "postgres_ms": summarise([s.postgres_ms for s in samples]),
                "cpu+postgres_ms": summarise([s.cpu_ms + s.postgres_ms for s in samples]),
                "fetch_ms": summarise([s.poll.fetch_ms for s in samples]),
                "transform_ms": summarise([s.poll.transform_ms for s in samples]),
                "write_ms": summarise([s.poll.write_ms for s in samples]),
            }
        return table

    def added(self) -> dict[str, dict[str, float]]:
        """The per-pair differences (with minus without): median, its ~95 % confidence interval, p25, p75."""
        differences = {
            "wall_ms": [on.wall_ms - off.wall_ms for on, off in self.pairs],
            "cpu_ms": [on.cpu_ms - off.cpu_ms for on, off in self.pairs],
            "postgres_ms": [on.postgres_ms - off.postgres_ms for on, off in self.pairs],
            "cpu+postgres_ms": [
                on.cpu_ms + on.postgres_ms - off.cpu_ms - off.postgres_ms for on, off in self.pairs
            ],
        }
        return {metric: _spread(values) for metric, values in differences.items()}


def _spread(values: list[float]) -> dict[str, float]:
    low, high = median_ci(values)
    return {
        "median": round(statistics.median(values), 3),
        "ci95_low": round(low, 3),
        "ci95_high": round(high, 3),
        "p25": round(percentile(values, 25), 3),
        "p75": round(percentile(values, 75), 3),
    }


async def _timed_poll(processor: RaceProcessor, race_id: str, clock: SharedClock, backend: int) -> PollSample:
    clock.advance(STEP_S)
    pg_before = cpu_ns(backend)
    cpu_before = time.process_time()
    started = time.perf_counter()
    poll = await processor.process(race_id)
    wall_ms = (time.perf_counter() - started) * 1000
    cpu_ms = (time.process_time() - cpu_before) * 1000
    postgres_ms = (cpu_ns(backend) - pg_before) / 1e6
    if poll.outcome != "ok":
        raise RuntimeError(f"recording comparison: poll failed: {poll.error}")
    return PollSample(round(wall_ms, 3), round(cpu_ms, 3), round(postgres_ms, 3), poll)


async def _recording(
    settings: Settings, url: str, pairs: int, clock: SharedClock, simulator: SimulatorHandle
) -> Recording:
    # The race starting last stays open for all the pairs' data time.
    race_id = max(simulator.races, key=lambda race: race[1])[0]
    pool = await open_pool(url, PoolConfig(max=1, min=1))
    try:
        async with pool.connection() as conn:
            backend = conn.info.backend_pid
        async with NzTabClient.from_settings(settings, base_url=simulator.base_url) as client:
            partitions = PartitionKeeper()
            on = RaceProcessor(client, pool, clock, partitions)
            off = RaceProcessor(client, pool, clock, partitions, record=False)
            for processor in (on, off, on, off):
                await _timed_poll(processor, race_id, clock, backend)
            recording = Recording()
            for index in range(pairs):
                if index % 2 == 0:
                    first = await _timed_poll(on, race_id, clock, backend)
                    recording.pairs.append((first, await _timed_poll(off, race_id, clock, backend)))
                else:
                    second = await _timed_poll(off, race_id, clock, backend)
                    recording.pairs.append((await _timed_poll(on, race_id, clock, backend), second))
        return recording
    finally:
        await pool.close()


@dataclass
class Results:
    scenarios: dict[int, Scenario]
    recording: Recording
    worker_pids: list[int]
    args: argparse.Namespace
    kept_days: int


async def _measure(settings: Settings, url: str, args: argparse.Namespace, postmaster: int) -> Results:
    await apply_migrations(url)
    clock = SharedClock(ANCHOR, multiprocessing.get_context("spawn").RawValue(ctypes.c_double, 0.0))
    pool = await open_pool(url, PoolConfig(max=1, min=1))
    try:
        await _prepare(pool, settings.retention_days)
        async with simulator_process(settings, clock) as simulator:
            scenarios, pids = await _batches(settings, url, args, pool, clock, simulator, postmaster)
            recording = await _recording(settings, url, args.pairs, clock, simulator)
    finally:
        await pool.close()
    return Results(scenarios, recording, pids, args, settings.retention_days)


# --- report ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    measured: float | None
    """None: the scenario it needs was not run."""
    limit: float
    unit: str = "ms"
    at_least: bool = False

    @property
    def met(self) -> bool | None:
        if self.measured is None:
            return None
        return self.measured >= self.limit if self.at_least else self.measured <= self.limit


def targets(results: Results) -> list[Target]:
    """Issue 13's and issue 11's targets, and the spec's budgets, each with what was measured."""
    scenarios = results.scenarios
    found: list[Target] = []
    for size, scenario in scenarios.items():
        main = scenario.cpu_stats()["main"]["median"]
        found.append(Target(f"{size} races: main-process CPU per race (median)", main, 3))

    def wall(size: int) -> float | None:
        return scenarios[size].stats()["wall_ms"]["median"] if size in scenarios else None

    found += [
        Target("100 races at once: median wall per batch", wall(100), 400),
        Target("10 races at once: median wall per batch", wall(10), 60),
        Target("5 races at once: median wall per batch (spec)", wall(5), BATCH_BUDGET_MS),
    ]
    largest = max(scenarios)
    found.append(
        Target(
            f"{largest} races: p95 run per race (spec)",
            scenarios[largest].stats()["run_ms"]["p95"],
            RACE_BUDGET_MS,
        )
    )
    if len(results.worker_pids) > 1:
        cpu = scenarios[largest].cpu_stats()
        shares = [cpu[f"worker {pid}"]["median"] for pid in results.worker_pids]
        least = 100 * min(shares) / sum(shares) if sum(shares) else 0.0
        found.append(
            Target(
                f"{largest} races: every worker process polls (least busy one's share of worker CPU)",
                round(least, 1),
                round(50 / len(shares), 1),
                unit="%",
                at_least=True,
            )
        )
    added = results.recording.added()
    found += [
        Target(
            "recording raw responses: wall added per poll (median of pair differences)",
            added["wall_ms"]["median"],
            1,
        ),
        Target(
            "recording raw responses: CPU added per poll, bench + its backend (median of pair differences)",
            added["cpu+postgres_ms"]["median"],
            1,
        ),
    ]
    return found


STAGE_LABELS = {
    "fetch": "fetch",
    "transform": "transform",
    "write": "write",
    "own work": "own work: fetch + transform + write",
    "wait": "queueing: wait for a write slot",
}
CPU_LABELS = {
    "main": "main (bench's thread: makes due, awaits)",
    "workers": "workers, all",
    "postgres": "PostgreSQL (all its processes)",
    "total": "total: main + workers + PostgreSQL",
    "simulator": "simulator (NZ TAB stand-in, not counted)",
    "observer": "bench's listener + backend (not counted)",
}


def render(results: Results) -> str:
    args = results.args
    scenarios = results.scenarios
    lines = [
        f"polls: {args.processes} worker processes x {args.concurrency} polls at once; medians of "
        f"{args.repeats} alternating rounds (each round's order rotated)",
        f"history: {results.kept_days} earlier days' partitions a table besides the bench's day, as a "
        "service keeps them (RETENTION_DAYS); each race polled once a minute for the "
        f"{args.history_minutes} minutes before the measured batches",
        "",
        f"{'races':>5} {'metric':<10} {'min':>9} {'median':>9} {'p95':>9} {'p99':>9}",
    ]
    for size, scenario in scenarios.items():
        for metric, stats in scenario.stats().items():
            lines.append(
                f"{size:>5} {metric:<10} {stats['min']:>9.2f} {stats['median']:>9.2f}"
                f" {stats['p95']:>9.2f} {stats['p99']:>9.2f}"
            )
    lines += [
        "wall: made due to the last poll's commit; queue: due to taken; run: taken to released, its next due "
        "time stored in its transaction (the poll's own work, and its wait for a write slot)",
        "",
        "Poll stages, ms (batch mean, median)".ljust(42) + "".join(f"{size:>9}" for size in scenarios),
    ]
    stages = {size: scenario.stage_stats() for size, scenario in scenarios.items()}
    for stage, name in STAGE_LABELS.items():
        lines.append(name.ljust(42) + "".join(f"{stages[size][stage]['median']:>9.3f}" for size in scenarios))
    lines.append(
        "poll stages: each poll's own timing in its worker; the mean of a batch's polls, median over rounds"
    )
    lines += [
        "",
        "CPU per race, ms (median over rounds)".ljust(42) + "".join(f"{size:>9}" for size in scenarios),
    ]
    cpu = {size: scenario.cpu_stats() for size, scenario in scenarios.items()}
    for label in next(iter(cpu.values())):
        name = CPU_LABELS.get(label, label)
        lines.append(name.ljust(42) + "".join(f"{cpu[size][label]['median']:>9.3f}" for size in scenarios))
    recording = results.recording
    arms, added = recording.arms(), recording.added()
    lines += [
        "",
        f"recording raw responses: {len(recording.pairs)} alternating pairs of polls of one race, in this "
        "process; added: median of the pair differences [its 95 % CI] (p25, p75)",
        f"{'ms per poll':<16} {'with':>9} {'without':>9} {'added':>9}",
    ]
    for metric, arm in arms["on"].items():
        row = f"{metric:<16} {arm['median']:>9.3f} {arms['off'][metric]['median']:>9.3f}"
        if metric in added:
            spread = added[metric]
            row += (
                f" {spread['median']:>9.3f} [{spread['ci95_low']:.3f}, {spread['ci95_high']:.3f}]"
                f" ({spread['p25']:.3f}, {spread['p75']:.3f})"
            )
        lines.append(row)
    lines.append("")
    for target in targets(results):
        rule = f"target {'≥' if target.at_least else '≤'} {target.limit:g} {target.unit}"
        if target.measured is None:
            lines.append(f"not run {target.name} ({rule})")
        else:
            status = "met   " if target.met else "MISSED"
            lines.append(f"{status} {target.name}: {target.measured:.2f} {target.unit} ({rule})")
    return "\n".join(lines)


def document(results: Results) -> dict[str, Any]:
    args = results.args
    return {
        "processes": args.processes,
        "concurrency": args.concurrency,
        "repeats": args.repeats,
        "kept_days": results.kept_days,
        "history_minutes": args.history_minutes,
        "worker_pids": results.worker_pids,
        "scenarios": {
            str(size): {
                **scenario.stats(),
                "polls_deferred": scenario.deferred,
                "polls_committed": scenario.committed,
                "cpu_per_race_ms": scenario.cpu_stats(),
                "poll_stage_ms": scenario.stage_stats(),
            }
            for size, scenario in results.scenarios.items()
        },
        "recording": {
            "pairs": len(results.recording.pairs),
            "with": results.recording.arms()["on"],
            "without": results.recording.arms()["off"],
            "added": results.recording.added(),
        },
        "targets": [
            {
                "target": target.name,
                "measured": target.measured,
                "limit": target.limit,
                "unit": target.unit,
                "at_least": target.at_least,
                "met": target.met,
            }
            for target in targets(results)
        ],
    }


def save(results: Results, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    json_path = out_dir / f"pipeline-{stamp}.json"
    json_path.write_text(json.dumps({"when": stamp, **document(results)}, indent=2))
    csv_path = out_dir / f"pipeline-{stamp}.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["scenario", "metric", "min", "median", "p95", "p99"])
        for size, scenario in results.scenarios.items():
            rows = {
                **scenario.stats(),
                **{f"cpu_ms {label}": s for label, s in scenario.cpu_stats().items()},
                **{f"stage_ms {stage}": s for stage, s in scenario.stage_stats().items()},
            }
            for metric, stats in rows.items():
                writer.writerow(
                    [f"{size} races", metric, stats["min"], stats["median"], stats["p95"], stats["p99"]]
                )
        for arm, table in results.recording.arms().items():
            for metric, stats in table.items():
                writer.writerow(
                    [f"recording {arm}", metric, stats["min"], stats["median"], stats["p95"], stats["p99"]]
                )
    return json_path, csv_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--races", type=_sizes, default=[1, 5, 10, 100], help="races at once, e.g. 1,5,10,100"
    )
    parser.add_argument(
        "--repeats", type=_positive, default=10, help="alternating rounds (one batch per size)"
    )
    parser.add_argument("--processes", type=_positive, default=2, help="poll worker processes")
    parser.add_argument("--concurrency", type=_positive, default=50, help="polls at once per worker process")
    parser.add_argument("--pairs", type=_positive, default=200, help="polls with and without recording")
    parser.add_argument(
        "--history-minutes",
        type=_not_negative,
        default=60,
        help="each race's earlier polls, one a minute, before the measured batches",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"), help="where JSON and CSV go")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("expected a positive number")
    return value


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("expected a number of minutes, 0 or more")
    return value


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("expected comma-separated race counts, e.g. 1,5,10,100") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("race counts are positive")
    return list(dict.fromkeys(sizes))


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Every scenario on a private PostgreSQL (fsync off: the code is measured, not the disk)."""
    base = Path(tempfile.mkdtemp(prefix="raceday-bench-"))
    base.chmod(0o755)
    server = EmbeddedPostgres(base, database="raceday_bench", fast=True)
    try:
        url = server.start()
        results = asyncio.run(_measure(settings, url, args, postmaster_pid(server)))
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
    json_path, csv_path = save(results, args.out)
    sys.stdout.write(f"{render(results)}\n\nsaved {json_path} and {csv_path}\n")
    return 0
