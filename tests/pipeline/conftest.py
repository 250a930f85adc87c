"""A pipeline on a ManualClock against the real simulator and a fresh database, for step-by-step tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from psycopg_pool import AsyncConnectionPool

from raceday.core.config import load_settings
from raceday.db.pool import PoolConfig, open_pool
from raceday.nztab.client import NzTabClient, RetryPolicy
from raceday.pipeline.processor import RaceProcessor
from raceday.pipeline.scheduler import Scheduler
from raceday.pipeline.workers import WorkerPool
from raceday.simulator import DayConfig, ManualClock, MeetingQuota, Simulator, serve_simulator

ANCHOR = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
ONE_MEETING = DayConfig(meetings=(MeetingQuota("NZ", "T", 1),), min_races=8, max_races=8)


@dataclass
class Rig:
    clock: ManualClock
    sim: Simulator
    client: NzTabClient
    pool: AsyncConnectionPool
    processor: RaceProcessor
    scheduler: Scheduler


@pytest.fixture
async def rig(database_url: str) -> AsyncIterator[Rig]:
    """One NZ gallops meeting (seed 2) at ANCHOR; fast retries so failing polls fail quickly."""
    clock = ManualClock(ANCHOR)
    workers = WorkerPool(1)
    pool = await open_pool(database_url, PoolConfig(max=3))
    retry = RetryPolicy(wait_initial=0.01, wait_max=0.01)
    try:
        async with (
            serve_simulator(seed=2, clock=clock, meetings=ONE_MEETING) as sim,
            NzTabClient.from_settings(load_settings(), base_url=sim.base_url, retry=retry) as client,
        ):
            processor = RaceProcessor(client, workers, pool, clock)
            yield Rig(clock, sim, client, pool, processor, Scheduler(processor.process, clock))
    finally:
        await pool.close()
        workers.close()
