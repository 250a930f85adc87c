"""The FastAPI application over a Runtime it is handed (pool, clock, pipeline health).

The REST API lives under `/api`; it is also served under `/api/api` and `/health` under `/api/health`,
because the web client's proxy joins `/api/...` paths to a base URL that already ends in `/api`
(domain §7.4). Those aliases stay out of the OpenAPI document.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.utils import get_openapi

from raceday import __version__
from raceday.api.cache import CachedReads
from raceday.api.errors import ServerFaultMiddleware, install_error_handlers
from raceday.api.live import open_live
from raceday.api.middleware import SIMULATED_HEADER, BodyLimitMiddleware, ResponseHeadersMiddleware
from raceday.api.params import QueryCasingMiddleware
from raceday.api.request_metrics import RequestMetricsMiddleware, RouteNoteMiddleware
from raceday.api.routes import (
    alerts,
    entrants,
    health,
    meetings,
    metrics,
    pools,
    races,
    results,
    stream,
    timeline,
)
from raceday.runtime import Runtime
from raceday.web import dashboard

# Responses under 1 KB go out as they are; zlib level 6 costs a fraction of level 9 for nearly its ratio.
GZIP_MINIMUM_BYTES = 1024
GZIP_LEVEL = 6
# The only body raceday takes is a user's six alert indicators (well under 2 KB).
MAX_BODY_BYTES = 64 * 1024

DESCRIPTION = """Race-day money flow from the NZ TAB, as the raceday web client reads it.

* Query parameters are accepted in camelCase (documented) and snake_case (`raceId` or `race_id`).
* Every amount is **integer cents**; percentages are 0-100; instants are ISO 8601 UTC ending in `Z`.
* Errors are `{"error": "...", "details": "..."}` with status 400, 404, 500 or 503.
* Responses carry `X-Raceday-Simulated: true` while raceday serves its built-in simulator's data.
"""


def _api_router() -> APIRouter:
    router = APIRouter()
    for module in (meetings, races, stream, entrants, pools, results, timeline, alerts):
        router.include_router(module.router)
    return router


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document without the 422 responses it adds by default: validation errors are 400 here."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path in schema["paths"].values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The race cache, its listener and the streams live as long as the app serves."""
    async with open_live(app.state.runtime) as live:
        app.state.live = live
        yield


def create_app(runtime: Runtime) -> FastAPI:
    """The service's app over a started runtime (`open_runtime`), which outlives it."""
    settings = runtime.settings
    app = FastAPI(title="raceday", version=__version__, description=DESCRIPTION, lifespan=_lifespan)
    app.state.runtime = runtime
    app.include_router(health.router)
    app.include_router(health.router, prefix="/api", include_in_schema=False)
    api = _api_router()
    app.include_router(api, prefix="/api")
    app.include_router(api, prefix="/api/api", include_in_schema=False)
    app.include_router(dashboard.router)
    app.include_router(metrics.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    # Added innermost first: cached reads answered before the router (inside every other layer), the body
    # limit inside the fault handler (which answers a body found too large while streaming), both inside the
    # casing, CORS, header and gzip layers.
    app.add_middleware(CachedReads)
    app.add_middleware(RouteNoteMiddleware)
    app.add_middleware(BodyLimitMiddleware, limit=MAX_BODY_BYTES)
    app.add_middleware(ServerFaultMiddleware, environment=settings.node_env)
    app.add_middleware(QueryCasingMiddleware)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=[SIMULATED_HEADER],
        )
    app.add_middleware(ResponseHeadersMiddleware)
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES, compresslevel=GZIP_LEVEL)
    # Outermost: every request's latency by route and status (the route noted by the innermost layer).
    app.add_middleware(RequestMetricsMiddleware, metrics=runtime.metrics)
    return app
