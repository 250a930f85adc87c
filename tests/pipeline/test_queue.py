"""The job queue's own steps on a real PostgreSQL 18 (procrastinate's tables) and the real simulator:
discovery defers one poll job per race to follow and never a second, a restart skips what is settled,
periodic work is done once per slot and retried until it is, and a race that never settles is given up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import psycopg
import pytest
from structlog.testing import capture_logs

from raceday.domain.schedule import GIVE_UP_AFTER
from raceday.pipeline.queue import (
    POLL_TASK,
    connected,
    defer_poll,
    discover,
    periodic_work,
    serving,
)
from raceday.simulator import FaultRule
from tests.pipeline.conftest import Rig


@pytest.fixture
async def queue(rig: Rig, database_url: str) -> AsyncIterator[Rig]:
    """The rig with procrastinate connected, as a worker process has it while it serves jobs."""
    async with connected(database_url):
        with serving(rig.context):
            yield rig


def _jobs(url: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT lock, queueing_lock, args->>'race_id' FROM procrastinate_jobs"
            " WHERE task_name = %s AND status = 'todo' ORDER BY lock",
            (POLL_TASK,),
        ).fetchall()
    return [(lock, queueing_lock, race_id) for lock, queueing_lock, race_id in rows]


async def test_discovery_defers_one_poll_per_race_and_never_a_second(queue: Rig, database_url: str) -> None:
    races = sorted(race.race_id for race in queue.sim.day.races)
    assert await discover(queue.context) == races
    # Each race's job is locked on the race: one waiting and one running at most, across workers.
    assert _jobs(database_url) == [(race_id, race_id, race_id) for race_id in races]
    with capture_logs() as logs:
        assert await discover(queue.context) == []
    [line] = [e for e in logs if e["event"] == "races discovered"]
    assert (line["races"], line["added"], line["already_followed"]) == (8, 0, 8)
    assert len(_jobs(database_url)) == 8


async def test_a_restart_does_not_follow_races_already_settled(queue: Rig, database_url: str) -> None:
    for race in queue.sim.day.races:
        queue.ladder.follow(race.race_id, race.start)
    await queue.ladder.tick()  # the first run polled every race once, then stopped with an empty queue
    now = queue.clock.now()
    settled = {r.race_id for r in queue.sim.day.races if r.status(now) in ("Final", "Abandoned")}
    assert settled
    with capture_logs() as logs:
        added = await discover(queue.context)
    assert set(added) == {race.race_id for race in queue.sim.day.races} - settled
    [line] = [e for e in logs if e["event"] == "races discovered"]
    assert line["already_settled"] == len(settled)


async def test_the_queue_rides_over_its_connections_being_terminated(queue: Rig, database_url: str) -> None:
    """procrastinate's pool checks a connection as ours does: one the server closed is never used."""
    [first, second, *_] = sorted(race.race_id for race in queue.sim.day.races)
    start, now = queue.sim.day.races[0].start, queue.clock.now()
    assert await defer_poll(queue.context, first, start, now)
    with psycopg.connect(database_url, autocommit=True) as admin:
        terminated = admin.execute(
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        ).fetchone()
    assert terminated is not None
    assert terminated[0] > 0
    assert await defer_poll(queue.context, second, start, now)
    assert [lock for lock, _, _ in _jobs(database_url)] == [first, second]


async def test_periodic_work_is_retried_until_done_then_done_once(queue: Rig, database_url: str) -> None:
    # Every attempt of the first read fails (the client tries 4 times), then the API recovers.
    queue.sim.faults.add(FaultRule(endpoint="meetings", kind="error", status=503, times=4))

    def done() -> list[tuple[str, str]]:
        with psycopg.connect(database_url) as conn:
            return conn.execute("SELECT job, slot FROM pipeline_runs").fetchall()

    with pytest.raises(Exception, match="503"):
        await periodic_work(job="discover", slot="1")
    assert done() == []  # so the next tick defers it again
    await periodic_work(job="discover", slot="1")
    assert done() == [("discover", "1")]
    assert len(_jobs(database_url)) == 8
    await periodic_work(job="discover", slot="1")  # a tick re-queued twice: the slot is done already
    statuses = [r.status for r in queue.sim.requests.for_endpoint("meetings")]
    assert statuses == [503] * 4 + [200]


async def test_a_race_not_settled_3_hours_after_its_start_is_given_up(rig: Rig) -> None:
    ladder = rig.ladder
    # A race NZ TAB no longer serves (404): its polls fail and it never reaches final.
    ladder.follow("gone-race", rig.clock.now() - timedelta(hours=2, minutes=59))
    assert await ladder.tick() == ["gone-race"]
    assert ladder.polled[-1].result.outcome == "fetch_failed"
    assert "gone-race" in ladder.races
    rig.clock.advance(120)
    assert await ladder.tick() == ["gone-race"]
    assert timedelta(hours=3) == GIVE_UP_AFTER
    assert ladder.polled[-1].plan.reason == "given_up"
    assert ladder.races == {}
