"""The worker pool: real processes, a real crash, a replaced pool, and health while it is broken."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from raceday.domain.transform import InvalidPayload, transform_payload
from raceday.pipeline.workers import WorkerCrashed, WorkerPool
from tests.pipeline import crashers


@pytest.fixture
def workers() -> Iterator[WorkerPool]:
    pool = WorkerPool(2)
    yield pool
    pool.close()


async def test_tasks_run_in_other_processes(workers: WorkerPool) -> None:
    assert await workers.run(crashers.pid) != os.getpid()


async def test_a_crashed_worker_is_replaced_and_its_task_retried(workers: WorkerPool, tmp_path: Path) -> None:
    marker = tmp_path / "crashed"
    assert await workers.run(crashers.crash_once, str(marker), 21) == 42
    assert marker.read_text() == "crashed"
    assert workers.restarts == 1
    assert workers.healthy


async def test_a_task_that_always_crashes_fails_after_three_retries(workers: WorkerPool) -> None:
    with pytest.raises(WorkerCrashed, match="4 times"):
        await workers.run(crashers.always_crash)
    assert workers.restarts == 4
    assert not workers.healthy
    await workers.run(crashers.pid)
    assert workers.healthy


async def test_payload_errors_cross_back_from_the_worker(workers: WorkerPool) -> None:
    with pytest.raises(InvalidPayload, match="body: not valid JSON"):
        await workers.run(transform_payload, b"{not json", "race-1")
    assert workers.healthy
    assert workers.restarts == 0


async def test_a_dead_worker_makes_the_pool_unhealthy_at_once(workers: WorkerPool) -> None:
    await workers.warm_up()
    assert workers.healthy
    [victim, *_] = workers.pids
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _running(victim):
        assert time.monotonic() < deadline, "the worker did not die"
        await asyncio.sleep(0.01)
    assert not workers.healthy  # before any task has run into the broken pool
    assert await workers.run(crashers.pid) in workers.pids  # replaced on the next task
    assert workers.healthy


def test_workers_and_their_helpers_die_with_a_killed_service() -> None:
    code = textwrap.dedent(
        """
        import asyncio, os, sys
        from raceday.pipeline.workers import WorkerPool
        pool = WorkerPool(3)
        asyncio.run(pool.warm_up())
        print(" ".join(map(str, pool.pids)), flush=True)
        sys.stdin.read()
        """
    )
    service = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert service.stdout is not None
    workers = [int(pid) for pid in service.stdout.readline().split()]
    children = Path(f"/proc/{service.pid}/task/{service.pid}/children").read_text().split()
    descendants = {int(pid) for pid in children} | set(workers)
    assert len(workers) == 3
    assert len(descendants) == 4  # three workers and multiprocessing's resource tracker
    service.kill()
    service.wait()
    deadline = time.monotonic() + 10
    while alive := [pid for pid in descendants if _running(pid)]:
        assert time.monotonic() < deadline, f"still running 10 s after the service was killed: {alive}"
        time.sleep(0.05)


def _running(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" not in status.read_text()
    except FileNotFoundError:
        return False
