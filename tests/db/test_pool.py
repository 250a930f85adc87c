"""The pool keeps 2 warm connections, never exceeds its max, and gives up acquiring after 2 s."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from raceday.db.pool import PoolConfig, open_pool


async def _raceday_connections(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = 'raceday' AND datname = current_database()"
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def _wait_for_connections(url: str, expected: int, within_s: float) -> int:
    deadline = time.monotonic() + within_s
    count = await _raceday_connections(url)
    while count != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        count = await _raceday_connections(url)
    return count


def test_defaults_are_the_specs() -> None:
    assert PoolConfig() == PoolConfig(max=10, min=2, idle_timeout_s=30.0, connection_timeout_s=2.0)


async def test_opens_with_two_warm_connections(database_url: str) -> None:
    pool = await open_pool(database_url, PoolConfig())
    try:
        assert await _wait_for_connections(database_url, 2, within_s=5) == 2
    finally:
        await pool.close()


async def test_acquiring_past_the_max_fails_after_the_timeout(database_url: str) -> None:
    pool = await open_pool(database_url, PoolConfig(max=3))
    try:
        async with contextlib.AsyncExitStack() as held:
            for _ in range(3):
                await held.enter_async_context(pool.connection())
            assert await _raceday_connections(database_url) == 3
            started = time.monotonic()
            with pytest.raises(PoolTimeout):
                async with pool.connection():
                    pass
            waited = time.monotonic() - started
        assert 1.9 <= waited < 3.0
        async with pool.connection() as conn:
            cursor = await conn.execute("SELECT 1")
            assert await cursor.fetchone() == (1,)
    finally:
        await pool.close()


async def test_idle_connections_above_the_minimum_are_closed(database_url: str) -> None:
    pool = await open_pool(database_url, PoolConfig(max=5, idle_timeout_s=1.0))
    try:
        async with contextlib.AsyncExitStack() as held:
            for _ in range(5):
                await held.enter_async_context(pool.connection())
        assert await _raceday_connections(database_url) == 5
        assert await _wait_for_connections(database_url, 2, within_s=10) == 2
    finally:
        await pool.close()


@pytest.fixture
async def one_connection(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    """A pool of exactly one connection: whatever a test does to it, the next checkout gets that one."""
    pool = await open_pool(database_url, PoolConfig(max=1, min=1))
    try:
        yield pool
    finally:
        await pool.close()


async def test_a_connection_whose_backend_was_terminated_is_never_handed_out(
    database_url: str, one_connection: AsyncConnectionPool
) -> None:
    pool = one_connection
    async with pool.connection() as conn:
        pid = conn.info.backend_pid
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT 1")
        assert await cursor.fetchone() == (1,)
        assert conn.info.backend_pid != pid


async def test_a_healthy_idle_connection_is_handed_out_without_a_round_trip(
    database_url: str, one_connection: AsyncConnectionPool
) -> None:
    pool = one_connection
    async with pool.connection() as conn:
        await conn.execute("SELECT 'last thing this backend ran'")
    async with (
        pool.connection() as conn,
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as observer,
    ):
        cursor = await observer.execute(
            "SELECT query FROM pg_stat_activity WHERE pid = %s", (conn.info.backend_pid,)
        )
        assert await cursor.fetchone() == ("SELECT 'last thing this backend ran'",)


async def test_a_connection_past_descriptor_1023_is_checked_too(database_url: str) -> None:
    """A busy process (the API's clients, a worker's pools) holds descriptors past select()'s limit."""
    fillers = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        pool = await open_pool(database_url, PoolConfig(max=1, min=1))
        try:
            async with pool.connection() as conn:
                assert conn.fileno() > 1023
            async with pool.connection() as conn:
                cursor = await conn.execute("SELECT 1")
                assert await cursor.fetchone() == (1,)
        finally:
            await pool.close()
    finally:
        for descriptor in fillers:
            os.close(descriptor)
