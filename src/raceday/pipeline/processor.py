"""One poll of one race: fetch, transform, write in one transaction, log the metrics. A poll worker process
runs it whole (its own core, its own connections): handing the payload to yet another process would only
add a copy each way."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from psycopg_pool import AsyncConnectionPool

from raceday.core.clock import Clock
from raceday.core.log import get_logger
from raceday.core.metrics import Metrics
from raceday.core.nztime import nz_day
from raceday.core.timing import elapsed_ms
from raceday.db.partitions import PartitionKeeper
from raceday.db.poll_queue import Held
from raceday.db.recording import RawResponse, record
from raceday.db.writers import WriteResult, write_snapshot
from raceday.domain.rows import Snapshot
from raceday.domain.schedule import STATUS_ORDER, TERMINAL
from raceday.domain.transform import InvalidPayload, transform_payload
from raceday.nztab.decode import NzTabUnavailable
from raceday.nztab.raw import generated_time, pack

log = get_logger(__name__)

# The spec's budgets (domain.md §10): a race end to end, and a batch of five.
RACE_BUDGET_MS = 2_000
BATCH_BUDGET_MS = 15_000
WRITES_AT_ONCE = 4
"""A worker process's polls writing at once; the others wait with their responses in hand. A fetch waits on
the network and many overlap well, a write takes a core of PostgreSQL: 100 polls writing at once on 2
cores cost PostgreSQL about 60 % more CPU, in locks and switches, than 3 to 6 at a time (`make bench`)."""

Outcome = Literal["ok", "fetch_failed", "invalid_payload", "transform_failed", "write_failed"]


class EventSource(Protocol):
    """Where race events come from: the NZ TAB client, or anything that serves the same bytes."""

    async def race_event_bytes(self, race_id: str) -> bytes: ...


@dataclass
class PollResult:
    race_id: str
    outcome: Outcome
    fetch_ms: float = 0.0
    transform_ms: float = 0.0
    wait_ms: float = 0.0
    """For one of the process's WRITES_AT_ONCE write slots: queueing, not the poll's own work."""
    write_ms: float = 0.0
    total_ms: float = 0.0
    snapshot: Snapshot | None = None
    written: WriteResult | None = None
    error: str | None = None
    retry_after_s: float | None = None
    """NZ TAB's Retry-After when it refused the fetch for longer than the client waits itself."""

    @property
    def rows(self) -> dict[str, int]:
        """Rows this poll wrote per table (empty when it wrote nothing)."""
        return self.written.rows if self.written else {}

    @property
    def status(self) -> str | None:
        """The race's status as stored once this poll was written (None if the poll failed): a race
        leaves tracking only when its terminal status is stored."""
        return self.written.stored_status if self.written else None


