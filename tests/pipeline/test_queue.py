"""The queue's own steps on a real PostgreSQL 18 and the real simulator: discovery follows each race once
and never twice, a restart skips what is settled, periodic work is done once per slot and retried until it
is, a written poll gives its race its next due time in its own transaction (or none once the race is
over), a poll no longer held touches nothing, the polls of a silent worker wait again, and a race that
never settles is given up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from procrastinate.exceptions import AlreadyEnqueued
from psycopg.rows import dict_row
from structlog.testing import capture_logs

from raceday.db import poll_queue
from raceday.domain.schedule import GIVE_UP_AFTER
from raceday.pipeline.queue import (
    STALLED_AFTER_S,
    connected,
    discover,
    follow,
    periodic_work,
    poll_once,
    release_stalled,
    requeue_stalled,
    run_poll,
    serving,
    wall_time,
)
from raceday.simulator import FaultRule, SimRace
from tests.pipeline.conftest import Rig


@pytest.fixture
async def queue(rig: Rig, database_url: str) -> AsyncIterator[Rig]:
    """The rig with procrastinate connected, as a worker process has it while it serves jobs."""
    async with connected(database_url):
        with serving(rig.context):
            yield rig


def _polls(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT race_id, start_time, due_at, worker_id FROM race_polls ORDER BY race_id"
        ).fetchall()


def _poll(url: str, race_id: str) -> dict[str, Any] | None:
    return next((row for row in _polls(url) if row["race_id"] == race_id), None)


async def test_discovery_follows_each_race_once_and_never_twice(queue: Rig, database_url: str) -> None:
    races = sorted(race.race_id for race in queue.sim.day.races)
    assert await discover(queue.context) == races
    polls = _polls(database_url)
    assert [row["race_id"] for row in polls] == races
    starts = {race.race_id: race.start for race in queue.sim.day.races}
    assert all(row["start_time"] == starts[row["race_id"]] for row in polls)
    assert all(row["worker_id"] is None for row in polls)  # waiting, due now
    with capture_logs() as logs:
        assert await discover(queue.context) == []
    [line] = [e for e in logs if e["event"] == "races discovered"]
    assert (line["races"], line["added"], line["already_followed"]) == (8, 0, 8)
    assert _polls(database_url) == polls


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


async def test_periodic_work_rides_over_its_connections_being_terminated(
    queue: Rig, database_url: str
) -> None:
    """procrastinate's pool checks a connection as ours does: one the server closed is never used."""

    async def defer(slot: str) -> None:
        await periodic_work.configure(queueing_lock=f"discover@{slot}").defer_async(job="discover", slot=slot)

    await defer("1")
    with psycopg.connect(database_url, autocommit=True) as admin:
        terminated = admin.execute(
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        ).fetchone()
    assert terminated is not None
    assert terminated[0] > 0
    await defer("2")
    with pytest.raises(AlreadyEnqueued):
        await defer("1")
    with psycopg.connect(database_url) as conn:
        slots = conn.execute("SELECT args->>'slot' FROM procrastinate_jobs ORDER BY id").fetchall()
    assert slots == [("1",), ("2",)]


def _open(rig: Rig) -> list[SimRace]:
    """Races open at the rig's time: each poll of one has a next poll to queue."""
    return [race for race in rig.sim.day.races if race.status(rig.clock.now()) == "Open"]


