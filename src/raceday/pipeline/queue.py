"""Polls shared by every raceday worker on one database, and the periodic work (procrastinate) beside them.

A race's next poll is its row in `race_polls` (`raceday.db.poll_queue`), due at its ladder time: a worker
takes it when due and gives it its next due time in the poll's own transaction, so a written poll is never
left without its next one, and the terminal rule ends it (the row is deleted). Discovery (the meetings
list, every 5 minutes of data time) adds a row for each race not settled and not already followed.

Every worker defers a procrastinate `tick` each second (procrastinate keeps one per second across all of
them). The tick releases the polls of workers that stopped sending heartbeats (a SIGKILL, a lost machine)
and re-queues their periodic jobs, and starts the periodic work whose slot is due and not done
(`pipeline_runs`): discovery, partitions and archives, on New Zealand data time, once per slot across
every instance.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as clock_time
from typing import Any

import procrastinate
import psycopg
import stamina
from procrastinate.exceptions import AlreadyEnqueued, UniqueViolation
from procrastinate.jobs import Status
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from raceday.core.clock import Clock
from raceday.core.config import Settings
from raceday.core.log import get_logger
from raceday.core.nztime import NZ, nz_day
from raceday.db import poll_queue
from raceday.db.partitions import PartitionKeeper
from raceday.db.pool import check_connection
from raceday.domain.rows import Snapshot
from raceday.domain.schedule import NextPoll, plan_next_poll
from raceday.pipeline.discovery import Listing, MeetingSource, read_listing
from raceday.pipeline.maintenance import archive_partitions, maintain_partitions
from raceday.pipeline.processor import PollResult, RaceProcessor

log = get_logger(__name__)

DISCOVER_EVERY_S = 300
"""Data seconds between two reads of the meetings list (races added, re-timed or abandoned)."""
PARTITIONS_AT = clock_time(0, 5)
ARCHIVE_AT = clock_time(0, 15)
RELEASE_RETRY_ON = (psycopg.OperationalError, PoolTimeout)
RELEASE_ATTEMPTS = 5
"""A poll not written gives its race its next due time itself (`run_poll`): tried this often while the
database is unreachable, then the worker gives its polls up (`PollsLost`)."""
HEARTBEAT_S = 1.0
STALLED_AFTER_S = 4.0
"""A worker silent this long is taken for dead and its polls and jobs run again elsewhere: well inside the
ladder's shortest step (15 s) at real speed."""

app = procrastinate.App(connector=procrastinate.PsycopgConnector())

FOLLOWED_OR_SETTLED = """
SELECT race_id, 'followed' FROM race_polls WHERE race_id = ANY(%(ids)s)
UNION
SELECT race_id, 'settled' FROM races WHERE race_id = ANY(%(ids)s) AND status IN ('final', 'abandoned')
"""
# A discovery slot counts as done only while its read is recent in wall time: a simulator started again
# runs its clock from before slots the last run marked done, and its races would wait for the clock.
DONE = """
SELECT 1 FROM pipeline_runs WHERE job = %(job)s AND slot = %(slot)s
  AND (%(within_s)s::float8 IS NULL OR finished_at > now() - make_interval(secs => %(within_s)s))
"""
MARK_DONE = """
INSERT INTO pipeline_runs (job, slot) VALUES (%s, %s)
ON CONFLICT (job, slot) DO UPDATE SET finished_at = now()
"""


@dataclass
class PollContext:
    """What a worker process's jobs share: its own pool, NZ TAB client and data clock."""

    settings: Settings
    pool: AsyncConnectionPool
    source: MeetingSource
    processor: RaceProcessor
    clock: Clock
    time_scale: float = 1.0
    partitions: PartitionKeeper = field(default_factory=PartitionKeeper)


_context: PollContext | None = None


@contextlib.contextmanager
def serving(context: PollContext) -> Iterator[PollContext]:
    """Hand this process's jobs their context for as long as the block runs."""
    global _context
    _context = context
    try:
        yield context
    finally:
        _context = None


@contextlib.asynccontextmanager
async def connected(database_url: str) -> AsyncIterator[procrastinate.App]:
    """procrastinate on connections of its own (its LISTEN connection copies the pool's settings), through
    a new connector each time: a connector reopened on a pool it was handed keeps the closed one
    (procrastinate 3.10)."""
    connector = procrastinate.PsycopgConnector(
        conninfo=database_url, min_size=1, max_size=4, pool_factory=_pool_checked_cheaply
    )
    with app.replace_connector(connector):
        async with app.open_async():
            yield app


def _pool_checked_cheaply(**kwargs: Any) -> AsyncConnectionPool:
    """procrastinate's pool, checking connections as ours do (a job's fetch, defer and finish each take a
    connection, and a round trip to check each one cost as much as the query), and in autocommit: each of
    its queries is one statement, which psycopg otherwise wraps in a BEGIN and a COMMIT of their own,
    three round trips where one does. Set by `configure`, not the pool's `kwargs` as ours: procrastinate
    opens its LISTEN connection with those kwargs and `autocommit=True` besides, which would repeat it."""
    return AsyncConnectionPool(**(kwargs | {"check": check_connection, "configure": _autocommit}))