class RaceProcessor:
    def __init__(
        self,
        source: EventSource,
        pool: AsyncConnectionPool,
        clock: Clock,
        partitions: PartitionKeeper | None = None,
        metrics: Metrics | None = None,
        *,
        record: bool = True,
    ) -> None:
        self.source = source
        self.pool = pool
        self.clock = clock
        self.partitions = partitions or PartitionKeeper()
        self.metrics = metrics or Metrics(process=False)
        self.record = record
        """Keep each response in raw_responses (off only to measure what recording costs)."""
        self._writes = asyncio.Semaphore(WRITES_AT_ONCE)

    async def process(self, race_id: str, held: Held | None = None) -> PollResult:
        """Never raises for a bad poll: the outcome says what failed, and nothing half-written stays.
        The `held` poll is given its next due time in the poll's transaction."""
        started = time.perf_counter()
        result = PollResult(race_id=race_id, outcome="ok")
        try:
            result.outcome = "fetch_failed"
            payload = await self.source.race_event_bytes(race_id)
            polled_at = self.clock.now()
            result.fetch_ms = elapsed_ms(started, 2)

            step = time.perf_counter()
            result.outcome = "transform_failed"
            packed = pack(payload) if self.record else None
            try:
                snapshot = transform_payload(payload, race_id)
            except InvalidPayload as invalid:
                if packed is not None:
                    await self._record_invalid(race_id, payload, polled_at, str(invalid), packed)
                raise
            result.snapshot = snapshot
            result.transform_ms = elapsed_ms(step, 2)

            result.outcome = "write_failed"
            raw = None
            if packed is not None:
                raw = _event(race_id, snapshot.event_timestamp, polled_at, payload, packed)
            step = time.perf_counter()
            async with self._writes:
                result.wait_ms = elapsed_ms(step, 2)
                step = time.perf_counter()
                async with self.pool.connection() as conn:
                    written = await write_snapshot(conn, snapshot, polled_at, self.partitions, raw, held)
                result.write_ms = elapsed_ms(step, 2)
            result.written = written
            result.outcome = "ok"
        except Exception as error:
            if isinstance(error, InvalidPayload):
                result.outcome = "invalid_payload"
            if isinstance(error, NzTabUnavailable):
                result.retry_after_s = error.retry_after
            result.error = f"{type(error).__name__}: {error}"
        result.total_ms = elapsed_ms(started, 2)
        self._log(result)
        self._measure(result)
        return result

    async def _record_invalid(
        self, race_id: str, payload: bytes, received_at: datetime, error: str, packed: bytes
    ) -> None:
        """Keep a rejected body too: after a fix, a rebuild may read it; stamped with its own time if it
        has a readable one, else when it was received."""
        at = generated_time(payload) or received_at
        raw = _event(race_id, at, received_at, payload, packed, error)
        async with self.pool.connection() as conn:
            await self.partitions.ensure(conn, nz_day(at))
            await record(conn, [raw])

    def _measure(self, result: PollResult) -> None:
        """The time of each stage the poll got through (a failed stage has no time), then its outcome: a
        scrape reads a worker's files while it writes them, and must never see a poll without its times."""
        metrics = self.metrics
        stages = {
            "fetch": result.fetch_ms,
            "transform": result.transform_ms,
            "wait": result.wait_ms,
            "write": result.write_ms,
        }
        for stage, ms in stages.items():
            if ms:
                metrics.poll_seconds.labels(stage).observe(ms / 1000)
        metrics.poll_seconds.labels("total").observe(result.total_ms / 1000)
        if result.outcome == "ok" and result.total_ms > RACE_BUDGET_MS:
            metrics.polls_over_budget.inc()
        metrics.polls.labels(result.outcome).inc()

    def _log(self, result: PollResult) -> None:
        fields: dict[str, Any] = {
            "raceId": result.race_id,
            "outcome": result.outcome,
            "fetch_ms": result.fetch_ms,
            "transform_ms": result.transform_ms,
            "wait_ms": result.wait_ms,
            "write_ms": result.write_ms,
            "total_ms": result.total_ms,
            **result.rows,
        }
        if result.snapshot is not None:
            _log_snapshot(result.race_id, result.snapshot, result.written)
            fields["status"] = result.snapshot.race.status or result.snapshot.raw_status
        if result.outcome != "ok":
            log.error("race poll failed", error=result.error, **fields)
        elif result.total_ms > RACE_BUDGET_MS:
            log.warning("race poll over budget", budget_ms=RACE_BUDGET_MS, **fields)
        else:
            log.info("race poll", **fields)


def _event(
    race_id: str, at: datetime, received_at: datetime, payload: bytes, packed: bytes, error: str | None = None
) -> RawResponse:
    outcome: Literal["stored", "invalid"] = "stored" if error is None else "invalid"
    return RawResponse("events", race_id, race_id, at, received_at, outcome, error, len(payload), packed)


def _log_snapshot(race_id: str, snapshot: Snapshot, written: WriteResult | None) -> None:
    """What a bettor would want flagged: parts not stored, unknown statuses, statuses going backwards."""
    for rejected in snapshot.rejections:
        log.warning(
            "poll part rejected",
            raceId=race_id,
            part=rejected.part,
            field=rejected.field,
            value=rejected.value,
            reason=rejected.reason,
        )
    status = snapshot.race.status
    if status is None:
        log.warning("unknown race status kept", raceId=race_id, status=snapshot.raw_status)
    if written is None:
        return
    stored = written.stored_status
    newer = written.status_at is None or snapshot.event_timestamp > written.status_at
    if status is not None and status != stored and stored in TERMINAL and newer:
        log.warning(
            "terminal status kept: a later snapshot says otherwise",
            raceId=race_id,
            stored=stored,
            received=status,
            generated_time=snapshot.event_timestamp.isoformat(),
        )
    if written.status_change is not None:
        old, new = written.status_change
        if old is not None:
            backward = STATUS_ORDER.index(new) < STATUS_ORDER.index(old)
            (log.warning if backward else log.info)(
                "race status moved backward" if backward else "race status changed",
                raceId=race_id,
                old=old,
                new=new,
            )
