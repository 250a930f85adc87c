"""GET /metrics: the service's Prometheus series, in the text format Prometheus scrapes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from raceday.api.deps import RuntimeDep
from raceday.core.metrics import CONTENT_TYPE

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(runtime: RuntimeDep) -> Response:
    """Out of the OpenAPI document: it is for Prometheus, not for the web client."""
    return Response(await runtime.metrics.scrape(), media_type=CONTENT_TYPE)
