"""API test fixtures: one seeded database and one running app per test module, spoken to over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

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
