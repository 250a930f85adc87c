"""The app's live parts for as long as it serves: the race cache, the streams, and the listener feeding both.

Started by the app's lifespan, so every way of serving `create_app` (`raceday run`, the tests, the
benchmark) has them, over the runtime's pool.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from raceday.api.cache import RaceCache
from raceday.api.push import RaceFeed
from raceday.core.log import get_logger
from raceday.db.listen import RaceChangeListener
from raceday.runtime import Runtime

log = get_logger(__name__)

# Serving starts without waiting longer: the cache is correct without notifications, streams catch up
# when the listener connects (its first connect wakes them).
LISTEN_WAIT_S = 5.0


class Live:
    def __init__(self, runtime: Runtime) -> None:
        conninfo = runtime.pool.conninfo
        if not isinstance(conninfo, str):
            raise TypeError("the pool's conninfo must be a string: the cache and listener connect with it")
        self.cache = RaceCache(runtime.pool, conninfo, runtime.metrics)
        self.feed = RaceFeed()
        self.listener = RaceChangeListener(conninfo, self.changed, self.reset)

    def changed(self, race_id: str, version: int) -> None:
        self.cache.changed(race_id, version)
        self.feed.changed(race_id, version)

    def reset(self) -> None:
        self.cache.reset()
        self.feed.reset()


@contextlib.asynccontextmanager
async def open_live(runtime: Runtime) -> AsyncIterator[Live]:
    live = Live(runtime)
    live.listener.start()
    try:
        try:
            await asyncio.wait_for(live.listener.listening.wait(), LISTEN_WAIT_S)
        except TimeoutError:
            log.warning("race_changed listener not connected yet; serving without push for now")
        yield live
    finally:
        await live.listener.stop()
        await live.cache.close()
