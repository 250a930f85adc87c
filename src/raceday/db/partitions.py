"""Daily partitions of the history tables: created before a write needs them, kept for the days ahead.

Locks are always taken in one order, money_flow_history before odds_history (here, in the SQL functions
and in the writer), so creating or detaching a partition waits for polls but never deadlocks with one.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from psycopg import AsyncConnection

HISTORY_TABLES = ("money_flow_history", "odds_history", "raw_responses")
PRUNE_LEDGER = """
DELETE FROM race_snapshots
WHERE generated_time
  < ((now() AT TIME ZONE 'Pacific/Auckland')::date - %s)::timestamp AT TIME ZONE 'Pacific/Auckland'
"""


class PartitionKeeper:
    """Creates (or re-attaches) a day's partitions before a write needs them; remembers the days done.

    Another process may detach a remembered day (retention): a write that then finds no partition
    calls `forget` and tries once more.
    """

    def __init__(self) -> None:
        self._known: set[date] = set()

    async def ensure(self, conn: AsyncConnection[Any], day: date) -> None:
        if day in self._known:
            return
        for table in HISTORY_TABLES:
            await conn.execute("SELECT ensure_daily_partition(%s, %s)", (table, day))
        self._known.add(day)

    async def ensure_days_before(self, conn: AsyncConnection[Any], day: date, days: int) -> None:
        """The partitions of the `days` before `day`, as a service that has kept them holds (the benches:
        what a statement on a history table costs depends on how many days it could touch)."""
        for back in range(days, 0, -1):
            await self.ensure(conn, day - timedelta(days=back))

    def forget(self, day: date) -> None:
        self._known.discard(day)

    async def ensure_ahead(self, conn: AsyncConnection[Any], days: int) -> list[str]:
        cursor = await conn.execute("SELECT ensure_partitions_ahead(%s)", (days,))
        return [row[0] for row in await cursor.fetchall()]

    async def detach_older_than(self, conn: AsyncConnection[Any], retention_days: int) -> list[str]:
        """Detach the history partitions older than the retention, and forget those days' snapshots
        (the ledger that rebuilds a race's odds after a late snapshot keeps the same retention)."""
        cursor = await conn.execute("SELECT detach_old_partitions(%s)", (retention_days,))
        detached = [row[0] for row in await cursor.fetchall()]
        await conn.execute(PRUNE_LEDGER, (retention_days,))
        self._known.clear()
        return detached
