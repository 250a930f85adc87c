"""Who is streaming which race: the race_changed listener wakes a race's streams, each reads it afresh.

A wake-up carries no data: the stream reads through the cache, so one fill serves every stream of the race
and a burst of commits costs each stream one read of the newest state, never a queue of old ones.
"""

from __future__ import annotations

import asyncio

# A dashboard holds one stream; beyond this many at once a stream is refused (503), not queued.
MAX_STREAMS = 1000


class Subscription:
    __slots__ = ("race_id", "woken")

    def __init__(self, race_id: str) -> None:
        self.race_id = race_id
        self.woken = asyncio.Event()


class RaceFeed:
    def __init__(self, max_streams: int = MAX_STREAMS) -> None:
        self.max_streams = max_streams
        self._by_race: dict[str, set[Subscription]] = {}
        self.count = 0

    def subscribe(self, race_id: str) -> Subscription | None:
        """A subscription woken by each change of the race; None when MAX_STREAMS are open already."""
        if self.count >= self.max_streams:
            return None
        subscription = Subscription(race_id)
        self._by_race.setdefault(race_id, set()).add(subscription)
        self.count += 1
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._by_race.get(subscription.race_id)
        if subscribers is None or subscription not in subscribers:
            return
        subscribers.remove(subscription)
        self.count -= 1
        if not subscribers:
            del self._by_race[subscription.race_id]

    def changed(self, race_id: str, version: int) -> None:
        for subscription in self._by_race.get(race_id, ()):
            subscription.woken.set()

    def reset(self) -> None:
        """Changes may have been missed: every stream re-reads its race."""
        for subscribers in self._by_race.values():
            for subscription in subscribers:
                subscription.woken.set()
