"""The day's housekeeping, run by whichever process the schedule falls to: partitions ahead, days past
the retention detached, then archived, verified and dropped."""

from __future__ import annotations

from pathlib import Path

from psycopg_pool import AsyncConnectionPool

from raceday.core.log import get_logger
from raceday.db.archive import archive_expired
from raceday.db.partitions import PartitionKeeper

log = get_logger(__name__)

PARTITION_DAYS_AHEAD = 2


async def maintain_partitions(
    pool: AsyncConnectionPool, partitions: PartitionKeeper, retention_days: int
) -> None:
    async with pool.connection() as conn:
        made = await partitions.ensure_ahead(conn, PARTITION_DAYS_AHEAD)
        detached = await partitions.detach_older_than(conn, retention_days)
    log.info("partitions maintained", ensured=len(made), detached=detached)


async def archive_partitions(
    pool: AsyncConnectionPool, partitions: PartitionKeeper, archive_path: Path, retention_days: int
) -> None:
    """Detach what the retention leaves (again, in case the partitions job failed), then archive."""
    await maintain_partitions(pool, partitions, retention_days)
    await archive_expired(pool, archive_path, retention_days)
