"""API test fixtures: one seeded database and one running app per test module, spoken to over real HTTP."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from raceday.api.app import create_app
from raceday.config import load_settings
from raceday.db.embedded import EmbeddedPostgres
from raceday.log import configure_logging
from raceday.serving import serve_in_background
from tests.api.seeding import Seeded, seed_all
from tests.conftest import new_database


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    base_url: str


@contextlib.asynccontextmanager
async def running(url: str, /, **overrides: Any) -> AsyncIterator[Api]:
    """The app on a real uvicorn server (NODE_ENV=test unless overridden) and a client for it."""
    app = create_app(load_settings(**{"node_env": "test", **overrides}), url)
    async with (
        serve_in_background(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=10) as client,
    ):
        yield Api(app, client, base_url)


@pytest.fixture(scope="module")
def seeded_database(pg_server: EmbeddedPostgres) -> Iterator[tuple[str, Seeded]]:
    with new_database(pg_server) as url:
        yield url, seed_all(url)


@pytest.fixture(scope="module")
def seeded(seeded_database: tuple[str, Seeded]) -> Seeded:
    return seeded_database[1]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def api(seeded_database: tuple[str, Seeded]) -> AsyncIterator[Api]:
    async with running(seeded_database[0]) as started:
        yield started


@pytest.fixture
def read_logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """A function returning the JSON log lines written so far in this test."""
    buffer = io.StringIO()
    configure_logging("info", "test", stream=buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        configure_logging("info", "test")
