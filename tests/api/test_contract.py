"""The web client's contract (domain.md §7.4): every backend call its Next.js proxy makes, checked field by
field against the types the client's code relies on, on a simulated day the real pipeline wrote.

Paths are the ones the proxy produces (its base URL ends in `/api`, so `/api/...` becomes `/api/api/...`)
with its own parameter casing. A number the client formats (`.toFixed`) must be a JSON number: "3.7" fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio

from raceday.db.embedded import EmbeddedPostgres
from tests.web.simday import Day, first_suitable_seed, next_to_jump, simulated_day

pytestmark = pytest.mark.asyncio(loop_scope="module")

Spec = Any
STR, INT, NUM, BOOL, NULL = "string", "integer", "number", "boolean", "null"


def maybe(kind: Spec) -> tuple[Spec, str]:
    return (kind, NULL)


MEETING = {
    "meeting_id": STR,
    "meeting_name": STR,
    "country": STR,
    "race_type": STR,
    "category": STR,
    "date": STR,
    "status": STR,
    "track_condition": maybe(STR),
    "weather": maybe(STR),
    "created_at": STR,
    "updated_at": STR,
}
RACE_OF_MEETING = {
    "race_id": STR,
    "name": STR,
    "race_number": INT,
    "start_time": STR,
    "status": STR,
    "meeting_id": STR,
}
RACE = {
    **RACE_OF_MEETING,
    "actual_start": maybe(STR),
    "distance": maybe(INT),
    "track_condition": maybe(STR),
    "weather": maybe(STR),
    "type": maybe(STR),
    "created_at": STR,
    "updated_at": STR,
}
NAVIGATION_RACE = {"race_id": STR, "name": STR, "start_time": STR, "meeting_name": STR}
NAVIGATION = {
    "previousRace": maybe(NAVIGATION_RACE),
    "nextRace": maybe(NAVIGATION_RACE),
    "nextScheduledRace": maybe(NAVIGATION_RACE),
}
ENTRANT = {
    "entrant_id": STR,
    "name": STR,
    "runner_number": INT,
    "win_odds": maybe(NUM),
    "place_odds": maybe(NUM),
    "hold_percentage": maybe(NUM),
    "is_scratched": BOOL,
    "jockey": maybe(STR),
    "trainer_name": maybe(STR),
    "silk_url": maybe(STR),
    "silk_colours": maybe(STR),
    "silk_url_64": maybe(STR),
    "silk_url_128": maybe(STR),
    "odds_history": [{"odds": maybe(NUM), "type": STR, "timestamp": STR}],
    "money_flow_history": [{"hold_percentage": maybe(NUM), "win_pool_amount": maybe(INT), "timestamp": STR}],
}
RESULTS = {
    "race_id": STR,
    "results_available": BOOL,
    "results_data": [
        {
            "position": INT,
            "runner_number": INT,
            "name": STR,
            "barrier": maybe(INT),
            "margin_length": maybe(NUM),
            "entrant_id": STR,
        }
    ],
    "dividends_data": [
        {
            "product_name": STR,
            "status": STR,
            "dividend": NUM,
            "pool_size": maybe(NUM),
            "jackpot_size": maybe(NUM),
            "positions": [{"runner_number": INT, "position": INT}],
            "description": maybe(STR),
        }
    ],
    "fixed_odds_data": {
        "*": {
            "fixed_win_odds": maybe(NUM),
            "fixed_place_odds": maybe(NUM),
            "runner_name": STR,
            "entrant_id": STR,
        }
    },
    "result_status": STR,
    "photo_finish": BOOL,
    "stewards_inquiry": BOOL,
    "protest_lodged": BOOL,
    "result_time": STR,
}
POOLS = {
    "race_pool_id": STR,
    "race_id": STR,
    **dict.fromkeys(
        (f"{name}_pool_total" for name in ("win", "place", "quinella", "trifecta", "exacta", "first4")), INT
    ),
    "total_race_pool": INT,
    "currency": STR,
    "last_updated": STR,
    # The client's type says string; raceday does not record when a race's pools were first seen.
    "created_at": maybe(STR),
    "updated_at": STR,
    "is_live": BOOL,
}
TIMELINE_DOC = {
    "id": STR,
    "entrant_id": STR,
    "time_interval": INT,
    "time_to_start": INT,
    "interval_type": STR,
    "incremental_amount": maybe(INT),
    "incremental_win_amount": maybe(INT),
    "incremental_place_amount": maybe(INT),
    "winPoolAmount": maybe(INT),
    "placePoolAmount": maybe(INT),
    "win_pool_amount": maybe(INT),
    "place_pool_amount": maybe(INT),
    "total_pool_amount": maybe(INT),
    "fixed_win_odds": maybe(NUM),
    "pool_win_odds": maybe(NUM),
    "event_timestamp": STR,
    "polling_timestamp": STR,
    "created_at": STR,
    "updated_at": STR,
}
TIMELINE = {
    "success": BOOL,
    "documents": [TIMELINE_DOC],
    "total": INT,
    "race_id": STR,
    "entrant_ids": [STR],
    "pool_type": STR,
    "bucketed_data": BOOL,
    "next_cursor": maybe(STR),
    "next_created_at": maybe(STR),
    "has_more": BOOL,
    "limit": INT,
}
UPCOMING = {
    "races": [RACE],
    "total": INT,
    "timestamp": STR,
    "window": {"lower_bound": STR, "upper_bound": STR, "window_minutes": INT, "lookback_minutes": INT},
}
INDICATOR = {
    "indicator_id": STR,
    "user_id": STR,
    "indicator_type": STR,
    "percentage_range_min": NUM,
    "percentage_range_max": maybe(NUM),
    "color": STR,
    "is_default": BOOL,
    "enabled": BOOL,
    "display_order": INT,
    "audible_alerts_enabled": BOOL,
    "created_at": STR,
    "updated_at": STR,
}
ALERT_CONFIG = {"user_id": STR, "indicators": [INDICATOR], "toggle_all": BOOL, "audible_alerts_enabled": BOOL}
ERROR = {"error": STR, "details": STR}


def _kind_problem(value: Any, kind: str, path: str) -> list[str]:
    ok = {
        STR: isinstance(value, str),
        INT: isinstance(value, int) and not isinstance(value, bool),
        NUM: isinstance(value, int | float) and not isinstance(value, bool),
        BOOL: isinstance(value, bool),
        NULL: value is None,
    }[kind]
    return [] if ok else [f"{path}: {kind} expected, got {value!r}"]


def problems(value: Any, spec: Spec, path: str = "$") -> list[str]:
    """Where `value` breaks `spec` (a JSON kind, alternatives as a tuple, [item], or {field: spec})."""
    if isinstance(spec, str):
        return _kind_problem(value, spec, path)
    if isinstance(spec, tuple):
        found = [problems(value, alternative, path) for alternative in spec]
        return [] if any(not p for p in found) else [p for group in found for p in group]
    if isinstance(spec, list):
        if not isinstance(value, list):
            return [f"{path}: array expected, got {value!r}"]
        return [p for index, item in enumerate(value) for p in problems(item, spec[0], f"{path}[{index}]")]
    if not isinstance(value, dict):
        return [f"{path}: object expected, got {value!r}"]
    if "*" in spec:
        return [p for key, item in value.items() for p in problems(item, spec["*"], f"{path}.{key}")]
    missing = [f"{path}.{field}: missing" for field in spec if field not in value]
    return missing + [p for field, sub in spec.items() if field in value for p in problems(value[field], sub)]


async def _get(client: httpx.AsyncClient, path: str, spec: Spec, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, f"{path} {params}: {response.status_code} {response.text[:300]}"
    body = response.json()
    assert problems(body, spec) == [], f"{path} breaks the client's types"
    return body


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def day(pg_server: EmbeddedPostgres) -> AsyncIterator[Day]:
    """The simulated day three minutes after its anchor: races settled with results, one jumping soon."""
    async with simulated_day(pg_server, first_suitable_seed()) as started:
        await started.advance_to(started.clock.now() + timedelta(minutes=3))
        yield started


@pytest_asyncio.fixture(loop_scope="module")
async def client(day: Day) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=day.api.base_url, timeout=10) as opened:
        yield opened


def _settled(day: Day) -> str:
    now = day.clock.now()
    return max(
        (r for r in day.races if r.final_at <= now and r.abandon_at is None), key=lambda r: r.start
    ).race_id


async def test_health_and_the_meetings_page(day: Day, client: httpx.AsyncClient) -> None:
    await _get(client, "/api/health", {"status": STR, "timestamp": STR, "database": STR})
    today = day.clock.now().astimezone(ZoneInfo("Pacific/Auckland")).date().isoformat()
    meetings = await _get(client, "/api/meetings", [MEETING], date=today)
    assert {m["meeting_id"] for m in meetings} == {m.meeting_id for m in day.sim.day.meetings}
    for meeting in meetings:
        races = await _get(client, "/api/races", [RACE_OF_MEETING], meeting_id=meeting["meeting_id"])
        assert races
        again = await _get(client, "/api/api/races", [RACE_OF_MEETING], meetingId=meeting["meeting_id"])
        assert again == races


async def test_next_scheduled_race_and_upcoming(day: Day, client: httpx.AsyncClient) -> None:
    next_race = await _get(client, "/api/api/races/next-scheduled", RACE)
    assert next_race["race_id"] == next_to_jump(day.sim.day, day.clock.now()).race_id
    upcoming = await _get(
        client, "/api/api/races/upcoming", UPCOMING, windowMinutes=120, lookbackMinutes=5, limit=50
    )
    assert upcoming["races"][0]["race_id"] == next_race["race_id"]


@pytest.mark.parametrize("which", ["open", "settled"])
async def test_the_race_page(day: Day, client: httpx.AsyncClient, which: str) -> None:
    race_id = next_to_jump(day.sim.day, day.clock.now()).race_id if which == "open" else _settled(day)
    race = await _get(client, f"/api/api/races/{race_id}", RACE)
    await _get(client, f"/api/api/meetings/{race['meeting_id']}", MEETING)
    entrants = await _get(client, "/api/api/entrants", [ENTRANT], raceId=race_id)
    assert entrants
    await _get(client, "/api/api/races/navigation", NAVIGATION, raceId=race_id)
    results = await client.get("/api/api/race-results", params={"raceId": race_id})
    if which == "open":
        # The proxy turns this 404 into `null`.
        assert results.status_code == 404
        assert problems(results.json(), ERROR) == []
    else:
        assert results.status_code == 200
        body = results.json()
        assert problems(body, RESULTS) == []
        assert body["results_data"]
        assert body["dividends_data"]
        assert {d["status"] for d in body["dividends_data"]} == {"Interim", "Final"}
        # The placed runners' closing prices, which the results panel formats with .toFixed.
        odds = body["fixed_odds_data"]
        assert all(
            isinstance(odds[str(r["runner_number"])]["fixed_win_odds"], float)
            for r in body["results_data"][:3]
        )
    await _get(client, "/api/api/race-pools", POOLS, raceId=race_id)


async def test_the_money_flow_timeline_pages_as_the_client_reads_it(
    day: Day, client: httpx.AsyncClient
) -> None:
    race_id = next_to_jump(day.sim.day, day.clock.now()).race_id
    entrants = await _get(client, "/api/api/entrants", [ENTRANT], raceId=race_id)
    ids = ",".join(e["entrant_id"] for e in entrants if not e["is_scratched"])
    cursor: str | None = None
    seen: list[str] = []
    for _ in range(100):
        params: dict[str, Any] = {"raceId": race_id, "entrants": ids, "poolType": "win", "limit": 7}
        if cursor is not None:
            params["cursorAfter"] = cursor
        page = await _get(client, "/api/api/money-flow-timeline", TIMELINE, **params)
        seen += [doc["id"] for doc in page["documents"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        assert page["next_cursor"] is not None
        cursor = page["next_cursor"]
    else:
        pytest.fail("the timeline never stopped paging")
    assert len(seen) == len(set(seen)) > 7
    since = await _get(
        client,
        "/api/api/money-flow-timeline",
        TIMELINE,
        raceId=race_id,
        entrants=ids,
        createdAfter="2000-01-01T00:00:00Z",
    )
    assert since["total"] == len(seen)


async def test_alert_configs_read_saved_and_reset(client: httpx.AsyncClient) -> None:
    config = await _get(client, "/api/api/user-alert-configs", ALERT_CONFIG, userId="contract user")
    assert [i["display_order"] for i in config["indicators"]] == [1, 2, 3, 4, 5, 6]
    body = {
        "userId": "contract user",
        "indicators": [
            {
                "indicatorType": "percentage_range",
                "percentage_range_min": 5,
                "percentage_range_max": 12,
                "color": "#bfdbfe",
                "is_default": False,
                "enabled": True,
                "display_order": 1,
            }
        ],
        "audibleAlertsEnabled": False,
    }
    saved = await client.post("/api/api/user-alert-configs", json=body)
    assert saved.status_code == 200
    assert problems(saved.json(), {"success": BOOL, **ALERT_CONFIG}) == []
    assert saved.json()["success"] is True
    read = await _get(client, "/api/api/user-alert-configs", ALERT_CONFIG, userId="contract user")
    first = read["indicators"][0]
    assert (first["percentage_range_max"], first["color"], read["audible_alerts_enabled"]) == (
        12,
        "#BFDBFE",
        False,
    )
    # The client's reset: POST the defaults, then GET.
    defaults = {
        "userId": "contract user",
        "indicators": [
            {"percentage_range_min": 5, "percentage_range_max": 10, "color": "#E5E7EB", "display_order": 1}
        ],
        "audibleAlertsEnabled": True,
    }
    assert (await client.post("/api/api/user-alert-configs", json=defaults)).status_code == 200
    reset = await _get(client, "/api/api/user-alert-configs", ALERT_CONFIG, userId="contract user")
    assert reset["indicators"][0]["percentage_range_max"] == 10
