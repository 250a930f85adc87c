"""The transform on the real NZ TAB sample: every runner's numbers as a hand computation gives them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from raceday.domain.transform import InvalidPayload, Snapshot, transform_payload
from tests.samples import load_sample, sample_path

W, P = Decimal("9151.38"), Decimal("3923.51")
# runner number: (name, summed hold %, summed bet %, win cents, place cents, entrant+pool total cents)
# Hand computation from the sample: hold = Σ money_tracker slices; win = round(9151.38 × hold) cents.
EXPECTED = {
    1: ("Tickford", 18, 14, 164725, 70623, 235348),
    2: ("Frosbie", 13, 14, 118968, 51006, 169974),
    3: ("Dealers Choice", 5, 9, 45757, 19618, 65374),
    4: ("Ruji", 16, 17, 146422, 62776, 209198),
    5: ("Starpello", 16, 17, 146422, 62776, 209198),
    6: ("Keepitinyourwallet", 19, 19, 173876, 74547, 248423),
    7: ("Ballinran", 4, 8, 36606, 15694, 52300),
    8: ("Flor De Cana", 2, 3, 18303, 7847, 26150),
}


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return transform_payload(sample_path("race-event-full-response.json").read_bytes())


def test_race_fields(snapshot: Snapshot) -> None:
    race = snapshot.race
    assert race.race_id == "0f57e087-00d9-4c61-9549-835abe2ae2ed"
    assert race.meeting_id == "e9f2039d-d489-4a7d-aae1-d66225f1a5f4"
    assert race.name == "PRYDA HANDICAP 1700"
    assert race.status == "final"
    assert race.start_time == datetime(2025, 7, 17, 0, 50, tzinfo=UTC)
    assert race.actual_start == datetime.fromtimestamp(1752713566, UTC)
    assert (race.race_date_nz, race.start_time_nz) == (date(2025, 7, 17), "12:50:00 NZST")
    assert (race.distance, race.type, race.country) == (1700, "T", "NZ")
    assert snapshot.is_terminal


def test_time_metadata_comes_from_the_snapshot_time(snapshot: Snapshot) -> None:
    assert snapshot.event_timestamp == datetime(2025, 7, 17, 11, 16, 59, 189042, tzinfo=UTC)
    assert (snapshot.time_to_start, snapshot.time_interval, snapshot.interval_type) == (-627, -627, "live")


def test_every_runners_money_flow(snapshot: Snapshot) -> None:
    numbers = {e.entrant_id: e.runner_number for e in snapshot.entrants}
    flows = {numbers[row.entrant_id]: row for row in snapshot.money_flow}
    assert sorted(flows) == sorted(EXPECTED)
    for number, (_, hold, bet, win, place, total) in EXPECTED.items():
        row = flows[number]
        assert (row.hold_percentage, row.bet_percentage) == (Decimal(hold), Decimal(bet)), number
        assert (row.win_pool_amount, row.place_pool_amount, row.total_pool_amount) == (win, place, total)
        assert row.win_pool_percentage == Decimal(hold).quantize(Decimal("0.01"))


def test_entrants_carry_their_latest_money_flow_and_odds(snapshot: Snapshot) -> None:
    ruji = next(e for e in snapshot.entrants if e.runner_number == 4)
    assert ruji.name == "Ruji"
    assert (ruji.hold_percentage, ruji.win_pool_amount, ruji.place_pool_amount) == (
        Decimal(16),
        146422,
        62776,
    )
    assert (ruji.fixed_win_odds, ruji.fixed_place_odds) == (Decimal("4.2"), Decimal("1.65"))
    assert (ruji.pool_win_odds, ruji.pool_place_odds) == (Decimal("4.8"), Decimal("1.9"))
    assert ruji.barrier == 1
    assert not ruji.is_scratched
    assert {e.name for e in snapshot.entrants} == {name for name, *_ in EXPECTED.values()}


def test_odds_points_for_all_four_types(snapshot: Snapshot) -> None:
    assert len(snapshot.odds) == 8 * 4
    ruji = next(e.entrant_id for e in snapshot.entrants if e.runner_number == 4)
    assert {(kind, odds) for entrant, kind, odds in snapshot.odds if entrant == ruji} == {
        ("fixed_win", Decimal("4.2")),
        ("fixed_place", Decimal("1.65")),
        ("pool_win", Decimal("4.8")),
        ("pool_place", Decimal("1.9")),
    }


def test_pools_in_dollars(snapshot: Snapshot) -> None:
    pools = snapshot.pools
    assert pools is not None
    assert (pools.win, pools.place) == (W, P)
    assert (pools.quinella, pools.trifecta, pools.first4, pools.exacta) == (
        Decimal("5341.06"),
        Decimal("7976.24"),
        Decimal("4617.92"),
        Decimal(0),
    )
    assert pools.total == Decimal("39136.72")
    assert (pools.extracted_pools, pools.data_quality_score) == (6, 95)


def test_results_of_a_final_race(snapshot: Snapshot) -> None:
    result = snapshot.result
    assert result is not None
    assert result.result_status == "final"
    assert len(result.results_data) == 8
    assert len(result.dividends_data) == 14
    assert set(result.fixed_odds_data) == {str(n) for n in EXPECTED}
    assert result.fixed_odds_data["4"]["fixed_win"] == 4.2


def test_a_scratched_runner_gets_no_money_flow_or_odds() -> None:
    raw = load_sample("race-event-full-response.json")
    ruji = next(r for r in raw["data"]["runners"] if r["runner_number"] == 4)
    ruji["is_scratched"] = True

    snapshot = transform_payload(json.dumps(raw).encode())
    entrant = next(e for e in snapshot.entrants if e.runner_number == 4)
    assert entrant.is_scratched
    assert entrant.hold_percentage is None
    assert ruji["entrant_id"] not in {row.entrant_id for row in snapshot.money_flow}
    assert ruji["entrant_id"] not in {entrant_id for entrant_id, _, _ in snapshot.odds}
    assert len(snapshot.money_flow) == 7


def test_an_unknown_status_is_kept_as_none() -> None:
    raw = load_sample("race-event-full-response.json")
    raw["data"]["race"]["status"] = "Postponed"

    snapshot = transform_payload(json.dumps(raw).encode())
    assert snapshot.race.status is None
    assert snapshot.raw_status == "Postponed"
    assert not snapshot.is_terminal


def test_a_malformed_payload_is_one_clear_error() -> None:
    with pytest.raises(InvalidPayload, match=r"data\.race"):
        transform_payload(b'{"header": {"title": "x", "generated_time": "2025-07-17T11:16:59Z", "url": "/"},'
                          b' "params": {}, "data": {"runners": []}}')  # fmt: skip
