"""Poll jobs' steps on a ManualClock against the real simulator and a fresh database, for step-by-step
tests."""

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
from raceday.pipeline.queue import PollContext
from raceday.simulator import DayConfig, ManualClock, MeetingQuota, Simulator, serve_simulator
from tests.pipeline.ladder import Ladder, poll_context

ANCHOR = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
ONE_MEETING = DayConfig(meetings=(MeetingQuota("NZ", "T", 1),), min_races=8, max_races=8)
SETTINGS = load_settings(tracked_countries="NZ,AUS", tracked_categories="T,H")


@dataclass
class Rig:
    clock: ManualClock
    sim: Simulator
    client: NzTabClient
    pool: AsyncConnectionPool
    processor: RaceProcessor
    context: PollContext
    ladder: Ladder


@pytest.fixture
async def rig(database_url: str) -> AsyncIterator[Rig]:
    """One NZ gallops meeting (seed 2) at ANCHOR; fast retries so failing polls fail quickly."""
    clock = ManualClock(ANCHOR)
    pool = await open_pool(database_url, PoolConfig(max=3))
    retry = RetryPolicy(wait_initial=0.01, wait_max=0.01)
    try:
        async with (
            serve_simulator(seed=2, clock=clock, meetings=ONE_MEETING) as sim,
            NzTabClient.from_settings(SETTINGS, base_url=sim.base_url, retry=retry) as client,
        ):
            context = poll_context(SETTINGS, pool, client, clock)
            yield Rig(clock, sim, client, pool, context.processor, context, Ladder(context))
    finally:
        await pool.close()
