"""One poll against the simulator over HTTP: metrics, and faults that leave nothing half-written."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from raceday.config import load_settings
from raceday.db.pool import PoolConfig, open_pool
from raceday.log import configure_logging
from raceday.nztab.client import NzTabClient, RetryPolicy
from raceday.nztab.simulator import (
    DayConfig,
    FaultRule,
    ManualClock,
    MeetingQuota,
    Simulator,
    serve_simulator,
)
from raceday.pipeline.processor import RaceProcessor
from raceday.pipeline.workers import WorkerPool

ANCHOR = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
DAY = DayConfig(meetings=(MeetingQuota("NZ", "T", 1),), min_races=8, max_races=8)


@dataclass
class Rig:
    sim: Simulator
    processor: RaceProcessor
    pool: AsyncConnectionPool
    logs: io.StringIO

    @property
    def race_id(self) -> str:
        """A race still open at the anchor."""
        return next(r.race_id for r in self.sim.day.races if r.start > ANCHOR and r.abandon_at is None)

    def lines(self, msg: str) -> list[dict[str, Any]]:
        parsed = [json.loads(line) for line in self.logs.getvalue().splitlines()]
        return [line for line in parsed if line["msg"] == msg]

    async def count(self, table: str) -> int:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(f"SELECT count(*) FROM {table}")
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture(scope="module")
def workers() -> Iterator[WorkerPool]:
    pool = WorkerPool(1)
    yield pool
    pool.close()


@pytest.fixture
async def rig(database_url: str, workers: WorkerPool) -> AsyncIterator[Rig]:
    logs = io.StringIO()
    configure_logging("info", "test", stream=logs)
    clock = ManualClock(ANCHOR)
    pool = await open_pool(database_url, PoolConfig(max=4))
    retry = RetryPolicy(wait_initial=0.01, wait_max=0.02, wait_jitter=0.0)
    try:
        async with (
            serve_simulator(seed=3, clock=clock, meetings=DAY) as sim,
            NzTabClient.from_settings(load_settings(), base_url=sim.base_url, retry=retry) as client,
        ):
            yield Rig(sim, RaceProcessor(client, workers, pool, clock), pool, logs)
    finally:
        await pool.close()
        configure_logging("info", "test")


async def test_a_poll_logs_one_metrics_line(rig: Rig) -> None:
    result = await rig.processor.process(rig.race_id)
    assert result.outcome == "ok"
    [line] = rig.lines("race poll")
    assert line["raceId"] == rig.race_id
    assert line["outcome"] == "ok"
    for key in ("fetch_ms", "transform_ms", "write_ms", "total_ms"):
        assert isinstance(line[key], int | float)
        assert line[key] >= 0
    assert line["total_ms"] >= line["fetch_ms"] + line["transform_ms"] + line["write_ms"] - 1
    assert line["entrants"] == len(rig.sim.day.race(rig.race_id).runners)  # type: ignore[union-attr]
    assert line["money_flow"] == result.rows["money_flow"] > 0
    assert line["status"] == "open"


@pytest.mark.parametrize(
    ("fault", "path"),
    [
        (FaultRule(endpoint="events", kind="malformed"), "body"),
        (FaultRule(endpoint="events", kind="missing_field", field="data.race.status"), "data.race.status"),
        (FaultRule(endpoint="events", kind="missing_field", field="data.runners"), None),
    ],
)
async def test_a_bad_payload_is_logged_skipped_and_writes_nothing(
    rig: Rig, fault: FaultRule, path: str | None
) -> None:
    rig.sim.faults.add(fault)
    result = await rig.processor.process(rig.race_id)
    if path is None:
        # Without runners the event is still valid: the race is stored, with no money flow.
        assert result.outcome == "ok"
        assert await rig.count("money_flow_history") == 0
        return
    assert result.outcome == "invalid_payload"
    assert result.error is not None
    assert path in result.error
    [line] = rig.lines("race poll failed")
    assert (line["level"], line["raceId"], line["outcome"]) == ("error", rig.race_id, "invalid_payload")
    for table in ("meetings", "races", "entrants", "race_pools", "money_flow_history", "odds_history"):
        assert await rig.count(table) == 0, table


async def test_server_errors_are_retried_then_the_poll_succeeds(rig: Rig) -> None:
    rig.sim.faults.add(FaultRule(endpoint="events", kind="error", status=503, times=2))
    result = await rig.processor.process(rig.race_id)
    assert result.outcome == "ok"
    assert len([r for r in rig.sim.requests if "/events/" in r.path]) == 3


async def test_a_dead_source_fails_the_poll_with_its_race_id(rig: Rig) -> None:
    rig.sim.faults.add(FaultRule(endpoint="events", kind="error", status=502))
    result = await rig.processor.process(rig.race_id)
    assert result.outcome == "fetch_failed"
    [line] = rig.lines("race poll failed")
    assert line["raceId"] == rig.race_id
    assert "502" in line["error"]
    assert await rig.count("races") == 0


async def test_reprocessing_the_same_snapshot_is_idempotent(rig: Rig) -> None:
    first = await rig.processor.process(rig.race_id)
    flows = await rig.count("money_flow_history")
    odds = await rig.count("odds_history")
    second = await rig.processor.process(rig.race_id)  # the clock did not move: same snapshot
    assert first.rows["money_flow"] > 0
    assert second.rows == {"entrants": 0, "money_flow": 0, "odds": 0}
    assert (await rig.count("money_flow_history"), await rig.count("odds_history")) == (flows, odds)


async def test_a_poll_over_the_budget_is_a_warning(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    from raceday.pipeline import processor

    monkeypatch.setattr(processor, "RACE_BUDGET_MS", 0)
    result = await rig.processor.process(rig.race_id)
    assert result.outcome == "ok"
    [line] = rig.lines("race poll over budget")
    assert line["level"] == "warn"
    assert line["budget_ms"] == 0
