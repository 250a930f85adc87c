"""The scheduler giving up on a race that never settles, and warning on a batch over budget."""

from __future__ import annotations

from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from raceday.domain.schedule import GIVE_UP_AFTER
from raceday.pipeline import scheduler as scheduler_module
from raceday.pipeline.baseline import run_baseline
from tests.pipeline.conftest import Rig


async def test_a_race_not_settled_3_hours_after_its_start_is_given_up(rig: Rig) -> None:
    scheduler = rig.scheduler
    # A race NZ TAB no longer serves (404): its polls fail and it never reaches final.
    scheduler.track("gone-race", rig.clock.now() - timedelta(hours=2, minutes=59), "open")
    assert await scheduler.tick() == ["gone-race"]
    assert "gone-race" in scheduler.races
    assert scheduler.races["gone-race"].failures == 1
    rig.clock.advance(120)
    assert await scheduler.tick() == ["gone-race"]
    assert timedelta(hours=3) == GIVE_UP_AFTER
    assert scheduler.races == {}


async def test_a_batch_over_the_spec_budget_is_a_warning(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    races = [r for r in rig.sim.day.races if r.status(rig.clock.now()) == "Open"][:3]
    assert len(races) == 3
    for race in races:
        rig.scheduler.track(race.race_id, race.start, "open")
    with capture_logs() as within_budget:
        await rig.scheduler.tick()
    rig.clock.advance(60)
    monkeypatch.setattr(scheduler_module, "BATCH_BUDGET_MS", 0)
    with capture_logs() as over_budget:
        polled = await rig.scheduler.tick()
    assert not [e for e in within_budget if e["event"] == "poll batch over budget"]
    # No poll interval exceeds 60 s, so 60 s after the first batch all three open races are due again.
    assert sorted(polled) == sorted(race.race_id for race in races), over_budget
    [warning] = [e for e in over_budget if e["event"] == "poll batch over budget"]
    assert (warning["log_level"], warning["races"], warning["budget_ms"]) == ("warning", 3, 0)


async def test_a_second_baseline_leaves_tracked_races_to_the_scheduler(rig: Rig) -> None:
    async def baseline() -> tuple[int, set[str]]:
        rig.sim.requests.clear()
        summary = await run_baseline(
            rig.client,
            rig.processor,
            rig.scheduler,
            rig.pool,
            rig.clock,
            countries=frozenset({"NZ"}),
            categories=frozenset({"T"}),
        )
        polled = {r.path.rsplit("/", 1)[-1] for r in rig.sim.requests if "/events/" in r.path}
        return summary.already_tracked, polled

    first_tracked, first_polled = await baseline()
    tracked = set(rig.scheduler.races)
    second_tracked, second_polled = await baseline()
    assert first_tracked == 0
    assert first_polled == {race.race_id for race in rig.sim.day.races}
    assert tracked
    assert second_tracked == len(tracked)
    # Nor are the races the first one stored final or abandoned.
    now = rig.clock.now()
    settled = {r.race_id for r in rig.sim.day.races if r.status(now) in ("Final", "Abandoned")}
    assert settled
    assert second_polled == first_polled - tracked - settled
