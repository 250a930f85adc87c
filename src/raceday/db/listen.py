"""LISTEN race_changed on a connection of its own: each poll's (race, version) as soon as it commits.

PostgreSQL drops notifications sent while a listener is disconnected, so every (re)connect is reported
(`on_reset`) before the first notification on it: whoever caches by race must distrust what it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import psycopg

from raceday.core.log import get_logger

log = get_logger(__name__)

CHANNEL = "race_changed"
APPLICATION_NAME = "raceday-listen"
# Reconnect at once after a blip, at most every 2 s during an outage.
RETRY_INITIAL_S = 0.05
RETRY_MAX_S = 2.0
# A peer that vanished without a FIN (TCP only) is noticed within ~25 s instead of hours.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}


def parse_payload(payload: str) -> tuple[str, int] | None:
    """`"<race_id> <version>"` as the writers send it; None for anything else."""
    race_id, _, version = payload.rpartition(" ")
    if not race_id or not version.isdigit():
        return None
    return race_id, int(version)


class RaceChangeListener:
    """Calls `on_change(race_id, version)` per notification and `on_reset()` whenever some may be lost."""

    def __init__(
        self,
        conninfo: str,
        on_change: Callable[[str, int], None],
        on_reset: Callable[[], None],
        **connect_kwargs: Any,
    ) -> None:
        self._conninfo = conninfo
        self._on_change = on_change
        self._on_reset = on_reset
        self._connect_kwargs = connect_kwargs
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()
        """Set while LISTEN is in force on a live connection."""
        self.connects = 0
        """Connections that reached LISTEN: above 1 after a reconnect."""
        self.backend_pid: int | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="race_changed listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.listening.clear()

    async def _run(self) -> None:
        delay = RETRY_INITIAL_S
        while True:
            try:
                await self._listen()
            except psycopg.OperationalError as exc:
                was_listening = self.listening.is_set()
                self.listening.clear()
                self.backend_pid = None
                self._on_reset()
                if was_listening:
                    delay = RETRY_INITIAL_S
                log.warning("race_changed listener disconnected; reconnecting", error=str(exc), retryS=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    async def _listen(self) -> None:
        kwargs = {"application_name": APPLICATION_NAME, **KEEPALIVES, **self._connect_kwargs}
        async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True, **kwargs) as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            self.connects += 1
            self.backend_pid = conn.info.backend_pid
            # Anything committed while no LISTEN was in force was never announced to us.
            self._on_reset()
            self.listening.set()
            if self.connects > 1:
                log.info("race_changed listener reconnected", connects=self.connects)
            async for note in conn.notifies():
                parsed = parse_payload(note.payload)
                if parsed is None:
                    log.warning("race_changed payload ignored", payload=note.payload[:200])
                    continue
                self._on_change(*parsed)
