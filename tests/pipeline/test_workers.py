"""The worker pool: real processes, a real crash, a replaced pool, and health while it is broken."""

from __future__ import annotations

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
    import os

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
