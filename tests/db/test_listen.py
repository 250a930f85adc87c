"""The race_changed listener against PostgreSQL 18: what commits is heard, what rolls back is not, and a lost
connection is reported and re-established."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
import pytest_asyncio

from raceday.db.listen import RaceChangeListener, parse_payload
from raceday.db.writers import BUMP_VERSION
from tests.serving import eventually


class Heard:
    def __init__(self) -> None:
        self.changes: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        self.resets = 0

    def change(self, race_id: str, version: int) -> None:
        self.changes.put_nowait((race_id, version))

    def reset(self) -> None:
        self.resets += 1

    async def next(self) -> tuple[str, int]:
        return await asyncio.wait_for(self.changes.get(), 5)


@pytest_asyncio.fixture
async def listening(database_url: str) -> AsyncIterator[tuple[RaceChangeListener, Heard]]:
    heard = Heard()
    listener = RaceChangeListener(database_url, heard.change, heard.reset)
    listener.start()
    await asyncio.wait_for(listener.listening.wait(), 10)
    try:
        yield listener, heard
    finally:
        await listener.stop()


async def bump(conn: psycopg.AsyncConnection[Any], race_id: str, *, commit: bool = True) -> None:
    await conn.execute("BEGIN")
    await conn.execute(BUMP_VERSION, {"race_id": race_id})
    await conn.execute("COMMIT" if commit else "ROLLBACK")


@pytest.mark.parametrize(
    ("payload", "parsed"),
    [("race-1 7", ("race-1", 7)), ("a b 12", ("a b", 12)), ("race-1", None), (" 3", None), ("r x", None)],
)
def test_payloads(payload: str, parsed: tuple[str, int] | None) -> None:
    assert parse_payload(payload) == parsed


async def test_each_commit_is_heard_with_its_version_and_a_rollback_is_not(
    database_url: str, listening: tuple[RaceChangeListener, Heard]
) -> None:
    _, heard = listening
    assert heard.resets == 1  # the first connect: nothing was listening before it
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await bump(conn, "race-a")
        await bump(conn, "race-a", commit=False)
        await bump(conn, "race-b")
        await bump(conn, "race-a")
    assert [await heard.next() for _ in range(3)] == [("race-a", 1), ("race-b", 1), ("race-a", 2)]
    assert heard.changes.empty()


async def test_a_lost_connection_is_reported_and_listening_resumes(
    database_url: str, listening: tuple[RaceChangeListener, Heard]
) -> None:
    listener, heard = listening
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("SELECT pg_terminate_backend(%s)", (listener.backend_pid,))

        async def reconnected() -> bool:
            return listener.connects == 2 and listener.listening.is_set()

        await eventually(reconnected, within_s=10, every_s=0.01)
        # Lost, then connected again: both are moments when changes may have gone unheard.
        assert heard.resets == 3
        await bump(conn, "race-c")
    assert await heard.next() == ("race-c", 1)
