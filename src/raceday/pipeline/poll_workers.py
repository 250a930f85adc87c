"""Worker processes that take due polls from the shared queue: each does whole polls (fetch, decode,
transform, write) with its own connection pool and NZ TAB client, so every core does useful work and
the process that started them only watches them. Each also runs procrastinate's worker for the periodic
work (see `queue`).

A worker that dies is replaced; the polls it held run again elsewhere once its heartbeat is missed
(see `queue.release_stalled`). Workers die with the process that started them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as Ready

import aiohttp
import psycopg
import stamina
import uvloop
from procrastinate.exceptions import ConnectorException
from psycopg_pool import PoolTimeout

from raceday.core.clock import Clock, ScaledClock, SystemClock
from raceday.core.config import Settings, load_settings
from raceday.core.log import configure_logging, get_logger
from raceday.core.metrics import Metrics, worker_metrics
from raceday.db.partitions import PartitionKeeper
from raceday.db.pool import PoolConfig, open_pool
from raceday.nztab.client import NzTabClient
from raceday.pipeline.poll_loop import PollLoop, PollsLost
from raceday.pipeline.processor import RaceProcessor
from raceday.pipeline.queue import (
    HEARTBEAT_S,
    STALLED_AFTER_S,
    PollContext,
    app,
    connected,
    polling_interval_s,
    serving,
)
from raceday.pipeline.recorder import MeetingsRecorder

log = get_logger(__name__)

RECONNECT_ON = (psycopg.OperationalError, PoolTimeout, ConnectorException, PollsLost)
RECONNECT_MAX_S = 1.0
STOP_GRACE_S = 10.0
"""How long a stopping worker may finish its running polls before it is killed (they are released)."""


@dataclass(frozen=True)
class DataClock:
    """A `ScaledClock` as a worker process rebuilds it: the simulator's time, at the simulator's speed."""

    anchor: datetime
    speed: float
    started: float

    @classmethod
    def of(cls, clock: ScaledClock) -> DataClock:
        return cls(clock.anchor, clock.speed, clock.started)

    def clock(self) -> ScaledClock:
        return ScaledClock(self.anchor, self.speed, started=self.started)


@dataclass(frozen=True)
class WorkerSpec:
    database_url: str
    base_url: str | None
    """NZ TAB or a simulator; None: NZTAB_API_URL."""
    concurrency: int
    data_clock: DataClock | None = None
    """The simulator's clock when it runs faster than real time; None: the wall clock."""
    settings: Settings | None = None
    """The starting process's settings (with its overrides); None: read from the environment."""
    metrics_dir: str | None = None
    """Where the workers write their poll series for the `/metrics` of the service that started them;
    None (`raceday worker`, which serves no `/metrics`): they are kept in memory and never read."""


async def simulator_clock(base_url: str) -> DataClock:
    """The data clock of a simulator that another process serves, read from its `/_sim/status`."""
    timeout = aiohttp.ClientTimeout(total=5.0)
    async with (
        aiohttp.ClientSession(timeout=timeout, raise_for_status=True) as client,
        client.get(base_url.rstrip("/") + "/_sim/status") as response,
    ):
        status = await response.json()
    anchor = datetime.fromisoformat(status["sim_time"])
    return DataClock(anchor, float(status["speed"]), time.monotonic())


async def serve_jobs(
    settings: Settings, spec: WorkerSpec, metrics: Metrics, ready: Ready | None = None
) -> None:
    """Take polls and jobs until SIGTERM/SIGINT; while the database is unreachable, try again every second
    or so (the polls left running are released by the others' ticks once this worker's heartbeat is
    stale)."""
    async for attempt in stamina.retry_context(
        on=RECONNECT_ON, attempts=None, timeout=None, wait_initial=0.2, wait_max=RECONNECT_MAX_S
    ):
        with attempt:
            if attempt.num > 1:
                log.warning("poll worker reconnecting", attempt=attempt.num)
            await _serve_jobs(settings, spec, metrics, ready)


PERIODIC_CONCURRENCY = 2
"""procrastinate's jobs at once in a worker: the tick, and the periodic work it starts."""