async def _autocommit(conn: AsyncConnection[Any]) -> None:
    await conn.set_autocommit(True)


def _current() -> PollContext:
    if _context is None:
        raise RuntimeError("no poll context: jobs run only inside a poll worker process")
    return _context


def wall_time(due: datetime, clock: Clock, time_scale: float) -> datetime:
    """The wall-clock instant at which the data clock shows `due` (jobs are scheduled on wall time)."""
    return datetime.now(UTC) + (due - clock.now()) / time_scale


async def follow(context: PollContext, starts: dict[str, datetime], due: datetime) -> list[str]:
    """Races to follow, each with its start, first polled at data time `due`; returns those not followed
    already."""
    at = wall_time(due, context.clock, context.time_scale)
    async with context.pool.connection() as conn:
        return await poll_queue.follow(conn, {race_id: (start, at) for race_id, start in starts.items()})


@dataclass(frozen=True)
class Polled:
    """A poll's result and what comes after it: the race's start as now known, and its next poll."""

    result: PollResult
    start: datetime
    plan: NextPoll
    queued: bool = False
    """The plan was carried out in the poll's own transaction (the held poll given its next due time, or
    forgotten)."""


def _plan(context: PollContext, start: datetime, status: str | None, retry_after_s: float | None) -> NextPoll:
    return plan_next_poll(
        start, status, context.clock.now(), retry_after_s=retry_after_s, time_scale=context.time_scale
    )


async def poll_once(
    context: PollContext, race_id: str, start: datetime, *, held_by: int | None = None
) -> Polled:
    """One poll and the ladder's verdict on the next one. For a poll `held_by` a worker, the verdict is
    carried out in the poll's transaction when the poll is written; when it is not (the fetch or the write
    failed), or for a poll not held, the caller carries it out."""
    planned: list[tuple[datetime, NextPoll]] = []

    def next_for(snapshot: Snapshot, stored_status: str) -> tuple[datetime, datetime | None]:
        starts = snapshot.race.start_time
        plan = _plan(context, starts, stored_status, None)
        planned.append((starts, plan))
        return starts, _wall_time(context, plan)

    held = poll_queue.Held(race_id, held_by, next_for) if held_by is not None else None
    result = await context.processor.process(race_id, held)
    queued = result.written is not None and result.written.released
    if result.written is not None and planned:
        starts, plan = planned[-1]
    else:
        starts = result.snapshot.race.start_time if result.snapshot else start
        plan = _plan(context, starts, result.status, result.retry_after_s)
    if plan.reason == "terminal":
        log.info("race tracking finished", raceId=race_id, status=result.status)
    elif plan.reason == "given_up":
        log.warning("race given up: not final 3 h after its start", raceId=race_id, status=result.status)
    elif plan.reason == "retry_after":
        log.warning(
            "race poll deferred: NZ TAB asked for a pause", raceId=race_id, seconds=result.retry_after_s
        )
    return Polled(result, starts, plan, queued)


def _wall_time(context: PollContext, plan: NextPoll) -> datetime | None:
    return wall_time(plan.at, context.clock, context.time_scale) if plan.at is not None else None


async def run_poll(context: PollContext, race_id: str, start: datetime, worker_id: int) -> Polled:
    """A poll this worker holds, then its next one on the ladder (or none: final, abandoned, or given up).
    A poll not written gives its race the next due time here, retried while the database is unreachable;
    should that fail for good, the worker stops, and its polls are released once its heartbeat is missed."""
    polled = await poll_once(context, race_id, start, held_by=worker_id)
    if not polled.queued:
        async for attempt in stamina.retry_context(on=RELEASE_RETRY_ON, attempts=RELEASE_ATTEMPTS):
            with attempt:
                async with context.pool.connection() as conn:
                    due = _wall_time(context, polled.plan)
                    await poll_queue.release(conn, race_id, worker_id, polled.start, due)
    return polled


@dataclass(frozen=True)
class Discovered:
    """The meetings list as read, and what discovery makes of its races."""

    listing: Listing
    to_follow: dict[str, datetime]
    """Each race neither followed nor settled, with its start."""
    followed: int
    """Races with a poll waiting or running already."""
    settled: int
    """Races final or abandoned in the database (e.g. before a restart): nothing left to poll."""


async def unfollowed(context: PollContext) -> Discovered:
    """Read and store the meetings list; sort its races into those to follow, followed and settled."""
    settings = context.settings
    listing = await read_listing(
        context.source,
        context.pool,
        context.clock,
        settings.tracked_countries,
        settings.tracked_categories,
    )
    starts = {race.id: race.start_time for meeting in listing.meetings for race in meeting.races}
    async with context.pool.connection() as conn:
        cursor = await conn.execute(FOLLOWED_OR_SETTLED, {"ids": sorted(starts)})
        known: dict[str, str] = {race_id: kind for race_id, kind in await cursor.fetchall()}
    kinds = list(known.values())
    return Discovered(
        listing,
        {race_id: start for race_id, start in starts.items() if race_id not in known},
        kinds.count("followed"),
        kinds.count("settled"),
    )


