"""The NZ TAB client's recorder: keeps every meetings page it reads (race events are kept by the
processor, in the poll's own transaction)."""

from __future__ import annotations

from collections.abc import Mapping

from psycopg_pool import AsyncConnectionPool

from raceday.core.clock import Clock
from raceday.core.log import get_logger
from raceday.core.nztime import nz_day
from raceday.db.partitions import PartitionKeeper
from raceday.db.recording import RawResponse, record
from raceday.nztab.raw import generated_time, pack

log = get_logger(__name__)


class MeetingsRecorder:
    def __init__(self, pool: AsyncConnectionPool, clock: Clock, partitions: PartitionKeeper) -> None:
        self.pool = pool
        self.clock = clock
        self.partitions = partitions

    async def __call__(self, endpoint: str, params: Mapping[str, str], body: bytes) -> None:
        """A recording that fails is logged, never a reason to fail discovery."""
        if endpoint != "meetings":
            return
        received = self.clock.now()
        at = generated_time(body) or received
        key = f"{params.get('date_from', '')}@{params.get('offset', '0')}"
        packed = pack(body)
        response = RawResponse("meetings", key, None, at, received, "stored", None, len(body), packed)
        try:
            async with self.pool.connection() as conn:
                await self.partitions.ensure(conn, nz_day(at))
                await record(conn, [response])
        except Exception as error:
            log.warning("meetings page not recorded", key=key, error=str(error))