async def _serve_jobs(settings: Settings, spec: WorkerSpec, metrics: Metrics, ready: Ready | None) -> None:
    """procrastinate's signal handlers stop its worker once its running jobs finish; the polls stop
    with it, the running ones finished first."""
    clock: Clock = spec.data_clock.clock() if spec.data_clock else SystemClock()
    time_scale = spec.data_clock.speed if spec.data_clock else 1.0
    pool = await open_pool(spec.database_url, PoolConfig(max=spec.concurrency + 3, min=1))
    try:
        async with NzTabClient.from_settings(settings, base_url=spec.base_url, metrics=metrics) as client:
            partitions = PartitionKeeper()
            client.recorder = MeetingsRecorder(pool, clock, partitions)
            processor = RaceProcessor(client, pool, clock, partitions, metrics=metrics)
            context = PollContext(settings, pool, client, processor, clock, time_scale, partitions)
            name = f"raceday-{os.getpid()}"
            look_every_s = polling_interval_s(time_scale)
            polls = PollLoop(context, spec.database_url, name, spec.concurrency, look_every_s)
            async with connected(spec.database_url):
                with serving(context):
                    stop = asyncio.Event()
                    polling = asyncio.create_task(polls.run(stop), name="polls")
                    periodic = asyncio.create_task(
                        app.run_worker_async(
                            name=name,
                            concurrency=PERIODIC_CONCURRENCY,
                            fetch_job_polling_interval=look_every_s,
                            update_heartbeat_interval=HEARTBEAT_S,
                            stalled_worker_timeout=STALLED_AFTER_S,
                            delete_jobs="successful",
                            install_signal_handlers=True,
                        ),
                        name="periodic work",
                    )
                    log.info("poll worker started", concurrency=spec.concurrency, speed=time_scale)
                    if ready is not None:
                        ready.set()
                    await _until_both_end(polling, periodic, stop)
    finally:
        await pool.close()
        log.info("poll worker stopped")


async def _until_both_end(
    polling: asyncio.Task[None], periodic: asyncio.Task[None], stop: asyncio.Event
) -> None:
    """procrastinate's worker ends on SIGTERM/SIGINT: the polls then stop too. Either one failing stops
    the other, and its error is raised (the caller reconnects)."""
    try:
        done, _ = await asyncio.wait({polling, periodic}, return_when=asyncio.FIRST_COMPLETED)
        if periodic in done:
            stop.set()
            periodic.result()
            await polling
        else:
            polling.result()  # raises: the polls end only once stopped
    finally:
        for task in (polling, periodic):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """In a worker: be killed when the parent dies (or exit now if it already has)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)


def worker_main(spec: WorkerSpec, parent_pid: int, ready: Ready) -> None:
    """A worker process's entry point (spawned: it re-reads the environment as its parent did). Its loop is
    uvloop's: a poll's sockets, callbacks and timers cost less there (worker CPU a poll 6 % lower at 100
    races at once, 14 % at 10, alternating `make bench` rounds)."""
    die_with_parent(parent_pid)
    settings = spec.settings or load_settings()
    configure_logging(settings.log_level, settings.node_env)
    metrics = worker_metrics(spec.metrics_dir) if spec.metrics_dir else Metrics(process=False)
    uvloop.run(serve_jobs(settings, spec, metrics, ready))


class PollWorkers:
    """`processes` worker processes, each replaced when it dies."""

    def __init__(self, spec: WorkerSpec, processes: int) -> None:
        self.spec = spec
        self.size = processes
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess] = []
        self._ready: list[Ready] = []
        self.restarts = 0

    def _spawn(self) -> tuple[BaseProcess, Ready]:
        ready = self._context.Event()
        process = self._context.Process(
            target=worker_main, args=(self.spec, os.getpid(), ready), name="raceday poll worker", daemon=True
        )
        process.start()
        return process, ready

    def start(self) -> None:
        spawned = [self._spawn() for _ in range(self.size)]
        self._processes = [process for process, _ in spawned]
        self._ready = [ready for _, ready in spawned]
        log.info(
            "poll workers started", processes=self.size, concurrency=self.spec.concurrency, pids=self.pids
        )

    @property
    def pids(self) -> list[int]:
        return sorted(process.pid for process in self._processes if process.pid is not None)

    @property
    def healthy(self) -> bool:
        """Every worker process alive and taking jobs: a replacement is not until it has connected."""
        return bool(self._processes) and all(
            process.is_alive() and ready.is_set()
            for process, ready in zip(self._processes, self._ready, strict=True)
        )

    def replace_dead(self) -> int:
        """Start a new process for each one that died; returns how many were replaced."""
        replaced = 0
        for index, process in enumerate(self._processes):
            if process.is_alive():
                continue
            log.warning("poll worker died; replaced", pid=process.pid, exitcode=process.exitcode)
            process.close()
            self._processes[index], self._ready[index] = self._spawn()
            self.restarts += 1
            replaced += 1
        return replaced

    async def watch(self, stop: asyncio.Event, every_s: float = 0.5) -> None:
        while not stop.is_set():
            self.replace_dead()
            try:
                await asyncio.wait_for(stop.wait(), timeout=every_s)
            except TimeoutError:
                continue

    def close(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM: each worker finishes its running polls (up to `grace_s`), then is killed."""
        for process in self._processes:
            if process.is_alive():
                process.terminate()
        for process in self._processes:
            process.join(grace_s)
            if process.is_alive():
                process.kill()
                process.join()
        self._processes = []
        self._ready = []


@contextlib.asynccontextmanager
async def running_workers(spec: WorkerSpec, processes: int) -> AsyncIterator[PollWorkers]:
    """`processes` workers, watched and replaced while the block runs, then stopped (running polls first)."""
    workers = PollWorkers(spec, processes)
    stop = asyncio.Event()
    workers.start()
    watch = asyncio.create_task(workers.watch(stop), name="poll workers watch")
    try:
        yield workers
    finally:
        stop.set()
        await watch
        await asyncio.to_thread(workers.close)
