"""The race cache: filled on first read, never stale after a commit (even one another process made a moment
ago), gzip kept beside the JSON, and emptied when the listener had to reconnect."""

from __future__ import annotations

import asyncio
import gzip
import multiprocessing
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

import psycopg
import pytest

from raceday.db.writers import BUMP_VERSION
from tests.api.seeding import Seeded
from tests.serving import Api, eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

RUNNER = 4
# What a poll's transaction does, reduced to what the test can see: the runner's odds and the win pool
# change, and the race's version is bumped and announced, all in one commit.
WRITE = """
UPDATE entrants SET fixed_win_odds = %(odds)s WHERE race_id = %(race_id)s AND runner_number = %(runner)s;
UPDATE race_pools SET win_pool_total = %(pool)s WHERE race_id = %(race_id)s;
"""


def write(conn: psycopg.Connection[Any], race_id: str, step: int) -> None:
    with conn.transaction():
        conn.execute(BUMP_VERSION, {"race_id": race_id})
        for statement in WRITE.strip().split(";\n"):
            conn.execute(
                statement,
                {"odds": odds_at(step), "pool": pool_at(step), "race_id": race_id, "runner": RUNNER},
            )


def odds_at(step: int) -> float:
    return round(2.0 + step / 100, 2)


def pool_at(step: int) -> int:
    """Dollars; the API answers in cents."""
    return 10_000 + step


def writer_process(url: str, race_id: str, steps: int, pipe: Connection) -> None:
    """Another process: commit step n, tell the test, wait until it has read, and on to the next."""
    with psycopg.connect(url, autocommit=True) as conn:
        for step in range(steps):
            write(conn, race_id, step)
            pipe.send(step)
            pipe.recv()
    pipe.close()


def runner_odds(entrants: list[dict[str, Any]]) -> float:
    return float(next(e["fixed_win_odds"] for e in entrants if e["runner_number"] == RUNNER))


def lookups(api: Api, endpoint: str, outcome: str) -> float:
    value = api.runtime.metrics.registry.get_sample_value(
        "raceday_api_cache_lookups_total", {"endpoint": endpoint, "outcome": outcome}
    )
    return value or 0.0


@pytest.fixture
def sync_conn(seeded_database: tuple[str, Seeded]) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(seeded_database[0], autocommit=True) as conn:
        yield conn


async def test_a_second_read_is_a_hit_and_a_commit_refills_it(
    api: Api, seeded: Seeded, sync_conn: psycopg.Connection[Any]
) -> None:
    params = {"raceId": seeded.race_id}
    first = await api.client.get("/api/entrants", params=params)
    hits = lookups(api, "entrants", "hit")
    second = await api.client.get("/api/entrants", params=params)
    assert second.content == first.content
    assert lookups(api, "entrants", "hit") == hits + 1

    write(sync_conn, seeded.race_id, 1000)
    entrants = (await api.client.get("/api/entrants", params=params)).json()
    pools = (await api.client.get("/api/race-pools", params=params)).json()
    assert runner_odds(entrants) == odds_at(1000)
    assert pools["win_pool_total"] == pool_at(1000) * 100


