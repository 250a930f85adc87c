"""The job queue's own steps on a real PostgreSQL 18 (procrastinate's tables) and the real simulator:
discovery defers one poll job per race to follow and never a second, a restart skips what is settled,
periodic work is done once per slot and retried until it is, a written poll queues its successor in its own
transaction, and a race that never settles is given up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from structlog.testing import capture_logs

from raceday.domain.schedule import GIVE_UP_AFTER
from raceday.pipeline.queue import (
    POLL_TASK,
    connected,
    defer_poll,
    discover,
    periodic_work,
    poll_once,
    poll_race,
    requeue_stalled,
    serving,
)
from raceday.simulator import FaultRule, SimRace
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


def _queued(url: str, race_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT id, queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at, attempts"
            " FROM procrastinate_jobs WHERE lock = %s AND status = 'todo'",
            (race_id,),
        ).fetchall()


def _open(rig: Rig) -> list[SimRace]:
    """Races open at the rig's time: each poll of one has a next poll to queue."""
    return [race for race in rig.sim.day.races if race.status(rig.clock.now()) == "Open"]


def _snapshots(url: str, race_id: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM race_snapshots WHERE race_id = %s", (race_id,)).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_written_poll_queues_its_successor_as_procrastinate_would(
    queue: Rig, database_url: str
) -> None:
    ours, theirs, *_ = _open(queue)
    polled = await poll_once(queue.context, ours.race_id, ours.start)
    assert polled.result.outcome == "ok"
    assert polled.queued
    assert polled.plan.at is not None
    # The same poll deferred through procrastinate's own API, for the other race.
    assert await defer_poll(queue.context, theirs.race_id, polled.start, polled.plan.at)
    [mine] = _queued(database_url, ours.race_id)
    [reference] = _queued(database_url, theirs.race_id)
    assert mine["args"] == {"race_id": ours.race_id, "start": polled.start.isoformat()}
    assert (mine["lock"], mine["queueing_lock"]) == (ours.race_id, ours.race_id)
    same = ("queue_name", "task_name", "priority", "attempts")
    assert {k: mine[k] for k in same} == {k: reference[k] for k in same}
    assert reference["args"]["race_id"] == theirs.race_id
    # Both are due at the wall time of the same data time, taken a moment apart.
    assert abs(mine["scheduled_at"] - reference["scheduled_at"]) < timedelta(seconds=1)


async def test_a_waiting_successor_never_costs_the_poll_its_write(queue: Rig, database_url: str) -> None:
    race = _open(queue)[0]
    assert await defer_poll(queue.context, race.race_id, race.start, queue.clock.now())
    [waiting] = _queued(database_url, race.race_id)
    polled = await poll_once(queue.context, race.race_id, race.start)
    assert (polled.result.outcome, polled.queued) == ("ok", True)
    assert _snapshots(database_url, race.race_id) == 1
    assert _queued(database_url, race.race_id) == [waiting]


async def test_a_failed_write_queues_nothing_and_the_job_defers_the_next_poll(
    queue: Rig, database_url: str
) -> None:
    race = _open(queue)[0]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER refuse AFTER INSERT ON race_snapshots FOR EACH ROW EXECUTE FUNCTION refuse()"
        )
    polled = await poll_once(queue.context, race.race_id, race.start)
    assert (polled.result.outcome, polled.queued) == ("write_failed", False)
    assert _queued(database_url, race.race_id) == []  # rolled back with the poll
    await poll_race(race_id=race.race_id, start=race.start.isoformat())
    [deferred] = _queued(database_url, race.race_id)
    assert deferred["args"]["race_id"] == race.race_id
    assert _snapshots(database_url, race.race_id) == 0


async def test_a_dead_workers_job_whose_successor_waits_is_closed_not_left_holding_the_race(
    queue: Rig, database_url: str
) -> None:
    """Killed after its poll (and the successor with it) committed, before procrastinate finished it: it
    cannot be re-queued beside its successor, and left `doing` it would hold the race's lock for ever."""
    race = _open(queue)[0]
    assert await defer_poll(queue.context, race.race_id, race.start, queue.clock.now())
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO procrastinate_workers (last_heartbeat)"
            " VALUES (now() - interval '1 minute') RETURNING id"
        ).fetchone()
        assert row is not None
        conn.execute(
            "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s WHERE lock = %s",
            (row[0], race.race_id),
        )
    assert await defer_poll(queue.context, race.race_id, race.start, queue.clock.now())
    [successor] = _queued(database_url, race.race_id)
    assert await requeue_stalled() == 0
    with psycopg.connect(database_url) as conn:
        jobs = conn.execute(
            "SELECT id, status FROM procrastinate_jobs WHERE lock = %s", (race.race_id,)
        ).fetchall()
    assert jobs == [(successor["id"], "todo")]


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
