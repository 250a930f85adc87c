"""REST API latency by route and status for /metrics.

The route is the matched route's path template (`/api/races/{race_id}`), never the raw path, so a client
cannot create series at will; a request no route matched is counted as `unmatched`. The timer wraps the
whole stack, but only the router knows the route, and some layers hand inner ones a copy of the request
scope: the outer layer puts a shared dict in the scope, the inner one fills it in.
"""

from __future__ import annotations

import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from raceday.core.metrics import Metrics

MATCHED = "raceday.matched_route"
UNMATCHED = "unmatched"
_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


class RequestMetricsMiddleware:
    """Outermost: times each request and records it under its method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        matched: dict[str, str] = {}
        scope[MATCHED] = matched
        status = 500
        started = time.perf_counter()

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            self.metrics.http_seconds.labels(
                scope["method"], matched.get("route", UNMATCHED), str(status)
            ).observe(time.perf_counter() - started)


def template(scope: Scope, route_path: str) -> str:
    """The full path template of the route matched. The route may belong to an included router and know
    only its own part (`/races/{race_id}`): the prefix is what the request's path has before that part,
    once filled in with the request's path parameters (`/api` + `/races/{race_id}`)."""
    params = scope.get("path_params") or {}
    filled = _PARAM.sub(lambda m: str(params.get(m[1], m[0])), route_path)
    path = str(scope.get("path", ""))
    if filled and path.endswith(filled):
        return path[: len(path) - len(filled)] + route_path
    return route_path


class RouteNoteMiddleware:
    """Innermost: after the router has run, notes the route it matched for the outer layer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            route: Any = scope.get("route")
            matched = scope.get(MATCHED)
            path = getattr(route, "path", None)
            if matched is not None and isinstance(path, str):
                matched["route"] = template(scope, path)