async def test_gzip_is_the_stored_bytes_of_the_same_json(api: Api, seeded: Seeded) -> None:
    params = {"raceId": seeded.race_id}
    plain = await api.client.get("/api/entrants", params=params, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert "Accept-Encoding" in plain.headers["vary"]
    async with api.client.stream(
        "GET", "/api/entrants", params=params, headers={"Accept-Encoding": "gzip"}
    ) as zipped:
        assert zipped.headers["content-encoding"] == "gzip"
        assert "Accept-Encoding" in zipped.headers["vary"]
        raw = b"".join([chunk async for chunk in zipped.aiter_raw()])
    assert len(raw) < len(plain.content) / 3
    assert gzip.decompress(raw) == plain.content
    # Twice the same bytes: served from the cache, not compressed again.
    async with api.client.stream(
        "GET", "/api/entrants", params=params, headers={"Accept-Encoding": "gzip"}
    ) as again:
        assert b"".join([chunk async for chunk in again.aiter_raw()]) == raw


async def test_timeline_pages_are_cached_per_parameters(
    api: Api, seeded: Seeded, sync_conn: psycopg.Connection[Any]
) -> None:
    entrants = (await api.client.get("/api/entrants", params={"raceId": seeded.race_id})).json()
    ids = ",".join(e["entrant_id"] for e in entrants)
    small = {"raceId": seeded.race_id, "entrants": ids, "limit": "5"}
    large = {"raceId": seeded.race_id, "entrants": ids, "limit": "500"}
    first_small = (await api.client.get("/api/money-flow-timeline", params=small)).json()
    first_large = (await api.client.get("/api/money-flow-timeline", params=large)).json()
    assert (first_small["total"], first_small["has_more"]) == (5, True)
    assert first_large["total"] > 5
    hits = lookups(api, "money-flow-timeline", "hit")
    assert (await api.client.get("/api/money-flow-timeline", params=small)).json() == first_small
    assert lookups(api, "money-flow-timeline", "hit") == hits + 1

    row = first_large["documents"][-1]
    with sync_conn.transaction():
        sync_conn.execute(BUMP_VERSION, {"race_id": seeded.race_id})
        sync_conn.execute(
            "UPDATE money_flow_history SET incremental_win_amount = 424242 WHERE id = %s", (int(row["id"]),)
        )
    after = (await api.client.get("/api/money-flow-timeline", params=large)).json()
    changed = next(d for d in after["documents"] if d["id"] == row["id"])
    assert changed["incremental_win_amount"] == 424242


async def test_a_write_in_another_process_is_never_read_stale(
    api: Api, seeded: Seeded, seeded_database: tuple[str, Seeded]
) -> None:
    """200 times: another process commits, and the test reads at once. The first 100 with the listener
    stopped, so no NOTIFY drops the entry and only the version lookup can refuse it; then 100 racing the
    NOTIFY as in production."""
    steps = 200
    params = {"raceId": seeded.race_id}
    live = api.app.state.live
    await live.listener.stop()
    await api.client.get("/api/entrants", params=params)
    await api.client.get("/api/race-pools", params=params)
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    writer = multiprocessing.get_context("spawn").Process(
        target=writer_process, args=(seeded_database[0], seeded.race_id, steps, theirs), daemon=True
    )
    writer.start()
    loop = asyncio.get_running_loop()
    stale = []
    refused = lookups(api, "entrants", "stale")
    try:
        for _ in range(steps):
            step = await loop.run_in_executor(None, ours.recv)
            if step == steps // 2:
                refused = lookups(api, "entrants", "stale") - refused
                live.listener.start()
                await live.listener.listening.wait()
            entrants, pools = await asyncio.gather(
                api.client.get("/api/entrants", params=params),
                api.client.get("/api/race-pools", params=params),
            )
            if (
                runner_odds(entrants.json()) != odds_at(step)
                or pools.json()["win_pool_total"] != pool_at(step) * 100
            ):
                stale.append(step)
            ours.send(step)
    finally:
        writer.join(30)
        if not live.listener.listening.is_set():
            live.listener.start()
    assert writer.exitcode == 0
    assert stale == []
    # Without the listener every read after a commit found the old entry and refused it.
    assert refused == steps // 2


async def test_a_listener_reconnect_empties_the_cache(
    api: Api, seeded: Seeded, sync_conn: psycopg.Connection[Any]
) -> None:
    live = api.app.state.live
    await api.client.get("/api/entrants", params={"raceId": seeded.race_id})
    assert len(live.cache) > 0
    connects = live.listener.connects
    sync_conn.execute("SELECT pg_terminate_backend(%s)", (live.listener.backend_pid,))

    async def reconnected() -> bool:
        return live.listener.connects > connects and live.listener.listening.is_set()

    await eventually(reconnected, within_s=10)
    assert len(live.cache) == 0
    # And the new connection hears the next commit.
    entrants = (await api.client.get("/api/entrants", params={"raceId": seeded.race_id})).json()
    assert len(live.cache) == 1
    write(sync_conn, seeded.race_id, 2000)

    async def dropped() -> bool:
        return len(live.cache) == 0

    await eventually(dropped, within_s=5, every_s=0.005)
    assert runner_odds(entrants) != odds_at(2000)