async def discover(context: PollContext) -> list[str]:
    """Read the meetings list and start polling every race neither settled nor followed yet."""
    found = await unfollowed(context)
    now = context.clock.now()
    starts = found.to_follow
    added = await follow(context, starts, now) if starts else []
    listing = found.listing
    log.info(
        "races discovered",
        day=listing.day.isoformat(),
        meetings=len(listing.meetings),
        races=sum(len(meeting.races) for meeting in listing.meetings),
        added=len(added),
        already_followed=found.followed,
        already_settled=found.settled,
        simulated=listing.simulated,
    )
    return added


def due_slots(now: datetime) -> list[tuple[str, str]]:
    """The periodic work due at data time `now`, as (job, slot): each slot runs once."""
    local = now.astimezone(NZ)
    today: date = nz_day(now)
    slots = [("discover", str(int(now.timestamp()) // DISCOVER_EVERY_S))]
    if local.time() >= PARTITIONS_AT:
        slots.append(("partitions", today.isoformat()))
    if local.time() >= ARCHIVE_AT:
        slots.append(("archive", today.isoformat()))
    return slots


async def _done(conn: AsyncConnection[Any], job: str, slot: str, time_scale: float) -> bool:
    within_s = DISCOVER_EVERY_S / time_scale if job == "discover" else None
    cursor = await conn.execute(DONE, {"job": job, "slot": slot, "within_s": within_s})
    return await cursor.fetchone() is not None


@app.task(name="periodic_work")
async def periodic_work(job: str, slot: str) -> None:
    """Run `job` for `slot` unless some worker already has (a re-queued tick may defer it twice)."""
    context = _current()
    async with context.pool.connection() as conn:
        if await _done(conn, job, slot, context.time_scale):
            return
    settings = context.settings
    if job == "discover":
        await discover(context)
    elif job == "partitions":
        await maintain_partitions(context.pool, context.partitions, settings.retention_days)
    elif job == "archive":
        await archive_partitions(
            context.pool, context.partitions, settings.archive_path, settings.retention_days
        )
    else:
        raise ValueError(f"unknown periodic job {job!r}")
    async with context.pool.connection() as conn:
        await conn.execute(MARK_DONE, (job, slot))


async def release_stalled(context: PollContext) -> int:
    """Polls held by workers with no heartbeat for STALLED_AFTER_S wait again (due since they were taken,
    so taken again at once); returns how many. A poll killed half-way wrote nothing (one transaction, its
    next due time included)."""
    async with context.pool.connection() as conn:
        pruned = await poll_queue.prune(conn, STALLED_AFTER_S)
    for worker_id, race_ids in pruned.items():
        log.warning("poll worker taken for dead: its polls released", worker_id=worker_id, races=race_ids)
    return sum(len(race_ids) for race_ids in pruned.values())


async def requeue_stalled() -> int:
    """Periodic jobs left `doing` by a worker with no heartbeat for STALLED_AFTER_S run again, now; one
    whose twin for the same slot is already waiting is closed instead."""
    manager = app.job_manager
    requeued = 0
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_S):
        assert job.id is not None  # a stored job
        try:
            await manager.retry_job(job)
        except UniqueViolation as error:
            if error.queueing_lock is not None:
                # Left `doing`, it would hold its lock forever, and the waiting twin never run.
                with contextlib.suppress(Exception):  # another tick closed it first
                    await manager.finish_job_by_id_async(job.id, Status.SUCCEEDED, delete_job=True)
                    log.warning("job of a dead worker closed: its twin is waiting", job_id=job.id)
            continue
        except Exception as error:
            # Another tick re-queued it first, or it finished after all.
            log.debug("stalled job not re-queued", job_id=job.id, error=str(error))
            continue
        requeued += 1
        log.warning("job of a dead worker re-queued", job_id=job.id, task=job.task_name, lock=job.lock)
    return requeued


@app.periodic(cron="* * * * * *")
@app.task(name="tick", queueing_lock="tick")
async def tick(timestamp: int) -> None:
    context = _current()
    await release_stalled(context)
    await requeue_stalled()
    async with context.pool.connection() as conn:
        due = [
            (job, slot)
            for job, slot in due_slots(context.clock.now())
            if not await _done(conn, job, slot, context.time_scale)
        ]
    for job, slot in due:
        with contextlib.suppress(AlreadyEnqueued):
            await periodic_work.configure(lock=job, queueing_lock=f"{job}@{slot}").defer_async(
                job=job, slot=slot
            )


def polling_interval_s(time_scale: float) -> float:
    """How often a worker looks for polls and jobs that have become due: those due later than they were
    added are found only so.
    A second at real speed; at the simulator's speed, never more than 3 s of data time."""
    return min(1.0, 3.0 / time_scale)
