"""Partition jobs never block writes: detaching and creating partitions while polls write (PostgreSQL 18).

The retention job here detaches every partition it can (the simulated day lies months before today), over
and over while three races' polls are written; every poll must be stored, none may deadlock or be lost.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import psycopg

from raceday.core.nztime import nz_day
from raceday.db.partitions import PartitionKeeper
from raceday.db.writers import write_snapshot
from raceday.domain.rows import Snapshot
from raceday.simulator.day import generate_day
from tests.snapshots import ANCHOR, bodies, to_snapshot

DAY = generate_day(3, ANCHOR)


def polls(count: int = 3, every_s: int = 45) -> list[list[Snapshot]]:
    races = [race for race in DAY.races if race.abandon_at is None][:count]
    sequences = []
    for race in races:
        times = [race.start - timedelta(minutes=20) + timedelta(seconds=every_s * i) for i in range(24)]
        sequences.append([to_snapshot(body) for body in bodies(DAY, race, times)])
    return sequences


async def test_detaching_and_creating_partitions_while_polls_write(database_url: str) -> None:
    sequences = polls()
    writing = True
    cycles = 0

    async def write(sequence: list[Snapshot]) -> int:
        keeper = PartitionKeeper()
        rows = 0
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            for snapshot in sequence:
                rows += (
                    await write_snapshot(conn, snapshot, snapshot.event_timestamp, keeper)
                ).money_flow_rows
        return rows

    async def maintain() -> None:
        nonlocal cycles
        keeper = PartitionKeeper()
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            while writing:
                await keeper.ensure_ahead(conn, 2)
                await keeper.detach_older_than(conn, 30)
                cycles += 1
                await asyncio.sleep(0.02)

    maintainer = asyncio.create_task(maintain())
    written = await asyncio.gather(*(write(sequence) for sequence in sequences))
    writing = False
    await maintainer
    assert cycles > 5
    expected = sum(len(s.money_flow) for sequence in sequences for s in sequence)
    assert sum(written) == expected
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await PartitionKeeper().ensure(conn, nz_day(sequences[0][0].event_timestamp))
        cursor = await conn.execute("SELECT count(*) FROM money_flow_history")
        assert await cursor.fetchone() == (expected,)
