"""GET /api/money-flow-timeline: latest row per entrant and bucket, and cursor paging that skips nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest

from raceday.api.schemas.timeline import Timeline
from tests.api.seeding import Seeded, seed_all
from tests.serving import Api, running

pytestmark = pytest.mark.asyncio(loop_scope="module")

LATEST_PER_BUCKET = """
SELECT DISTINCT ON (entrant_id, time_interval) id
FROM money_flow_history
WHERE race_id = %s AND type = 'bucketed_aggregation'
ORDER BY entrant_id, time_interval, event_timestamp DESC, id DESC"""


def _all_entrants(seeded: Seeded) -> str:
    return ",".join(runner["entrant_id"] for runner in seeded.runners.values())


async def _page(api: Api, **params: Any) -> Timeline:
    response = await api.client.get("/api/money-flow-timeline", params=params)
    assert response.status_code == 200, response.text
    return Timeline.model_validate(response.json())


async def _all_pages(
    api: Api, seeded: Seeded, limit: int, cursor: str | None = None
) -> tuple[list[str], str | None]:
    """Every page, as the client reads them: follow next_cursor while has_more. Returns the ids seen and the
    largest of them (to ask, later, for what is new)."""
    seen: list[str] = []
    while True:
        params: dict[str, Any] = {"raceId": seeded.race_id, "entrants": _all_entrants(seeded), "limit": limit}
        if cursor is not None:
            params["cursorAfter"] = cursor
        page = await _page(api, **params)
        seen += [doc.id for doc in page.documents]
        if not page.has_more:
            assert page.next_cursor is None
            return seen, max(seen, key=int, default=cursor)
        assert page.next_cursor == str(max(int(doc.id) for doc in page.documents))
        cursor = page.next_cursor


def _expected(url: str, race_id: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {str(row[0]) for row in conn.execute(LATEST_PER_BUCKET, (race_id,))}


async def test_one_document_per_entrant_and_bucket_the_latest(api: Api, seeded: Seeded) -> None:
    ruji = seeded.runner(4)["entrant_id"]
    page = await _page(api, raceId=seeded.race_id, entrants=ruji, poolType="place")
    intervals = [doc.time_interval for doc in page.documents]
    assert intervals == sorted(intervals)
    assert intervals == [-2, 0, 1, 2, 3, 4, *range(5, 65, 5)]
    last = page.documents[0]
    assert (last.win_pool_amount, last.winPoolAmount, last.placePoolAmount) == (146422, 146422, 62776)
    assert last.type == "bucketed_aggregation"
    assert last.updated_at == last.created_at
    assert (page.pool_type, page.bucketed_data, page.total, page.has_more) == ("place", True, 18, False)
    # The only page is the last: nothing to follow.
    assert page.next_cursor is None


async def test_pages_of_every_size_union_to_exactly_the_latest_rows(
    api: Api, seeded: Seeded, seeded_database: tuple[str, Seeded]
) -> None:
    expected = _expected(seeded_database[0], seeded.race_id)
    assert len(expected) == 8 * 18
    for limit in (5, 7, 50, 2000):
        seen, _ = await _all_pages(api, seeded, limit)
        assert len(seen) == len(set(seen))
        assert set(seen) == expected, f"limit {limit}"


async def test_rows_written_between_pages_are_not_skipped(database_url: str) -> None:
    seeded = seed_all(database_url)
    async with running(database_url) as api:
        first = await _page(api, raceId=seeded.race_id, entrants=_all_entrants(seeded), limit=40)
        assert first.has_more
        with psycopg.connect(database_url, autocommit=True) as conn:
            for minutes, bucket in ((2.5, -2), (3, -3)):
                later = seeded.start + timedelta(minutes=minutes)
                for runner in seeded.runners.values():
                    conn.execute(
                        """INSERT INTO money_flow_history (entrant_id, race_id, type, time_to_start,
                             time_interval, event_timestamp, polling_timestamp, pool_type)
                           VALUES (%s, %s, 'bucketed_aggregation', %s, %s, %s, %s, 'combined')""",
                        (runner["entrant_id"], seeded.race_id, bucket, bucket, later, later),
                    )
        rest, cursor = await _all_pages(api, seeded, 40, first.next_cursor)
        nothing_new = await _page(
            api, raceId=seeded.race_id, entrants=_all_entrants(seeded), cursorAfter=cursor
        )
    seen = {doc.id for doc in first.documents} | set(rest)
    expected = _expected(database_url, seeded.race_id)
    assert len(expected) == 8 * 19
    # Every latest row arrives; a -2 row already delivered on the first page stays delivered (superseded).
    assert expected <= seen
    assert len(seen - expected) <= 8
    # An empty page ends the paging: next_cursor is null, never the cursorAfter echoed back.
    assert (nothing_new.documents, nothing_new.next_cursor, nothing_new.has_more) == ([], None, False)
    assert nothing_new.message == "No timeline data available yet"


async def test_created_after_keeps_only_newer_rows(api: Api, seeded: Seeded) -> None:
    ruji = seeded.runner(4)["entrant_id"]
    since = (seeded.start - timedelta(minutes=3)).isoformat().replace("+00:00", "Z")
    page = await _page(api, raceId=seeded.race_id, entrants=ruji, createdAfter=since)
    assert {doc.time_interval for doc in page.documents} == {2, 1, 0, -2}
    assert all(doc.created_at is not None and doc.created_at > since for doc in page.documents)
    assert page.created_after == since.replace("Z", ".000Z")


async def test_coverage_reports_each_entrant_and_gaps(api: Api, seeded: Seeded) -> None:
    ruji = seeded.runner(4)["entrant_id"]
    unknown = "00000000-0000-4000-8000-0000deadbeef"
    page = await _page(api, raceId=seeded.race_id, entrants=f"{ruji},{unknown}", limit=5000)
    assert page.limit == 2000
    summary = page.interval_coverage.summary
    assert (summary.total_documents, summary.entrants_covered) == (len(page.documents), 1)
    assert [gap.model_dump() for gap in summary.critical_period_gaps] == [
        {"entrant_id": "deadbeef", "missing_intervals": [5, 4, 3, 2, 1, 0]}
    ]
    by_entrant = {item.entrant_id: item for item in page.interval_coverage.entrants}
    assert by_entrant[ruji].missing_critical_intervals == []
    assert by_entrant[unknown].document_count == 0


@pytest.mark.parametrize(
    ("params", "error", "details"),
    [
        ({"entrants": "a"}, "Invalid query parameter", "raceId is required"),
        ({"raceId": "RACE"}, "Invalid query parameter", "entrants is required"),
        ({"raceId": "RACE", "entrants": " , "}, "Invalid query parameter", "At least one entrant ID"),
        (
            {"raceId": "RACE", "entrants": "a", "poolType": "quinella"},
            "Invalid pool_type parameter",
            "poolType",
        ),
        ({"raceId": "RACE", "entrants": "a", "cursorAfter": "-1"}, "Invalid query parameter", "cursorAfter:"),
        ({"raceId": "RACE", "entrants": "a", "cursor_after": "x"}, "Invalid query parameter", "cursorAfter:"),
        (
            {"raceId": "RACE", "entrants": "a", "createdAfter": "yesterday"},
            "Invalid query parameter",
            "createdAfter:",
        ),
    ],
)
async def test_invalid_parameters(
    api: Api, seeded: Seeded, params: dict[str, str], error: str, details: str
) -> None:
    params = {key: seeded.race_id if value == "RACE" else value for key, value in params.items()}
    response = await api.client.get("/api/money-flow-timeline", params=params)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.json()["details"].startswith(details)


async def test_next_cursor_is_set_only_while_there_is_more(api: Api, seeded: Seeded) -> None:
    ruji = seeded.runner(4)["entrant_id"]
    # Ruji has 18 latest rows (test above): pages of 10, then 8, then none.
    first = await _page(api, raceId=seeded.race_id, entrants=ruji, limit=10)
    assert (first.total, first.has_more) == (10, True)
    assert first.next_cursor == str(max(int(doc.id) for doc in first.documents))
    last = await _page(api, raceId=seeded.race_id, entrants=ruji, limit=10, cursorAfter=first.next_cursor)
    assert (last.total, last.has_more, last.next_cursor) == (8, False, None)
    beyond = max(int(doc.id) for doc in last.documents)
    empty = await _page(api, raceId=seeded.race_id, entrants=ruji, limit=10, cursorAfter=beyond)
    assert (empty.total, empty.has_more, empty.next_cursor) == (0, False, None)


@pytest.mark.parametrize(
    "instant",
    [
        "9999-12-31T23:59:59-23:59",  # in UTC: the year 10000
        "0001-01-01T00:00:00+14:00",  # in UTC: the year 0
        "0001-01-01T00:00:00+00:01",
    ],
)
async def test_an_instant_outside_the_years_1_to_9999_in_utc_is_a_400(
    api: Api, seeded: Seeded, instant: str
) -> None:
    response = await api.client.get(
        "/api/money-flow-timeline",
        params={
            "raceId": seeded.race_id,
            "entrants": seeded.runner(4)["entrant_id"],
            "createdAfter": instant,
        },
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error", "details"}
    assert body["error"] == "Invalid query parameter"
    assert body["details"].startswith("createdAfter: ")


@pytest.mark.parametrize(
    ("instant", "intervals"),
    [
        ("9999-12-31T23:59:59+00:00", set()),
        ("0001-01-01T00:00:00+00:00", {-2, 0, 1, 2, 3, 4, 5, *range(10, 65, 5)}),
    ],
)
async def test_the_extreme_instants_inside_the_range_are_answered(
    api: Api, seeded: Seeded, instant: str, intervals: set[int]
) -> None:
    page = await _page(
        api, raceId=seeded.race_id, entrants=seeded.runner(4)["entrant_id"], createdAfter=instant
    )
    assert {doc.time_interval for doc in page.documents} == intervals


async def test_the_openapi_document_says_entrants_is_required(api: Api) -> None:
    operation = (await api.client.get("/openapi.json")).json()["paths"]["/api/money-flow-timeline"]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert parameters["entrants"]["required"] is True
    assert parameters["raceId"]["required"] is True
    absent = await api.client.get("/api/money-flow-timeline", params={"raceId": "any"})
    assert (absent.status_code, absent.json()["details"]) == (400, "entrants is required")


async def test_unknown_race(api: Api) -> None:
    response = await api.client.get("/api/money-flow-timeline", params={"raceId": "nope", "entrants": "a"})
    assert (response.status_code, response.json()["error"]) == (404, "Race not found")
