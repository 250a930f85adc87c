"""The races' next polls (`race_polls`): one row a race followed, due at a wall-clock time, held by the
poll worker running it, and given its next due time in the poll's own transaction.

Every raceday worker, on any machine, takes due rows from the same table (`FOR UPDATE SKIP LOCKED`), so
across all of them a race has one poll waiting or running, never two. A worker sends a heartbeat every
second (`poll_workers`); one silent for a few seconds is deleted by another's tick, and the polls it held
are waiting again (`ON DELETE SET NULL`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, AsyncCursor

from raceday.domain.rows import Snapshot

CHANNEL = "race_polls"
"""Notified when polls are due now (a race followed, a bench's batch): workers take them at once
instead of at their next look for due polls."""

REGISTER = "INSERT INTO poll_workers (name) VALUES (%s) RETURNING id"
HEARTBEAT = "UPDATE poll_workers SET last_heartbeat = now() WHERE id = %s RETURNING id"
UNREGISTER = "DELETE FROM poll_workers WHERE id = %s"
# The polls the silent workers held, read in the statement that deletes them: the foreign key's SET NULL
# runs after it, so the CTE still sees them held.
PRUNE = """
WITH gone AS (
  DELETE FROM poll_workers WHERE last_heartbeat < now() - make_interval(secs => %s) RETURNING id
)
SELECT gone.id, p.race_id FROM gone LEFT JOIN race_polls p ON p.worker_id = gone.id
"""
# At most this worker's share of the polls due, split between the workers alive: a worker that took all it
# had slots for left the others idle (10 races due at once: one worker took all ten).
TAKE = """
UPDATE race_polls p SET worker_id = %(worker_id)s, taken_at = now()
FROM (
  SELECT race_id FROM race_polls WHERE worker_id IS NULL AND due_at <= now()
  ORDER BY due_at
  LIMIT least(%(limit)s, (
    SELECT ceil(count(*)::numeric / greatest(1, (
      SELECT count(*) FROM poll_workers WHERE last_heartbeat > now() - make_interval(secs => %(alive_s)s))))
    FROM race_polls WHERE worker_id IS NULL AND due_at <= now()))
  FOR UPDATE SKIP LOCKED
) due
WHERE p.race_id = due.race_id
RETURNING p.race_id, p.start_time
"""
FOLLOW = f"""
WITH added AS (
  INSERT INTO race_polls (race_id, start_time, due_at)
  SELECT * FROM unnest(%(race_ids)s::text[], %(starts)s::timestamptz[], %(due)s::timestamptz[])
  ON CONFLICT (race_id) DO NOTHING
  RETURNING race_id, due_at
)
SELECT race_id, pg_notify('{CHANNEL}', '') FROM added
"""
# Only while this worker still holds the poll: one released meanwhile (its worker taken for dead) may be
# another's now.
RESCHEDULE = """
UPDATE race_polls SET start_time = %(start)s, due_at = %(due_at)s, worker_id = NULL, taken_at = NULL
WHERE race_id = %(race_id)s AND worker_id = %(worker_id)s
"""
FORGET = "DELETE FROM race_polls WHERE race_id = %(race_id)s AND worker_id = %(worker_id)s"


@dataclass(frozen=True)
class Held:
    """A race's poll as the worker running it holds it, and how to work out the next one once the poll's
    stored status is known: (the race's start as now known, the next poll's wall-clock due time, or None
    when the race leaves the queue)."""

    race_id: str
    worker_id: int
    next_for: Callable[[Snapshot, str], tuple[datetime, datetime | None]]


async def release(
    conn: AsyncConnection[Any], race_id: str, worker_id: int, start: datetime, due_at: datetime | None
) -> AsyncCursor[Any]:
    """The race's next poll due at `due_at` (None: no next poll, the race is no longer followed); the
    cursor's rowcount is 0 when this worker no longer held it."""
    params = {"race_id": race_id, "worker_id": worker_id, "start": start, "due_at": due_at}
    return await conn.execute(RESCHEDULE if due_at is not None else FORGET, params)


async def follow(conn: AsyncConnection[Any], due: Mapping[str, tuple[datetime, datetime]]) -> list[str]:
    """Races to follow, each race id to (its start, its first poll's wall-clock due time); returns those
    not followed already (a race has one row)."""
    race_ids = sorted(due)
    params = {
        "race_ids": race_ids,
        "starts": [due[race_id][0] for race_id in race_ids],
        "due": [due[race_id][1] for race_id in race_ids],
    }
    cursor = await conn.execute(FOLLOW, params)
    return sorted(row[0] for row in await cursor.fetchall())


async def take(
    conn: AsyncConnection[Any], worker_id: int, limit: int, alive_s: float
) -> list[tuple[str, datetime]]:
    """Up to `limit` polls due now, earliest first, held for this worker: (race id, its start). No more
    than its share of them, among the workers with a heartbeat in the last `alive_s`."""
    params = {"worker_id": worker_id, "limit": limit, "alive_s": alive_s}
    cursor = await conn.execute(TAKE, params)
    return [(race_id, start) for race_id, start in await cursor.fetchall()]


async def register(conn: AsyncConnection[Any], name: str) -> int:
    cursor = await conn.execute(REGISTER, (name,))
    row = await cursor.fetchone()
    assert row is not None  # an INSERT ... RETURNING of one row
    return int(row[0])


async def heartbeat(conn: AsyncConnection[Any], worker_id: int) -> bool:
    """False when the worker was taken for dead meanwhile (its row deleted, its polls released)."""
    cursor = await conn.execute(HEARTBEAT, (worker_id,))
    return await cursor.fetchone() is not None


async def unregister(conn: AsyncConnection[Any], worker_id: int) -> None:
    """A stopping worker: whatever it still holds is waiting again."""
    await conn.execute(UNREGISTER, (worker_id,))


async def prune(conn: AsyncConnection[Any], silent_s: float) -> dict[int, list[str]]:
    """Delete the workers silent for `silent_s`; returns each one's id with the races it held."""
    cursor = await conn.execute(PRUNE, (silent_s,))
    pruned: dict[int, list[str]] = {}
    for worker_id, race_id in await cursor.fetchall():
        pruned.setdefault(worker_id, [])
        if race_id is not None:
            pruned[worker_id].append(race_id)
    return pruned
