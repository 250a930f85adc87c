"""The ingestion invariant: what raceday stores for a race is a function of the set of snapshots it received.

A simulated race's snapshots (partial feeds and a post-final anomaly included) are sub-sampled, shuffled and
duplicated by Hypothesis, written through the real writer into PostgreSQL 18, and every derived table is
compared byte for byte with the same snapshots written once each, in NZ TAB's time order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raceday.db.embedded import EmbeddedPostgres
from raceday.db.partitions import PartitionKeeper
from raceday.db.writers import write_snapshot
from raceday.domain.rows import Snapshot
from tests.conftest import new_database
from tests.snapshots import dump, mixed_sequence, wipe

SEQUENCE = mixed_sequence()


@dataclass
class Writer:
    """A database the test writes snapshots into, through the pipeline's own async writer."""

    url: str
    loop: asyncio.AbstractEventLoop
    conn: Any
    sync: psycopg.Connection[Any]

    def write(self, snapshots: list[Snapshot]) -> dict[str, list[str]]:
        wipe(self.sync)
        keeper = PartitionKeeper()

        async def run() -> None:
            for snapshot in snapshots:
                await write_snapshot(
                    self.conn, snapshot, snapshot.event_timestamp + timedelta(seconds=1), keeper
                )

        self.loop.run_until_complete(run())
        return dump(self.sync)


@pytest.fixture(scope="module")
def writers(pg_server: EmbeddedPostgres) -> Iterator[tuple[Writer, Writer]]:
    loop = asyncio.new_event_loop()
    with new_database(pg_server) as first_url, new_database(pg_server) as second_url:
        made = []
        for url in (first_url, second_url):
            conn = loop.run_until_complete(psycopg.AsyncConnection.connect(url, autocommit=True))
            made.append(Writer(url, loop, conn, psycopg.connect(url, autocommit=True)))
        try:
            yield made[0], made[1]
        finally:
            for writer in made:
                loop.run_until_complete(writer.conn.close())
                writer.sync.close()
            loop.close()


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Snapshot], list[Snapshot]]:
    """(the set in time order, the same set as delivered: shuffled, some twice)."""
    chosen = draw(st.lists(st.sampled_from(range(len(SEQUENCE))), min_size=1, unique=True))
    in_order = [SEQUENCE[i] for i in sorted(chosen, key=lambda i: SEQUENCE[i].event_timestamp)]
    again = draw(st.lists(st.sampled_from(chosen), max_size=6))
    delivered = draw(st.permutations([SEQUENCE[i] for i in [*chosen, *again]]))
    return in_order, list(delivered)


def test_the_sequence_exercises_every_rule() -> None:
    """The property is only as strong as its data: partial feeds, late money, a terminal race, an anomaly."""
    assert len(SEQUENCE) > 50
    assert any(not s.has_money for s in SEQUENCE)
    assert any(s.pools is None for s in SEQUENCE)
    assert any(s.race.status is None for s in SEQUENCE)
    assert any(s.race.status == "final" for s in SEQUENCE)
    assert any(any(e.is_scratched for e in s.entrants) for s in SEQUENCE)
    final = min(s.event_timestamp for s in SEQUENCE if s.race.status == "final")
    assert any(s.race.status == "open" and s.event_timestamp > final for s in SEQUENCE)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(delivery=deliveries())
def test_stored_state_is_a_function_of_the_set_of_snapshots(
    writers: tuple[Writer, Writer], delivery: tuple[list[Snapshot], list[Snapshot]]
) -> None:
    in_order, delivered = delivery
    expected, actual = writers[0].write(in_order), writers[1].write(delivered)
    for table in expected:
        assert actual[table] == expected[table], table
