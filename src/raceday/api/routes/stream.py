"""GET /api/races/{id}/stream: the race's runners pushed as Server-Sent Events whenever a poll commits.

Each `entrants` event is the runners' whole current state, not a delta, so a client that missed one is
whole again at the next: `{"race_id", "version", "simulated", "entrants"}`, `entrants` being what
/api/entrants returns without each runner's two history arrays (a twentieth of the bytes; the grid reads
/api/money-flow-timeline), and the race version as the event id. One is sent at once on connect, then one
per committed version (a burst of commits collapses into the newest), and a comment line every
HEARTBEAT_S keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from raceday.api.cache import Entry
from raceday.api.deps import LiveDep, RuntimeDep
from raceday.api.errors import ERROR_RESPONSES, NOT_FOUND, ApiError, not_found
from raceday.api.live import Live
from raceday.api.params import RaceIdPath
from raceday.api.push import Subscription
from raceday.api.routes.entrants import runners_entry

router = APIRouter(tags=["races"])

HEARTBEAT_S = 15.0
# How long a browser waits before reconnecting a dropped stream.
RETRY_MS = 2000
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def current(body: bytes) -> bytes:
    """The runners without their (empty) history arrays, on one line (a line break would end the SSE
    data line)."""
    entrants = json.loads(body)
    for entrant in entrants:
        entrant.pop("money_flow_history", None)
        entrant.pop("odds_history", None)
    return json.dumps(entrants, separators=(",", ":")).encode()


def event(race_id: str, entry: Entry, simulated: bool) -> bytes:
    head = json.dumps({"race_id": race_id, "version": entry.version, "simulated": simulated})
    data = head[:-1].encode() + b', "entrants": ' + entry.derived("stream", current) + b"}"
    return b"event: entrants\nid: %d\ndata: %s\n\n" % (entry.version, data)


async def _events(
    live: Live, subscription: Subscription, first: Entry, simulated: bool
) -> AsyncIterator[bytes]:
    race_id = subscription.race_id
    yield b"retry: %d\n\n" % RETRY_MS + event(race_id, first, simulated)
    sent = first.version
    while True:
        try:
            await asyncio.wait_for(subscription.woken.wait(), HEARTBEAT_S)
        except TimeoutError:
            yield b": heartbeat\n\n"
            continue
        # Cleared before the read: a change committed from here on wakes us again.
        subscription.woken.clear()
        entry = await runners_entry(live, race_id)
        if entry is None:
            return
        if entry.version != sent:
            sent = entry.version
            yield event(race_id, entry, simulated)


class RaceStream(StreamingResponse):
    """Unsubscribes however the response ends: done, client gone, or cancelled at shutdown."""

    def __init__(self, events: AsyncIterator[bytes], live: Live, subscription: Subscription) -> None:
        super().__init__(events, media_type="text/event-stream", headers=STREAM_HEADERS)
        self._live = live
        self._subscription = subscription

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._live.feed.unsubscribe(self._subscription)


@router.get(
    "/races/{race_id}/stream",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "`entrants` events, heartbeats"},
        **ERROR_RESPONSES,
        **NOT_FOUND,
    },
    summary="A race's entrants pushed on every committed poll (Server-Sent Events)",
    description=(
        "Event `entrants`, id = the race's version, data = `{race_id, version, simulated, entrants}` where "
        "`entrants` is what /api/entrants returns without the history arrays. Sent on connect, then "
        "within milliseconds of each commit that changes the race; `: heartbeat` comments every 15 s. "
        "503 when too many streams are open."
    ),
    response_class=StreamingResponse,
)
async def race_stream(race_id: RaceIdPath, live: LiveDep, runtime: RuntimeDep) -> StreamingResponse:
    # Subscribed before the first read: a commit between the two wakes the stream instead of being lost.
    subscription = live.feed.subscribe(race_id)
    if subscription is None:
        raise ApiError(503, "Too many streams", f"At most {live.feed.max_streams} streams are served at once")
    try:
        first = await runners_entry(live, race_id)
    except BaseException:
        live.feed.unsubscribe(subscription)
        raise
    if first is None:
        live.feed.unsubscribe(subscription)
        raise not_found("Race", race_id)
    events = _events(live, subscription, first, runtime.simulated)
    return RaceStream(events, live, subscription)
