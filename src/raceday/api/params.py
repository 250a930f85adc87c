"""Query parameters: both casings, one mechanism, and the small rules several endpoints share.

Routes declare the camelCase names the Epic 3 contract documents (`raceId`, `meetingId`, ...). The
middleware renames any snake_case key (`race_id`) to its camelCase form before routing, unless the
camelCase key is also present (then it wins), so every endpoint accepts both without its own copy.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import Path, Query, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from raceday.api.errors import error_response

_SNAKE = re.compile(r"_([a-z0-9])")
# Ids are NZ TAB UUIDs; the bound keeps absurd input away from the database.
MAX_ID_LENGTH = 100
# The longest real query: a timeline of 100 entrant ids (~3.8 KB).
MAX_QUERY_BYTES = 8 * 1024


def camel_case(name: str) -> str:
    return _SNAKE.sub(lambda match: match.group(1).upper(), name)


def clamp(value: int, lowest: int, highest: int) -> int:
    return max(lowest, min(highest, value))


class QueryCasingMiddleware:
    """Rewrites snake_case query keys to camelCase and refuses NUL characters in the query or path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw: bytes = scope.get("query_string", b"")
        if len(raw) > MAX_QUERY_BYTES:
            details = f"Query strings are limited to {MAX_QUERY_BYTES} bytes"
            response = error_response(Request(scope), 414, "Query too long", details)
            await response(scope, receive, send)
            return
        if b"%00" in raw or "\x00" in scope.get("path", ""):
            response = error_response(
                Request(scope), 400, "Invalid parameter", "NUL characters are not allowed"
            )
            await response(scope, receive, send)
            return
        if b"_" in raw:
            pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
            present = {key for key, _ in pairs}
            renamed = [
                (key if camel_case(key) in present else camel_case(key), value) for key, value in pairs
            ]
            scope = {**scope, "query_string": urlencode(renamed).encode("ascii")}
        await self.app(scope, receive, send)


RaceIdQuery = Annotated[
    str,
    Query(
        alias="raceId",
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description="NZ TAB event (race) id; `race_id` is accepted too",
        examples=["0f57e087-00d9-4c61-9549-835abe2ae2ed"],
    ),
]
MeetingIdQuery = Annotated[
    str,
    Query(
        alias="meetingId",
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description="NZ TAB meeting id; `meeting_id` is accepted too",
        examples=["e9f2039d-d489-4a7d-aae1-d66225f1a5f4"],
    ),
]
RaceIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description="NZ TAB event (race) id",
        examples=["0f57e087-00d9-4c61-9549-835abe2ae2ed"],
    ),
]
MeetingIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description="NZ TAB meeting id",
        examples=["e9f2039d-d489-4a7d-aae1-d66225f1a5f4"],
    ),
]
