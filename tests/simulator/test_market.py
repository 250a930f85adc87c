"""Race evolution: a pure function of time that makes the money-flow rules meaningful."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from raceday.simulator import DayConfig, SimDay, SimRace
from raceday.simulator.day import generate_day
from raceday.simulator.payloads import EventFlags, event
from raceday.simulator.race import RaceState

ANCHOR = datetime(2025, 7, 17, 1, 0, tzinfo=UTC)
FLAGS = EventFlags(with_money_tracker=True, with_tote_trends_data=True, with_will_pays=True)


@pytest.fixture(scope="module")
def day() -> SimDay:
    return generate_day(11, ANCHOR)


@pytest.fixture(scope="module")
def big_day() -> SimDay:
    """Enough races that rare events (abandonments) surely happen."""
    return generate_day(11, ANCHOR, DayConfig.parse("NZ:T=20,AUS:T=20,AUS:H=20"))


def _timeline(race: SimRace) -> list[datetime]:
    """From before betting opens to after the result: coarse early, every 15 s near the jump."""
    times = [race.opens_at - timedelta(minutes=10)]
    moment = race.opens_at
    while moment < race.final_at + timedelta(minutes=5):
        times.append(moment)
        to_jump = race.actual_start - moment
        moment += timedelta(seconds=15) if to_jump < timedelta(minutes=20) else timedelta(minutes=20)
    return times


def _summed_hold(body: dict[str, object]) -> dict[str, int]:
    data = body["data"]
    assert isinstance(data, dict)
    sums: dict[str, int] = defaultdict(int)
    for entry in data["money_tracker"]["entrants"]:
        sums[entry["entrant_id"]] += entry["hold_percentage"]
    return sums


def _running(day: SimDay) -> list[SimRace]:
    return [race for race in day.races if race.abandon_at is None]


def test_state_depends_only_on_time_not_on_polling_history(day: SimDay) -> None:
    race = _running(day)[5]
    moment = race.start - timedelta(minutes=3, seconds=7)
    fresh_day = generate_day(11, ANCHOR)
    fresh = fresh_day.race(race.race_id)
    assert fresh is not None
    market, fresh_market = day.market(race), fresh_day.market(fresh)
    for earlier in _timeline(race)[:50]:  # poll the first copy a lot beforehand
        market.state(earlier)

    assert market.state(moment) == fresh_market.state(moment)
    assert event(market, moment, FLAGS, "/x") == event(fresh_market, moment, FLAGS, "/x")


def test_pools_never_shrink_before_the_jump_and_freeze_after(day: SimDay) -> None:
    for race in _running(day)[:40]:
        previous: dict[str, float] = {}
        for moment in _timeline(race):
            pools = day.market(race).state(moment).pools
            for product, total in pools.items():
                assert total >= previous.get(product, 0.0), (race.race_id, product, moment)
            if moment >= race.actual_start:
                assert pools == day.market(race).state(race.actual_start).pools
            previous = pools
        assert previous["Win"] > 0


def test_summed_hold_is_about_a_hundred_whenever_there_is_money(day: SimDay) -> None:
    for race in _running(day)[:40]:
        for moment in _timeline(race)[::4]:
            state = day.market(race).state(moment)
            if state.win_pool == 0:
                assert state.tracker == ()
                continue
            sums = _summed_hold(event(day.market(race), moment, FLAGS, "/x"))
            assert 98 <= sum(sums.values()) <= 102
            runners = {r.runner.entrant_id: r.hold_percentage for r in state.runners}
            for entrant_id, held in sums.items():
                assert held == runners.get(entrant_id, 0)


def test_money_tracker_holds_slices_and_a_few_unknown_ids(day: SimDay) -> None:
    race = _running(day)[3]
    late = event(day.market(race), race.actual_start, FLAGS, "/x")["data"]
    early = event(day.market(race), race.actual_start - timedelta(hours=3), FLAGS, "/x")["data"]
    late_entries = late["money_tracker"]["entrants"]
    runner_ids = {runner["entrant_id"] for runner in late["runners"]}
    per_runner: dict[str, int] = defaultdict(int)
    for entry in late_entries:
        per_runner[entry["entrant_id"]] += 1

    assert len(late_entries) > len(early["money_tracker"]["entrants"])
    assert max(per_runner.values()) >= 8  # several slices per runner, like the real feed
    assert 1 <= len(set(per_runner) - runner_ids) <= 3
    assert all(isinstance(e["hold_percentage"], int) for e in late_entries)


def test_pool_odds_match_the_shares(day: SimDay) -> None:
    race = _running(day)[7]
    state = day.market(race).state(race.actual_start - timedelta(minutes=1))
    for runner in state.runners:
        if runner.scratched or runner.hold_share == 0:
            continue
        assert runner.odds.pool_win == pytest.approx(0.85 / runner.hold_share, abs=0.06)
        assert runner.odds.pool_place is not None
        assert 1.0 <= runner.odds.pool_place <= runner.odds.pool_win
        assert runner.odds.fixed_place <= runner.odds.fixed_win


def test_status_moves_open_closed_interim_final_with_results_and_dividends(day: SimDay) -> None:
    order = ["Open", "Closed", "Interim", "Final"]
    for race in _running(day)[:30]:
        seen = [race.status(moment) for moment in _timeline(race)]
        ranks = [order.index(status) for status in seen]
        assert ranks == sorted(ranks)
        assert set(seen) == set(order)
        assert race.status(race.actual_start - timedelta(seconds=1)) == "Open"
        assert race.status(race.actual_start) == "Closed"
        assert race.interim_at - race.actual_start < timedelta(minutes=6)

        interim = event(day.market(race), race.interim_at, FLAGS, "/x")["data"]
        final = event(day.market(race), race.final_at, FLAGS, "/x")["data"]
        assert interim["results"] == final["results"]
        assert [r["position"] for r in final["results"]] == list(range(1, len(final["results"]) + 1))
        assert {d["status"] for d in interim["dividends"]} == {"Interim"}
        win = [d for d in final["dividends"] if d["product_name"] == "Pool Win"]
        assert sorted(d["status"] for d in win) == ["Final", "Interim"]
        winner = final["results"][0]["runner_number"]
        assert win[0]["positions"] == [{"runner_number": winner, "position": 1}]
        assert event(day.market(race), race.actual_start, FLAGS, "/x")["data"]["results"] == []


def _late_scratchings(day: SimDay) -> list[tuple[SimRace, int]]:
    return [
        (race, runner.runner_number)
        for race in _running(day)
        for runner in race.runners
        if runner.is_late_scratch and runner.scratch_at is not None
    ]


def test_scratched_runners_get_no_more_money(day: SimDay) -> None:
    scratchings = _late_scratchings(day)
    assert scratchings
    for race, number in scratchings:
        runner = next(r for r in race.runners if r.runner_number == number)
        assert runner.scratch_at is not None
        before = day.market(race).state(runner.scratch_at - timedelta(seconds=1)).runner(number)
        at_scratch = day.market(race).state(runner.scratch_at).runner(number)
        assert not before.scratched
        assert at_scratch.scratched
        for moment in _timeline(race):
            if moment < runner.scratch_at:
                continue
            state = day.market(race).state(moment)
            scratched = state.runner(number)
            assert scratched.scratched
            assert scratched.dollars == pytest.approx(at_scratch.dollars, rel=1e-12)
            # What the pipeline computes from the feed never exceeds the money at the scratching.
            assert state.win_pool * scratched.hold_percentage / 100 <= at_scratch.dollars + 0.01
            assert scratched.odds == at_scratch.odds

        body = event(day.market(race), race.actual_start, FLAGS, "/x")["data"]
        shown = next(r for r in body["runners"] if r["runner_number"] == number)
        assert shown["is_scratched"] is True
        assert shown["is_late_scratched"] is True
        assert shown["scratch_time"] == int(runner.scratch_at.timestamp())
        assert number not in [r["runner_number"] for r in body["results"]]


def test_some_race_has_a_late_plunge(day: SimDay) -> None:
    def share(state: RaceState, number: int) -> float:
        return state.runner(number).hold_share

    plunged = [race for race in _running(day) if race.plunge is not None]
    assert plunged
    gains = []
    for race in plunged:
        assert race.plunge is not None
        number = race.plunge.runner_number
        before = day.market(race).state(race.plunge.starts_at - timedelta(seconds=1))
        after = day.market(race).state(race.actual_start)
        gains.append(share(after, number) - share(before, number))
        assert after.runner(number).odds.fixed_win < before.runner(number).odds.fixed_win
    assert max(gains) >= 0.04


def test_an_abandoned_race_stops_trading_and_has_no_results(big_day: SimDay) -> None:
    abandoned = [race for race in big_day.races if race.abandon_at is not None]
    assert abandoned
    race = abandoned[0]
    assert race.abandon_at is not None
    after = race.abandon_at + timedelta(minutes=1)
    later = race.final_at + timedelta(minutes=10)

    assert race.status(race.abandon_at - timedelta(seconds=1)) == "Open"
    assert race.status(after) == race.status(later) == "Abandoned"
    assert big_day.market(race).state(after).pools == big_day.market(race).state(later).pools
    body = event(big_day.market(race), later, FLAGS, "/x")["data"]
    assert body["race"]["status"] == "Abandoned"
    assert body["results"] == []
    assert body["dividends"] == []


def test_start_time_fields_agree_with_the_advertised_start(day: SimDay) -> None:
    race = _running(day)[0]
    shown = event(day.market(race), ANCHOR, FLAGS, "/x")["data"]["race"]
    winter = datetime.fromtimestamp(shown["advertised_start"], UTC)
    assert winter == race.start
    assert shown["start_time_nz"].endswith(" NZST")

    summer_day = generate_day(11, datetime(2025, 1, 15, 1, 0, tzinfo=UTC))
    summer = event(summer_day.market(summer_day.races[0]), summer_day.anchor, FLAGS, "/x")["data"]["race"]
    assert summer["start_time_nz"].endswith(" NZDT")
    local = summer_day.races[0].start.astimezone(summer_day.meetings[0].races[0].start.tzinfo)
    assert local.tzinfo == UTC  # starts are kept in UTC; only the NZ fields are local
