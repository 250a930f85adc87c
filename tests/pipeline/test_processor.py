"""One poll against the simulator over HTTP: metrics, and faults that leave nothing half-written."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from raceday.core.log import configure_logging
from raceday.pipeline.processor import RaceProcessor
from raceday.simulator import FaultRule, Simulator
from tests.pipeline import conftest


@dataclass
class Probe:
    """The shared rig, with the JSON log lines it printed."""

    base: conftest.Rig
    logs: io.StringIO

    @property
    def sim(self) -> Simulator:
        return self.base.sim

    @property
    def processor(self) -> RaceProcessor:
        return self.base.processor

    @property
    def race_id(self) -> str:
        """A race still open at the anchor."""
        anchor = conftest.ANCHOR
        return next(r.race_id for r in self.sim.day.races if r.start > anchor and r.abandon_at is None)

    def lines(self, msg: str) -> list[dict[str, Any]]:
        parsed = [json.loads(line) for line in self.logs.getvalue().splitlines()]
        return [line for line in parsed if line["msg"] == msg]

    async def count(self, table: str) -> int:
        async with self.base.pool.connection() as conn:
            cursor = await conn.execute(f"SELECT count(*) FROM {table}")
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture
def rig(rig: conftest.Rig) -> Iterator[Probe]:
    logs = io.StringIO()
    configure_logging("info", "test", stream=logs)
    try:
        yield Probe(rig, logs)
    finally:
        configure_logging("info", "test")


async def test_a_poll_logs_one_metrics_line(rig: Probe) -> None:
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
    # What the poll stored, counted in the database rather than taken from the poll's own report.
    assert line["money_flow"] == result.rows["money_flow"] == await rig.count("money_flow_history") > 0
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
    rig: Probe, fault: FaultRule, path: str | None
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


async def test_server_errors_are_retried_then_the_poll_succeeds(rig: Probe) -> None:
    rig.sim.faults.add(FaultRule(endpoint="events", kind="error", status=503, times=2))
    result = await rig.processor.process(rig.race_id)
    assert result.outcome == "ok"
    assert len([r for r in rig.sim.requests if "/events/" in r.path]) == 3


async def test_a_dead_source_fails_the_poll_with_its_race_id(rig: Probe) -> None:
    rig.sim.faults.add(FaultRule(endpoint="events", kind="error", status=502))
    result = await rig.processor.process(rig.race_id)
    assert result.outcome == "fetch_failed"
    [line] = rig.lines("race poll failed")
    assert line["raceId"] == rig.race_id
    assert "502" in line["error"]
    assert await rig.count("races") == 0


async def test_reprocessing_the_same_snapshot_is_idempotent(rig: Probe) -> None:
    first = await rig.processor.process(rig.race_id)
    flows = await rig.count("money_flow_history")
    odds = await rig.count("odds_history")
    second = await rig.processor.process(rig.race_id)  # the clock did not move: same snapshot
    assert first.rows["money_flow"] > 0
    assert second.rows == {"entrants": 0, "money_flow": 0, "odds": 0}
    assert (await rig.count("money_flow_history"), await rig.count("odds_history")) == (flows, odds)


async def test_a_poll_over_the_budget_is_a_warning(rig: Probe, monkeypatch: pytest.MonkeyPatch) -> None:
    from raceday.pipeline import processor

    monkeypatch.setattr(processor, "RACE_BUDGET_MS", 0)
    result = await rig.processor.process(rig.race_id)
    assert result.outcome == "ok"
    [line] = rig.lines("race poll over budget")
    assert line["level"] == "warn"
    assert line["budget_ms"] == 0
