"""The dashboard page over real HTTP: served, labelled for simulated data, and calling real endpoints."""

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


async def test_the_page_and_its_script_are_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    script = await client.get("/dashboard.js")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/dashboard.js"></script>' in page.text
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    # helmet's policy, minus upgrade-insecure-requests (the page may be opened over http on a LAN).
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "upgrade-insecure-requests" not in csp


async def test_simulated_data_is_labelled(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text
    script = (await client.get("/dashboard.js")).text
    assert re.search(r'id="simulated"[^>]*>SIMULATED DATA', page)
    assert 'response.headers.get("X-Raceday-Simulated") === "true"' in script
    assert 'data_source === "simulator"' in script


async def test_every_endpoint_the_script_calls_is_in_the_api(client: httpx.AsyncClient) -> None:
    script = (await client.get("/dashboard.js")).text
    called = {re.sub(r'" \+ selected', "{race_id}", path) for path in re.findall(r'api\("([^"?]+)', script)}
    paths = set((await client.get("/openapi.json")).json()["paths"])
    assert called == {
        "/health",
        "/api/races/upcoming",
        "/api/races/",
        "/api/entrants",
        "/api/race-pools",
        "/api/money-flow-timeline",
    }
    assert {"/health", "/api/races/upcoming", "/api/races/{race_id}", "/api/entrants"} <= paths
    assert {"/api/race-pools", "/api/money-flow-timeline"} <= paths
