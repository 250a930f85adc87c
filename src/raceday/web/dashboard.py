"""GET / (the dashboard page), /dashboard.js and /dashboard.css, shipped inside the package.

Static files, no build step and nothing fetched from the internet: the page is the REST API's client.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)
_FILES = resources.files("raceday.web")
# The page polls the API itself; a stale copy after an upgrade would call endpoints that moved.
_NO_CACHE = {"Cache-Control": "no-cache"}


def _asset(name: str, media_type: str) -> Response:
    return Response((_FILES / name).read_text("utf-8"), media_type=media_type, headers=_NO_CACHE)


@router.get("/")
async def page() -> HTMLResponse:
    return HTMLResponse((_FILES / "dashboard.html").read_text("utf-8"), headers=_NO_CACHE)


@router.get("/dashboard.js")
async def script() -> Response:
    return _asset("dashboard.js", "text/javascript")


@router.get("/dashboard.css")
async def stylesheet() -> Response:
    return _asset("dashboard.css", "text/css")
