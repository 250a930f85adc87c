"""Three `raceday worker` instances on one database and one simulator, one SIGKILLed mid-day.

Each instance is the real command in its own process group (a supervisor and its worker process).
Every event request the simulator served is in its request log with the simulator's time; each
poll is held 0.8 s (a latency fault), so the kill lands on polls in flight.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime

import psycopg
import pytest

from raceday.domain.schedule import poll_interval_s
from raceday.simulator import serve_simulator
from raceday.simulator.faults import FaultRule
from raceday.simulator.model import DayConfig
from tests.conftest import ReliabilityReport
from tests.serving import eventually

SPEED = 2.0
"""Slow enough that a dead worker's poll is re-run within one ladder step (15 s of data time)."""
MEETINGS = "NZ:T=1,NZ:H=1"
RUN_S = 45.0
KILL_AT_S = 15.0
LATENCY_S = 0.8
STEP_S = 15.0


def _start(database_url: str, simulator_url: str) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "DATABASE_URL": database_url,
        "NZTAB_API_URL": simulator_url,
        "NODE_ENV": "test",
        "LOG_LEVEL": "warn",
    }
    command = [sys.executable, "-m", "raceday", "worker", "--processes", "1", "--concurrency", "3"]
    return subprocess.Popen(
        [*command, "--simulator-clock"], env=env, start_new_session=True, stderr=subprocess.PIPE
    )


@pytest.fixture
def instances() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def _count(url: str, query: str) -> int:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute(query)
        row = await cursor.fetchone()
        return int(row[0]) if row else 0


async def _worker_ids(url: str) -> list[int]:
    """The registered poll workers (none before the first worker migrated the database)."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute("SELECT to_regclass('poll_workers') IS NOT NULL")
        if (await cursor.fetchone()) != (True,):
            return []
        cursor = await conn.execute("SELECT id FROM poll_workers")
        return [row[0] for row in await cursor.fetchall()]


async def _busy_race(url: str, workers: list[int]) -> str | None:
    """A race whose poll one of `workers` holds now."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute(
            "SELECT race_id FROM race_polls WHERE worker_id = ANY(%s)",
            (workers,),
        )
        row = await cursor.fetchone()
        return str(row[0]) if row else None


