"""API test fixtures: one seeded database and one running app per test module, spoken to over real HTTP."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio

from raceday.core.log import configure_logging
from raceday.db.embedded import EmbeddedPostgres
from tests.api.seeding import Seeded, seed_all
from tests.conftest import new_database
from tests.serving import Api, running


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
