"""The dashboard's files over real HTTP: served uncached, labelled for simulated data, calling real endpoints.

What the page does in a browser is in test_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.serving import running


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running(database_url, node_env="development") as api:
        yield api.client


async def test_the_page_its_script_and_its_stylesheet_are_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    script = await client.get("/dashboard.js")
    style = await client.get("/dashboard.css")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/dashboard.js"></script>' in page.text
    assert '<link rel="stylesheet" href="/dashboard.css">' in page.text
    assert (script.status_code, style.status_code) == (200, 200)
    assert script.headers["content-type"].startswith("text/javascript")
    assert style.headers["content-type"].startswith("text/css")
    assert {page.headers["cache-control"], script.headers["cache-control"]} == {"no-cache"}
    # helmet's policy, minus upgrade-insecure-requests (the page may be opened over http on a LAN).
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "upgrade-insecure-requests" not in csp


async def test_nothing_is_loaded_from_the_internet(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text
    style = (await client.get("/dashboard.css")).text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "@import" not in style
    assert "url(http" not in style


async def test_simulated_data_is_labelled(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text
    script = (await client.get("/dashboard.js")).text
    assert re.search(r'id="simulated"[^>]*>SIMULATED DATA', page)
    assert 'response.headers.get("X-Raceday-Simulated") === "true"' in script
    assert 'data_source === "simulator"' in script


async def test_every_endpoint_the_script_calls_is_in_the_api(client: httpx.AsyncClient) -> None:
    script = (await client.get("/dashboard.js")).text
    called = set(re.findall(r'api\("([^"?]+)', script)) | set(re.findall(r'fetch\("([^"?]+)', script))
    paths = set((await client.get("/openapi.json")).json()["paths"])
    # A path ending in "/" is followed by an id in the script.
    templated = {"/api/races/": "/api/races/{race_id}", "/api/meetings/": "/api/meetings/{meeting_id}"}
    assert {templated.get(path, path) for path in called} == {
        "/health",
        "/api/races/upcoming",
        "/api/races/next-scheduled",
        "/api/races/navigation",
        "/api/races/{race_id}",
        "/api/races",
        "/api/meetings",
        "/api/meetings/{meeting_id}",
        "/api/entrants",
        "/api/race-pools",
        "/api/race-results",
        "/api/money-flow-timeline",
        "/api/user-alert-configs",
    }
    assert {templated.get(path, path) for path in called} <= paths
