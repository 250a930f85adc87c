"""A worker process's polls: take those due from `race_polls` as slots free up, run each whole, and send
the heartbeat that keeps them held.

Due polls are taken in one statement, up to the worker's free slots and its share of those due among the
live workers: when a poll is added due now (a NOTIFY), every `look_every_s` (polls are due later than they
were queued, at the ladder's next step, so most are found so), again at once after a look that found some
(more may be due), and when a slot frees after a look that filled them all. Each poll gives its race its
next due time in its own transaction: the queue adds no transaction to a poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

import psycopg

from raceday.db import poll_queue
from raceday.pipeline.queue import HEARTBEAT_S, STALLED_AFTER_S, PollContext, run_poll


class PollsLost(Exception):
    """The worker can no longer vouch for the polls it holds: taken for dead (its heartbeat missed), or a
    poll's next due time not stored. It starts again as a new worker; its polls wait for another."""


class PollLoop:
    """Up to `concurrency` polls at once for one worker, registered as `name` while it runs."""

    def __init__(
        self, context: PollContext, database_url: str, name: str, concurrency: int, look_every_s: float
    ) -> None:
        self.context = context
        self.database_url = database_url
        self.name = name
        self.concurrency = concurrency
        self.look_every_s = look_every_s
        self.worker_id: int | None = None
        self.running: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._more = False
        """The last look filled every free slot: more may be due once one frees."""
        self._lost: BaseException | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; then the running polls finish before it returns. Raises when the database
        is lost (the caller reconnects): held polls are released once the heartbeat is missed."""
        async with self.context.pool.connection() as conn:
            self.worker_id = await poll_queue.register(conn, self.name)
        listener = asyncio.create_task(self._listen(), name="poll loop listener")
        heartbeat = asyncio.create_task(self._heartbeat(), name="poll loop heartbeat")
        stopping = asyncio.create_task(stop.wait(), name="poll loop stop")
        try:
            while not stop.is_set():
                for task in (listener, heartbeat):
                    if task.done():
                        task.result()  # its error, if it failed
                if self._lost is not None:
                    raise PollsLost(f"a poll's next due time was not stored: {self._lost!r}") from self._lost
                self._wake.clear()
                await self._take()
                waking = asyncio.create_task(self._wake.wait())
                await asyncio.wait(
                    {waking, stopping, listener, heartbeat},
                    timeout=self.look_every_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waking.cancel()
            if self.running:
                await asyncio.wait(self.running)
        finally:
            for task in (listener, heartbeat, stopping, *self.running):
                task.cancel()
            with contextlib.suppress(psycopg.Error):
                async with self.context.pool.connection() as conn:
                    await poll_queue.unregister(conn, self.worker_id)

    async def _take(self) -> None:
        free = self.concurrency - len(self.running)
        if free <= 0:
            return
        assert self.worker_id is not None  # registered in run()
        async with self.context.pool.connection() as conn:
            taken = await poll_queue.take(conn, self.worker_id, free, STALLED_AFTER_S)
        for race_id, start in taken:
            task = asyncio.create_task(self._poll(race_id, start), name=f"poll {race_id}")
            self.running.add(task)
            task.add_done_callback(self._done)
        self._more = len(taken) == free
        if taken and not self._more:
            self._wake.set()

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._lost = task.exception()
            self._wake.set()
        elif self._more:
            self._wake.set()

    async def _poll(self, race_id: str, start: datetime) -> None:
        assert self.worker_id is not None
        await run_poll(self.context, race_id, start, self.worker_id)

    async def _heartbeat(self) -> None:
        """A worker taken for dead meanwhile (its row gone, its polls released) stops: its polls may be
        another's now, and it starts again as a new worker."""
        assert self.worker_id is not None
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            async with self.context.pool.connection() as conn:
                if not await poll_queue.heartbeat(conn, self.worker_id):
                    raise PollsLost(f"poll worker {self.worker_id} was taken for dead")

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn:
            await conn.execute(f"LISTEN {poll_queue.CHANNEL}")
            self._wake.set()  # polls added before the LISTEN
            async for _ in conn.notifies():
                self._wake.set()
