"""A worker's poll loop on a real PostgreSQL 18 and the real simulator: it takes the polls due, more than
it has slots for in turn, runs each whole, wakes for a poll added due now without waiting for its next look,
stops with nothing held, and stops taking polls once it was taken for dead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest

from raceday.pipeline.poll_loop import PollLoop, PollsLost
from raceday.pipeline.queue import follow
from tests.pipeline.conftest import Rig
from tests.serving import eventually


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def _polled(url: str) -> set[str]:
    """Races with a snapshot stored and their next poll waiting: each one polled and released."""
    rows = _rows(
        url,
        "SELECT p.race_id FROM race_polls p JOIN race_snapshots s USING (race_id) WHERE p.worker_id IS NULL",
    )
    return {str(race_id) for (race_id,) in rows}


Running = tuple[PollLoop, asyncio.Event, "asyncio.Task[None]"]


@pytest.fixture
async def running(rig: Rig, database_url: str) -> AsyncIterator[Running]:
    """A loop of two slots that looks for due polls only every 30 s: what it takes sooner, a NOTIFY woke
    it for, or a slot freeing."""
    loop = PollLoop(rig.context, database_url, "test", concurrency=2, look_every_s=30.0)
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    await eventually(lambda: asyncio.sleep(0, result=loop.worker_id), within_s=5, every_s=0.01)
    yield loop, stop, task
    if not task.done():
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_polls_added_due_now_are_all_run_however_few_the_slots(
    rig: Rig, database_url: str, running: Running
) -> None:
    loop, stop, task = running
    now = rig.clock.now()
    open_races = {r.race_id: r.start for r in rig.sim.day.races if r.status(now) == "Open"}
    assert len(open_races) > loop.concurrency
    await asyncio.sleep(0.2)  # the loop's first look found nothing and it waits on its LISTEN
    assert sorted(await follow(rig.context, open_races, now)) == sorted(open_races)

    async def all_polled() -> bool:
        return await asyncio.to_thread(_polled, database_url) == set(open_races)

    await eventually(all_polled, within_s=10)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert _rows(database_url, "SELECT id FROM poll_workers") == []
    assert _rows(database_url, "SELECT race_id FROM race_polls WHERE worker_id IS NOT NULL") == []


async def test_a_loop_taken_for_dead_stops_with_polls_lost(database_url: str, running: Running) -> None:
    loop, _, task = running
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM poll_workers WHERE id = %s", (loop.worker_id,))
    with pytest.raises(PollsLost, match="taken for dead"):
        await asyncio.wait_for(task, 10)
