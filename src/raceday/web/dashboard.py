"""GET / (the dashboard page) and /dashboard.js, shipped inside the package."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)
_FILES = resources.files("raceday.web")
# The page polls the API itself; a stale copy after an upgrade would call endpoints that moved.
_NO_CACHE = {"Cache-Control": "no-cache"}


@router.get("/")
async def page() -> HTMLResponse:
    return HTMLResponse((_FILES / "dashboard.html").read_text("utf-8"), headers=_NO_CACHE)


@router.get("/dashboard.js")
async def script() -> Response:
    body = (_FILES / "dashboard.js").read_text("utf-8")
    return Response(body, media_type="text/javascript", headers=_NO_CACHE)