def _snapshots(url: str, race_id: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM race_snapshots WHERE race_id = %s", (race_id,)).fetchone()
    assert row is not None
    return int(row[0])


async def _held(rig: Rig, race: SimRace) -> int:
    """The race followed, due now, and its poll taken by a newly registered worker; returns its id."""
    assert await follow(rig.context, {race.race_id: race.start}, rig.clock.now()) == [race.race_id]
    async with rig.context.pool.connection() as conn:
        worker_id = await poll_queue.register(conn, "test")
        assert await poll_queue.take(conn, worker_id, 10, STALLED_AFTER_S) == [(race.race_id, race.start)]
    return worker_id


def _due(rig: Rig, data_time: datetime | None) -> datetime | None:
    return wall_time(data_time, rig.clock, rig.context.time_scale) if data_time is not None else None


async def test_a_written_poll_gives_its_race_its_next_due_time_in_its_transaction(
    queue: Rig, database_url: str
) -> None:
    race = _open(queue)[0]
    worker_id = await _held(queue, race)
    taken = _poll(database_url, race.race_id)
    assert taken is not None
    assert (taken["start_time"], taken["worker_id"]) == (race.start, worker_id)
    polled = await poll_once(queue.context, race.race_id, race.start, held_by=worker_id)
    assert (polled.result.outcome, polled.queued) == ("ok", True)
    assert polled.plan.at is not None
    row = _poll(database_url, race.race_id)
    assert row is not None
    assert (row["start_time"], row["worker_id"]) == (polled.start, None)
    # Due at the wall time of the ladder's next step, worked out a moment before this check.
    expected = _due(queue, polled.plan.at)
    assert expected is not None
    assert abs(row["due_at"] - expected) < timedelta(seconds=1)


async def test_a_race_over_leaves_the_queue_with_its_last_poll(queue: Rig, database_url: str) -> None:
    queue.clock.advance(3600 * 6)  # every race of the day has run and been settled
    race = queue.sim.day.races[0]
    worker_id = await _held(queue, race)
    polled = await poll_once(queue.context, race.race_id, race.start, held_by=worker_id)
    assert (polled.result.outcome, polled.queued, polled.plan.reason) == ("ok", True, "terminal")
    assert _poll(database_url, race.race_id) is None


async def test_a_poll_no_longer_held_writes_and_touches_no_ones_queue_row(
    queue: Rig, database_url: str
) -> None:
    """Its worker taken for dead meanwhile, and the poll taken by another: the poll is still stored (the
    ledger keeps each snapshot once), the row is the other worker's."""
    race = _open(queue)[0]
    stale = await _held(queue, race)
    async with queue.context.pool.connection() as conn:
        other = await poll_queue.register(conn, "other")
        await conn.execute("UPDATE race_polls SET worker_id = %s WHERE race_id = %s", (other, race.race_id))
    before = _poll(database_url, race.race_id)
    polled = await run_poll(queue.context, race.race_id, race.start, stale)
    assert (polled.result.outcome, polled.queued) == ("ok", False)
    assert _snapshots(database_url, race.race_id) == 1
    assert _poll(database_url, race.race_id) == before


async def test_a_failed_write_leaves_the_poll_held_and_its_run_gives_the_next_due_time(
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
    worker_id = await _held(queue, race)
    taken = _poll(database_url, race.race_id)
    polled = await poll_once(queue.context, race.race_id, race.start, held_by=worker_id)
    assert (polled.result.outcome, polled.queued) == ("write_failed", False)
    assert _poll(database_url, race.race_id) == taken  # rolled back with the poll
    polled = await run_poll(queue.context, race.race_id, race.start, worker_id)
    row = _poll(database_url, race.race_id)
    assert row is not None
    assert row["worker_id"] is None
    expected = _due(queue, polled.plan.at)
    assert expected is not None
    assert abs(row["due_at"] - expected) < timedelta(seconds=1)
    assert _snapshots(database_url, race.race_id) == 0


async def test_the_polls_of_a_silent_worker_wait_again_and_a_live_ones_do_not(
    queue: Rig, database_url: str
) -> None:
    silent_race, live_race = _open(queue)[:2]
    silent = await _held(queue, silent_race)
    live = await _held(queue, live_race)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE poll_workers SET last_heartbeat = now() - make_interval(secs => %s) WHERE id = %s",
            (STALLED_AFTER_S + 1, silent),
        )
    with capture_logs() as logs:
        assert await release_stalled(queue.context) == 1
    [line] = [e for e in logs if e["event"] == "poll worker taken for dead: its polls released"]
    assert (line["worker_id"], line["races"]) == (silent, [silent_race.race_id])
    assert [row["worker_id"] for row in _polls(database_url)] == [
        None if row["race_id"] == silent_race.race_id else live for row in _polls(database_url)
    ]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT id FROM poll_workers").fetchall() == [(live,)]
    # Waiting again and due since it was taken: the next look takes it.
    async with queue.context.pool.connection() as conn:
        taken = await poll_queue.take(conn, live, 10, STALLED_AFTER_S)
    assert taken == [(silent_race.race_id, silent_race.start)]


async def test_each_live_worker_takes_its_share_of_the_polls_due(queue: Rig, database_url: str) -> None:
    """Five races due, two workers alive and one silent: a look takes half of those due (rounded up), not
    all it has slots for, so the other live worker gets its part of a burst."""
    races = queue.sim.day.races[:5]
    assert len(await follow(queue.context, {r.race_id: r.start for r in races}, queue.clock.now())) == 5
    async with queue.context.pool.connection() as conn:
        first, second, silent = [await poll_queue.register(conn, name) for name in ("a", "b", "silent")]
        await conn.execute(
            "UPDATE poll_workers SET last_heartbeat = now() - make_interval(secs => %s) WHERE id = %s",
            (STALLED_AFTER_S + 1, silent),
        )
        looks = [await poll_queue.take(conn, w, 10, STALLED_AFTER_S) for w in (first, second, first)]
    assert [len(taken) for taken in looks] == [3, 1, 1]
    assert sorted(poll for taken in looks for poll in taken) == sorted((r.race_id, r.start) for r in races)


async def test_a_dead_workers_periodic_job_whose_twin_waits_is_closed_not_left_holding_its_lock(
    queue: Rig, database_url: str
) -> None:
    """A tick defers a slot's work again while its first job is held by a worker that died: the first
    cannot be re-queued beside its twin, and left `doing` it would hold the job's lock for ever."""

    async def defer() -> None:
        await periodic_work.configure(lock="discover", queueing_lock="discover@1").defer_async(
            job="discover", slot="1"
        )

    await defer()
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO procrastinate_workers (last_heartbeat)"
            " VALUES (now() - interval '1 minute') RETURNING id"
        ).fetchone()
        assert row is not None
        conn.execute("UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s", (row[0],))
    await defer()
    assert await requeue_stalled() == 0
    with psycopg.connect(database_url) as conn:
        jobs = conn.execute("SELECT status FROM procrastinate_jobs").fetchall()
    assert jobs == [("todo",)]


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
    assert len(_polls(database_url)) == 8
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
