"""GET/POST /api/user-alert-configs: defaults created on first read, validation, and slot-wise saves."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from raceday.api.schemas.alerts import AlertConfigs, AlertConfigsSaved
from tests.serving import Api

pytestmark = pytest.mark.asyncio(loop_scope="module")

ENDPOINT = "/api/user-alert-configs"
# The default indicators as docs/domain.md tables them: (display_order, min %, max %, color).
DEFAULT_RANGES = [
    (1, 5.0, 10.0, "#E5E7EB"),
    (2, 10.0, 15.0, "#BFDBFE"),
    (3, 15.0, 20.0, "#FEF3C7"),
    (4, 20.0, 25.0, "#BBF7D0"),
    (5, 25.0, 50.0, "#FECACA"),
    (6, 50.0, None, "#F3E8FF"),
]


def _ranges(configs: AlertConfigs) -> list[tuple[int, float, float | None, str]]:
    return [
        (i.display_order, i.percentage_range_min, i.percentage_range_max, i.color) for i in configs.indicators
    ]


async def _get(api: Api, **params: str) -> AlertConfigs:
    response = await api.client.get(ENDPOINT, params=params)
    assert response.status_code == 200, response.text
    return AlertConfigs.model_validate(response.json())


async def _post(api: Api, body: dict[str, Any]) -> AlertConfigsSaved:
    response = await api.client.post(ENDPOINT, json=body)
    assert response.status_code == 200, response.text
    return AlertConfigsSaved.model_validate(response.json())


async def test_first_read_creates_the_six_defaults_once(api: Api) -> None:
    first = await _get(api, userId="alice")
    assert first.user_id == "alice"
    assert _ranges(first) == DEFAULT_RANGES
    assert all(i.is_default and i.enabled and i.user_id == "alice" for i in first.indicators)
    assert (first.toggle_all, first.audible_alerts_enabled) == (True, True)
    again = await _get(api, user_id="alice")
    assert [i.indicator_id for i in again.indicators] == [i.indicator_id for i in first.indicators]


async def test_default_user_and_concurrent_first_reads(api: Api) -> None:
    assert (await _get(api)).user_id == "Default User"
    results = await asyncio.gather(*(_get(api, userId="racer") for _ in range(6)))
    ids = {tuple(i.indicator_id for i in result.indicators) for result in results}
    assert len(ids) == 1
    assert len(next(iter(ids))) == 6


async def test_save_replaces_named_slots_and_keeps_the_others(api: Api) -> None:
    before = await _get(api, userId="bob")
    saved = await _post(
        api,
        {
            "userId": "bob",
            "indicators": [
                {
                    "display_order": 2,
                    "percentage_range_min": 12,
                    "percentage_range_max": 18.5,
                    "color": "#abcdef",
                },
                {"displayOrder": 6, "percentageRangeMin": 60, "color": "#123456", "enabled": False},
            ],
            "audibleAlertsEnabled": False,
        },
    )
    assert saved.success is True
    assert _ranges(saved)[1] == (2, 12.0, 18.5, "#ABCDEF")
    assert _ranges(saved)[5] == (6, 60.0, None, "#123456")
    assert saved.indicators[1].indicator_id == before.indicators[1].indicator_id
    untouched = saved.indicators[0].model_dump(exclude={"updated_at"})
    assert untouched == {
        **before.indicators[0].model_dump(exclude={"updated_at"}),
        "audible_alerts_enabled": False,
    }
    assert (saved.toggle_all, saved.audible_alerts_enabled) == (False, False)
    assert _ranges(await _get(api, userId="bob")) == _ranges(saved)


async def test_indicators_can_swap_display_orders(api: Api) -> None:
    before = await _get(api, userId="carol")
    one, two = before.indicators[0], before.indicators[1]
    saved = await _post(
        api,
        {
            "user_id": "carol",
            "indicators": [
                {**one.model_dump(), "display_order": 2},
                {**two.model_dump(), "display_order": 1},
            ],
        },
    )
    assert (saved.indicators[0].indicator_id, saved.indicators[1].indicator_id) == (
        two.indicator_id,
        one.indicator_id,
    )
    assert saved.indicators[0].created_at == two.created_at
    assert len(saved.indicators) == 6


async def test_a_save_for_a_new_user_fills_the_other_slots_with_defaults(api: Api) -> None:
    saved = await _post(
        api,
        {
            "indicators": [
                {"user_id": "dave", "display_order": 3, "percentage_range_min": 1, "color": "#000000"}
            ]
        },
    )
    assert saved.user_id == "dave"
    assert [i.display_order for i in saved.indicators] == [1, 2, 3, 4, 5, 6]
    assert _ranges(saved)[2] == (3, 1.0, None, "#000000")
    assert saved.indicators[0].is_default is True


@pytest.mark.parametrize(
    ("indicator", "details"),
    [
        ({"color": "red"}, "indicators.0.color"),
        ({"percentage_range_min": 101}, "indicators.0.percentage_range_min"),
        ({"percentage_range_max": 5}, "percentage_range_max must be greater"),
        (
            {"percentage_range_min": 10.001, "percentage_range_max": 10.004},
            "percentage_range_max must be greater",
        ),
        ({"display_order": 7}, "indicators.0.display_order"),
        ({"display_order": 1.5}, "indicators.0.display_order"),
        ({"indicator_type": "absolute"}, "indicators.0.indicator_type"),
        ({"user_id": "someone-else"}, "every indicator must have the same user_id"),
        ({"indicator_id": "not-a-uuid"}, "indicators.0.indicator_id"),
    ],
)
async def test_invalid_indicators_are_rejected(api: Api, indicator: dict[str, Any], details: str) -> None:
    body = {
        "user_id": "erin",
        "indicators": [{"display_order": 1, "percentage_range_min": 10, "color": "#FFFFFF", **indicator}],
    }
    response = await api.client.post(ENDPOINT, json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "Invalid indicator payload"
    assert details in response.json()["details"]


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": "erin"},
        {"indicators": "all of them"},
        {"indicators": [{"display_order": 1, "percentage_range_min": 1, "color": "#FFFFFF"}] * 2},
    ],
)
async def test_invalid_payloads_are_rejected(api: Api, body: dict[str, Any]) -> None:
    response = await api.client.post(ENDPOINT, json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "Invalid indicator payload"


async def test_a_body_that_is_not_json(api: Api) -> None:
    response = await api.client.post(
        ENDPOINT, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"error", "details"}
