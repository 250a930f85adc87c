"""The races' polls run in memory, one step at a time, on a ManualClock.

`raceday worker` keeps each race's next poll in the shared queue, due at its ladder time. Here the same
steps (`queue.unfollowed`, `queue.poll_once`) run, but the next poll is kept in a dict instead (the polls
are not held from the queue), so a test jumps the clock to the next due poll and runs it: a race day in
seconds, every step deterministic. The queue itself (taking, releasing, dead workers) is tested in
test_queue.py, test_poll_loop.py and test_instances.py.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from psycopg_pool import AsyncConnectionPool

from raceday.core.config import Settings
from raceday.nztab.client import NzTabClient
from raceday.pipeline.processor import RaceProcessor
from raceday.pipeline.queue import PollContext, Polled, poll_once, unfollowed
from raceday.simulator import ManualClock


def poll_context(
    settings: Settings, pool: AsyncConnectionPool, client: NzTabClient, clock: ManualClock
) -> PollContext:
    """What a poll worker process hands its jobs, built in the test's own process."""
    processor = RaceProcessor(client, pool, clock)
    return PollContext(settings, pool, client, processor, clock)


class Ladder:
    def __init__(self, context: PollContext) -> None:
        self.context = context
        self.races: dict[str, tuple[datetime, datetime]] = {}
        """Each followed race's (start, next poll)."""
        self.polled: list[Polled] = []

    def follow(self, race_id: str, start: datetime) -> None:
        """A race followed from now, as discovery defers its first poll."""
        self.races[race_id] = (start, self.context.clock.now())

    async def discover(self) -> list[str]:
        """The meetings list read: every race neither settled nor followed is followed, due now."""
        starts = (await unfollowed(self.context)).to_follow
        added = sorted(set(starts) - set(self.races))
        for race_id in added:
            self.follow(race_id, starts[race_id])
        return added

    async def tick(self) -> list[str]:
        """Poll every race due now, together, as workers would; returns the races polled."""
        now = self.context.clock.now()
        due = sorted(race_id for race_id, (_, at) in self.races.items() if at <= now)
        polled = await asyncio.gather(*(poll_once(self.context, r, self.races[r][0]) for r in due))
        for race_id, result in zip(due, polled, strict=True):
            self.polled.append(result)
            if result.plan.at is None:
                del self.races[race_id]
            else:
                self.races[race_id] = (result.start, result.plan.at)
        return due

    async def run_until_settled(self, clock: ManualClock, max_polls: int = 20_000) -> int:
        """Jump to each next due poll and run it until no race is followed; returns the polls made."""
        polls = 0
        while self.races and polls < max_polls:
            clock.set(max(min(at for _, at in self.races.values()), clock.now()))
            polls += len(await self.tick())
        return polls
