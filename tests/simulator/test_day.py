"""The generated day: deterministic from the seed, anchored on the clock, realistic in shape."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from raceday.simulator import DayConfig, ManualClock, MeetingQuota, ScaledClock
from raceday.simulator.day import generate_day

ANCHOR = datetime(2025, 7, 17, 1, 0, 30, tzinfo=UTC)  # 13:00 NZST


def test_same_seed_same_day_and_different_seed_different_day() -> None:
    first = generate_day(7, ANCHOR)
    again = generate_day(7, ANCHOR)
    other = generate_day(8, ANCHOR)

    assert first == again
    assert [r.race_id for r in first.races] == [r.race_id for r in again.races]
    assert {r.race_id for r in first.races}.isdisjoint({r.race_id for r in other.races})
    assert [m.name for m in first.meetings] != [m.name for m in other.meetings]


def test_ids_are_uuids_and_unique() -> None:
    day = generate_day(3, ANCHOR)
    ids = [m.meeting_id for m in day.meetings]
    ids += [r.race_id for r in day.races]
    ids += [runner.entrant_id for r in day.races for runner in r.runners]

    assert len(ids) == len(set(ids))
    for value in ids:
        assert str(uuid.UUID(value)) == value


def test_default_day_is_nz_and_aus_gallops_and_harness() -> None:
    day = generate_day(1, ANCHOR)

    kinds = {(m.country, m.category) for m in day.meetings}
    assert kinds == {("NZ", "T"), ("NZ", "H"), ("AUS", "T"), ("AUS", "H")}
    assert all(8 <= len(m.races) <= 12 for m in day.meetings)
    assert all(m.date == ANCHOR.astimezone(ZoneInfo("Pacific/Auckland")).date() for m in day.meetings)


def test_configured_countries_and_greyhounds() -> None:
    config = DayConfig.parse("UK:G=2, usa:t=1,IRE:G=1,FR:H=1,JPN:T=1")
    day = generate_day(1, ANCHOR, config)

    assert sorted((m.country, m.category) for m in day.meetings) == [
        ("FR", "H"),
        ("IRE", "G"),
        ("JPN", "T"),
        ("UK", "G"),
        ("UK", "G"),
        ("USA", "T"),
    ]
    greyhound = next(m for m in day.meetings if m.category == "G")
    assert greyhound.category_name == "Greyhound Racing"
    assert all(runner.jockey == "" for race in greyhound.races for runner in race.runners)


@pytest.mark.parametrize("spec", ["NZ:X=2", "NZ:T", "AU:T=1", "NZ:T=two"])
def test_bad_meeting_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match=r"NZ:X|COUNTRY|AU:T|expected"):
        DayConfig.parse(spec)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("hour", [0, 7, 15, 22])
def test_some_race_is_about_to_jump_whenever_the_day_is_anchored(seed: int, hour: int) -> None:
    anchor = datetime(2025, 1, 10, hour, 17, 42, tzinfo=UTC)
    day = generate_day(seed, anchor)
    starts = [race.start - anchor for race in day.races]

    assert any(timedelta(minutes=2) <= gap <= timedelta(minutes=6) for gap in starts)
    finished = [r for r in day.races if r.status(anchor) in ("Final", "Abandoned")]
    later = [r for r in day.races if r.start > anchor + timedelta(minutes=30)]
    assert len(finished) >= 10
    assert len(later) >= len(day.races) // 4


def test_start_times_are_whole_minutes_and_in_order_within_a_meeting() -> None:
    day = generate_day(1, ANCHOR)
    for meeting in day.meetings:
        starts = [race.start for race in meeting.races]
        assert starts == sorted(starts)
        assert all(start.second == 0 and start.microsecond == 0 for start in starts)
        assert [race.race_number for race in meeting.races] == list(range(1, len(starts) + 1))


def test_more_than_a_hundred_meetings_can_be_configured() -> None:
    config = DayConfig(meetings=(MeetingQuota("AUS", "G", 60), MeetingQuota("UK", "G", 50)))
    day = generate_day(1, ANCHOR, config)

    assert len(day.meetings) == 110
    assert len({m.meeting_id for m in day.meetings}) == 110


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(ANCHOR)
    assert clock.now() == ANCHOR
    assert clock.advance(90) == ANCHOR + timedelta(seconds=90)
    assert clock.set(ANCHOR - timedelta(hours=1)) == ANCHOR - timedelta(hours=1)
    assert clock.now() == ANCHOR - timedelta(hours=1)
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2025, 1, 1))


def test_scaled_clock_runs_faster_than_real_time() -> None:
    clock = ScaledClock(anchor=ANCHOR, speed=1000.0)
    first = clock.now()
    # Busy-wait on the monotonic clock instead of sleeping: any real progress shows, scaled.
    second = clock.now()
    while second == first:
        second = clock.now()
    assert first >= ANCHOR
    assert second > first
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(speed=0)
