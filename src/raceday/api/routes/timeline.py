"""GET /api/money-flow-timeline: per entrant and interval bucket, the latest money-flow row, paged by id.

Each page (race and normalised parameters) is kept in the race cache with its gzip.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from psycopg import AsyncConnection
from pydantic import TypeAdapter

from raceday.api.cache import CacheKey, answer
from raceday.api.deps import LiveDep
from raceday.api.errors import ERROR_RESPONSES, NOT_FOUND, ApiError, not_found
from raceday.api.params import MAX_ID_LENGTH, RaceIdQuery, clamp
from raceday.api.schemas.timeline import Timeline
from raceday.core.nztime import iso_z
from raceday.db import queries

router = APIRouter(tags=["money flow"])
_TIMELINE = TypeAdapter(Timeline)

POOL_TYPES = ("win", "place", "odds")
MAX_ENTRANTS = 100
# The client's grid: 60, 55, ..., 5, then 4, 3, 2, 1, 0 (domain §3.4); 5..0 is the critical period.
CRITICAL_INTERVALS = (*range(60, 4, -5), 4, 3, 2, 1, 0)
CRITICAL_PERIOD = (5, 4, 3, 2, 1, 0)
QUERY_NOTES = [
    "bucketed rows only (type = 'bucketed_aggregation', -65 < time_interval < 66)",
    "latest row per entrant and interval (DISTINCT ON)",
    "history bounded to the race's window: only its day's partitions are scanned",
    "paged by row id: cursorAfter = next_cursor never skips a row",
]


def _entrant_ids(raw: str) -> list[str]:
    ids = list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not ids:
        raise ApiError(400, "Invalid query parameter", "At least one entrant ID is required (entrants)")
    if len(ids) > MAX_ENTRANTS or any(len(i) > MAX_ID_LENGTH for i in ids):
        details = f"entrants: at most {MAX_ENTRANTS} ids of at most {MAX_ID_LENGTH} characters"
        raise ApiError(400, "Invalid query parameter", details)
    return ids


def _coverage(documents: list[dict[str, Any]], entrant_ids: list[str]) -> dict[str, Any]:
    intervals: dict[str, set[int]] = {entrant: set() for entrant in entrant_ids}
    counts = dict.fromkeys(entrant_ids, 0)
    for doc in documents:
        counts[doc["entrant_id"]] += 1
        if doc["time_interval"] is not None:
            intervals[doc["entrant_id"]].add(doc["time_interval"])
    entrants = []
    gaps = []
    for entrant in entrant_ids:
        present = intervals[entrant]
        missing_critical = [i for i in CRITICAL_INTERVALS if i not in present]
        entrants.append(
            {
                "entrant_id": entrant,
                "document_count": counts[entrant],
                "intervals_covered": sorted(present, reverse=True),
                "critical_period_coverage": [i for i in CRITICAL_INTERVALS if i in present],
                "missing_critical_intervals": missing_critical,
            }
        )
        missing_period = [i for i in CRITICAL_PERIOD if i not in present]
        if missing_period:
            gaps.append({"entrant_id": entrant[-8:], "missing_intervals": missing_period})
    covered = sorted(set().union(*intervals.values()), reverse=True)
    entrants_covered = sum(1 for count in counts.values() if count)
    report = (
        f"{len(documents)} documents; {entrants_covered}/{len(entrant_ids)} entrants; "
        f"{len(covered)} intervals; {len(gaps)} entrants with critical-period gaps"
    )
    return {
        "summary": {
            "total_documents": len(documents),
            "entrants_covered": entrants_covered,
            "intervals_covered": covered,
            "critical_period_gaps": gaps,
            "coverage_report": report,
        },
        "entrants": entrants,
    }


def _as_utc(instant: datetime) -> datetime:
    """The instant in UTC (naive means UTC). An offset that carries it past year 1 or 9999 is a 400."""
    try:
        return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)
    except OverflowError:
        details = f"createdAfter: {instant.isoformat()} is outside the years 0001-9999 in UTC"
        raise ApiError(400, "Invalid query parameter", details) from None


@router.get(
    "/money-flow-timeline",
    response_model=Timeline,
    responses={**ERROR_RESPONSES, **NOT_FOUND},
    summary="Money-flow timeline of some entrants of a race",
    description=(
        "For each requested entrant and interval bucket (60, 55, ..., 0, -1, ...), its latest bucketed row. "
        "Pages hold `limit` rows in id order, returned sorted by (time_interval, created_at). While "
        "`has_more` is true, pass `next_cursor` as `cursorAfter` for the next page; on the last page "
        "`next_cursor` is null. Amounts are integer cents."
    ),
)
async def money_flow_timeline(
    request: Request,
    live: LiveDep,
    race_id: RaceIdQuery,
    entrants: Annotated[
        str,
        Query(
            description="Comma-separated entrant ids, at least one",
            examples=["7346bd2c-c03d-41c3-bcb9-2b085c4e72cd"],
        ),
    ],
    pool_type: Annotated[
        str, Query(alias="poolType", description="win, place or odds; echoed", examples=["win"])
    ] = "win",
    limit: Annotated[int, Query(description="Rows per page, clamped to 1-2000", examples=[200])] = 200,
    cursor_after: Annotated[
        int | None, Query(alias="cursorAfter", ge=0, le=2**63 - 1, description="Rows with a larger id only")
    ] = None,
    created_after: Annotated[
        datetime | None, Query(alias="createdAfter", description="Rows created after this instant only")
    ] = None,
) -> Response:
    entrant_ids = _entrant_ids(entrants)
    if pool_type not in POOL_TYPES:
        raise ApiError(
            400,
            "Invalid pool_type parameter",
            f"poolType must be win, place or odds (received {pool_type!r})",
        )
    limit = clamp(limit, 1, 2000)
    after = None if created_after is None else _as_utc(created_after)

    async def load(conn: AsyncConnection[Any]) -> bytes | None:
        rows = await queries.timeline(conn, race_id, entrant_ids, limit, cursor_after, after)
        if rows is None:
            return None
        return _TIMELINE.dump_json(
            _TIMELINE.validate_python(_page(race_id, entrant_ids, pool_type, limit, after, rows)),
            by_alias=True,
        )

    params = (tuple(entrant_ids), pool_type, limit, cursor_after, after)
    response = await answer(request, live.cache, CacheKey(race_id, "money-flow-timeline", params), load)
    if response is None:
        raise not_found("Race", race_id)
    return response


def _page(
    race_id: str,
    entrant_ids: list[str],
    pool_type: str,
    limit: int,
    created_after: datetime | None,
    rows: list[dict[str, Any]],
) -> dict[str, Any]:
    last = max(rows, key=lambda row: row["cursor_id"], default=None)
    # A full page may have more after it; a short or empty one is the last: no cursor to follow.
    has_more = last is not None and len(rows) == limit
    body: dict[str, Any] = {
        "documents": rows,
        "total": len(rows),
        "race_id": race_id,
        "entrant_ids": entrant_ids,
        "pool_type": pool_type,
        "bucketed_data": True,
        "interval_coverage": _coverage(rows, entrant_ids),
        "next_cursor": str(last["cursor_id"]) if has_more and last else None,
        "next_created_at": last["created_at"] if last else None,
        "has_more": has_more,
        "limit": limit,
        "created_after": None if created_after is None else iso_z(created_after),
        "query_optimizations": QUERY_NOTES,
    }
    if not rows:
        body["message"] = "No timeline data available yet"
    return body
