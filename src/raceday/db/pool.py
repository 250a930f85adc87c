"""The connection pool, sized and timed as the Epic 1 spec's pg Pool."""

from __future__ import annotations

import select
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.pq import ConnStatus
from psycopg_pool import AsyncConnectionPool

from raceday.core.log import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class PoolConfig:
    max: int = 10
    min: int = 2
    idle_timeout_s: float = 30.0
    connection_timeout_s: float = 2.0
    reconnect_timeout_s: float = 2.0
    """psycopg_pool backs off 1, 2, 4 … s between attempts to replace lost connections, so after a long
    outage it can wait a minute before trying again. Giving those attempts up after 2 s hands recovery to
    the next request instead, which connects at once: writes resume as soon as PostgreSQL is back."""


async def check_connection(conn: AsyncConnection[Any]) -> None:
    """A pooled connection is idle, so its socket has nothing to read unless the server spoke: it
    terminated the backend (a restart, an admin) or sent a notification. Only then is it checked with a
    round trip, which on every checkout cost a poll worker about 1 ms of CPU a poll (three per poll)."""
    socket = select.poll()  # not select.select: it refuses descriptors past 1023
    socket.register(conn.pgconn.socket, select.POLLIN)
    if socket.poll(0) or conn.pgconn.status != ConnStatus.OK:
        await AsyncConnectionPool.check_connection(conn)


async def open_pool(database_url: str, config: PoolConfig) -> AsyncConnectionPool:
    """Open the pool and wait for its warm connections; logs the configuration once."""
    pool = AsyncConnectionPool(
        database_url,
        min_size=config.min,
        max_size=config.max,
        max_idle=config.idle_timeout_s,
        timeout=config.connection_timeout_s,
        reconnect_timeout=config.reconnect_timeout_s,
        kwargs={"autocommit": True, "application_name": "raceday"},
        check=check_connection,
        open=False,
        name="raceday",
    )
    try:
        await pool.open(wait=True, timeout=max(config.connection_timeout_s, 10.0))
    except BaseException:
        await pool.close()
        raise
    log.info(
        "Database connection pool configured",
        max=config.max,
        min=config.min,
        idleTimeout=int(config.idle_timeout_s * 1000),
        connectionTimeout=int(config.connection_timeout_s * 1000),
    )
    return pool