async def test_three_instances_share_the_day_and_survive_a_kill(
    database_url: str, instances: list[subprocess.Popen[bytes]], reliability: ReliabilityReport
) -> None:
    async with serve_simulator(seed=7, speed=SPEED, meetings=DayConfig.parse(MEETINGS)) as simulator:
        simulator.faults.add(FaultRule(endpoint="events", kind="latency", delay_s=LATENCY_S))
        # The instance to be killed starts first, so that the first worker registered is its own.
        victim = _start(database_url, simulator.base_url)
        instances.append(victim)
        victim_workers = await eventually(lambda: _worker_ids(database_url), within_s=60)
        instances += [_start(database_url, simulator.base_url) for _ in range(2)]
        await eventually(
            lambda: _count(database_url, "SELECT count(*) FROM race_snapshots"), within_s=60, every_s=0.5
        )
        began = simulator.clock.now()
        await asyncio.sleep(KILL_AT_S)
        # Killed while it holds a poll: that poll must be run again by another instance.
        held = await eventually(lambda: _busy_race(database_url, victim_workers), 30, every_s=0.02)
        os.killpg(victim.pid, signal.SIGKILL)
        killed_at = simulator.clock.now()
        victim.wait()
        await asyncio.sleep(RUN_S - KILL_AT_S)
        ended = simulator.clock.now()
        # Taken for dead by the others' ticks: its row is gone, and with it its hold on the poll.
        assert not set(victim_workers) & set(await _worker_ids(database_url))
        for process in instances[1:]:
            process.send_signal(signal.SIGTERM)
        for process in instances[1:]:
            # Waited for off the event loop: the simulator runs on it and must answer the polls the
            # instances finish while they stop (blocked, they timed out and left their jobs running).
            code = await asyncio.to_thread(process.wait, 30)
            assert code == 0, process.stderr.read().decode() if process.stderr else ""
        requests = [r for r in simulator.requests if r.endpoint == "events" and r.status == 200]
        meetings_reads = [r for r in simulator.requests if r.endpoint == "meetings"]

    polls: dict[str, list[datetime]] = defaultdict(list)
    for request in requests:
        polls[request.path.rsplit("/", 1)[-1]].append(request.sim_time)
    starts = {race.race_id: race.start for race in simulator.day.races}
    late: list[str] = []
    overlapping: list[str] = []
    for race_id, times in polls.items():
        times.sort()
        for earlier, later in itertools.pairwise(times):
            if later < began or earlier > ended:
                continue
            # A poll holds its race for LATENCY_S of wall time: one started sooner overlapped it.
            if (later - earlier).total_seconds() < LATENCY_S * SPEED:
                overlapping.append(f"{race_id} at {earlier:%H:%M:%S}")
            interval = poll_interval_s((starts[race_id] - earlier).total_seconds())
            if (later - earlier).total_seconds() > interval + STEP_S + LATENCY_S * SPEED:
                late.append(f"{race_id}: {earlier:%H:%M:%S} -> {later:%H:%M:%S} (interval {interval} s)")
    assert not overlapping, overlapping
    assert not late, late

    # Nothing was lost with the dead instance: every race still open was polled after the kill, or its
    # next poll is waiting, due within the ladder's longest step (races discovered together are polled
    # in step, so a whole group on 60 s steps may fall due just after the run ends).
    unfinished = {race_id for race_id, times in polls.items() if times[-1] >= killed_at}
    # The dead instance's own request is logged when the simulator answers it, up to LATENCY_S after.
    rerun = [t for t in polls[held] if (t - killed_at).total_seconds() > LATENCY_S * SPEED]
    assert rerun, "the poll the dead instance held was never run again"
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cursor = await conn.execute(
            "SELECT race_id FROM races WHERE status NOT IN ('final', 'abandoned') OR status IS NULL"
        )
        open_races = {row[0] for row in await cursor.fetchall()}
        cursor = await conn.execute(
            """SELECT race_id FROM race_polls WHERE worker_id IS NULL
               AND due_at <= now() + make_interval(secs => %s)""",
            (poll_interval_s(float("inf")) / SPEED,),
        )
        waiting = {row[0] for row in await cursor.fetchall()}
        assert open_races <= unfinished | waiting
        cursor = await conn.execute(
            """SELECT count(*) FROM (SELECT 1 FROM money_flow_history
               GROUP BY entrant_id, event_timestamp, interval_type HAVING count(*) > 1) d"""
        )
        assert (await cursor.fetchone()) == (0,)
        cursor = await conn.execute("SELECT job, count(*) FROM pipeline_runs GROUP BY job")
        runs = dict(await cursor.fetchall())
    # Periodic work ran once per slot across the three: the meetings list was read once per 5 minutes
    # of data time (two days before 06:00 NZ, so at most two reads each), not once per instance.
    assert runs["partitions"] == 1
    assert runs["discover"] <= int((ended - began).total_seconds() // 300) + 2
    assert len(meetings_reads) <= 2 * runs["discover"]
    reliability.record(
        "One of three worker instances killed",
        f"three `raceday worker` instances on one database and the simulator ({SPEED:g}x, every poll held "
        f"{LATENCY_S} s); SIGKILL to one while it held a poll",
        "its poll ran again on another instance; every race stayed within one ladder step; no race polled "
        "twice at once; no money-flow row duplicated; each periodic slot ran once",
        polls=len(requests),
        races=len(polls),
        held_poll_rerun_after_wall_s=round((rerun[0] - killed_at).total_seconds() / SPEED, 2),
        discovery_runs=runs["discover"],
    )
