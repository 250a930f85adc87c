"""The transform's checks per part, on the real NZ TAB sample: a bad part is named and dropped alone."""

from __future__ import annotations

import json
from typing import Any

import pytest

from raceday.domain.transform import InvalidPayload, transform_payload
from tests.samples import load_sample

EVENT = "race-event-full-response.json"


def transformed(change: Any) -> Any:
    raw = load_sample(EVENT)
    change(raw["data"])
    return transform_payload(json.dumps(raw).encode())


def test_the_real_sample_passes_every_check() -> None:
    snapshot = transform_payload(json.dumps(load_sample(EVENT)).encode())
    assert snapshot.rejections == ()
    assert (snapshot.has_runners, snapshot.has_money, snapshot.pools is not None) == (True, True, True)


def test_a_hold_out_of_range_rejects_the_money_and_names_the_slice() -> None:
    def negative(data: dict[str, Any]) -> None:
        data["money_tracker"]["entrants"][2]["hold_percentage"] = -4

    snapshot = transformed(negative)
    [rejection] = snapshot.rejections
    assert (rejection.part, rejection.field, rejection.value) == (
        "money",
        "data.money_tracker.entrants[2].hold_percentage",
        "-4",
    )
    assert snapshot.money_flow == ()
    assert all(e.hold_percentage is None for e in snapshot.entrants)
    assert len(snapshot.odds) == 32  # the runners part (8 runners x 4 prices) is kept
    assert snapshot.result is not None


def test_a_tracker_of_strangers_is_rejected() -> None:
    def strangers(data: dict[str, Any]) -> None:
        for entry in data["money_tracker"]["entrants"]:
            entry["entrant_id"] = "not-a-runner"

    [rejection] = transformed(strangers).rejections
    assert (rejection.part, rejection.reason) == ("money", "no id is a runner")


def test_a_doubled_tracker_sums_far_above_a_hundred() -> None:
    def doubled(data: dict[str, Any]) -> None:
        entries = data["money_tracker"]["entrants"]
        entries.extend([dict(entry) for entry in entries])

    [rejection] = transformed(doubled).rejections
    # The sample's runners hold 93 % between them (domain.md); doubled, 186 %.
    assert (rejection.field, rejection.value) == (
        "data.money_tracker.entrants[*].hold_percentage (sum)",
        "186",
    )


def test_a_pool_over_its_column_rejects_the_pools_and_so_the_money() -> None:
    def huge(data: dict[str, Any]) -> None:
        data["tote_pools"][0]["total"] = 1e12

    snapshot = transformed(huge)
    assert [(r.part, r.field) for r in snapshot.rejections] == [("pools", "data.tote_pools[0].total")]
    assert snapshot.pools is None
    assert snapshot.money_flow == ()
    assert len(snapshot.odds) == 32


def test_a_race_that_fails_its_checks_fails_the_poll() -> None:
    def enormous_prize(data: dict[str, Any]) -> None:
        data["race"]["prize_monies"] = {"total_value": 1e13}

    with pytest.raises(InvalidPayload, match=r"data\.race\.prize_monies\.total_value"):
        transformed(enormous_prize)
