"""Raw responses are kept whatever becomes of the poll: written, rejected, or rolled back."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import zstandard

from raceday.db.partitions import PartitionKeeper
from raceday.db.recording import RawResponse, read_file, record, recorded_day, write_file
from raceday.db.writers import write_snapshot
from raceday.domain.transform import transform_payload
from raceday.nztab.raw import pack
from tests.samples import sample_path

EVENT = sample_path("race-event-full-response.json").read_bytes()
RECEIVED = datetime(2025, 7, 17, 11, 17, 0, tzinfo=UTC)
GENERATED = datetime(2025, 7, 17, 11, 16, 59, 189042, tzinfo=UTC)  # the sample's header.generated_time
RACE = "0f57e087-00d9-4c61-9549-835abe2ae2ed"


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:
        yield connection


def _raw(packed: bytes, outcome: str = "stored", error: str | None = None) -> RawResponse:
    return RawResponse("events", RACE, RACE, GENERATED, RECEIVED, outcome, error, len(EVENT), packed)  # type: ignore[arg-type]


async def _stored(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
    cursor = await conn.execute(
        "SELECT endpoint, request_key, generated_time, outcome, raw_bytes, body FROM raw_responses"
    )
    return await cursor.fetchall()


async def test_a_written_poll_keeps_its_body_compressed(conn: psycopg.AsyncConnection[Any]) -> None:
    snapshot, packed = transform_payload(EVENT, RACE), pack(EVENT)
    await write_snapshot(conn, snapshot, RECEIVED, PartitionKeeper(), _raw(packed))
    [(endpoint, key, generated, outcome, raw_bytes, body)] = await _stored(conn)
    assert (endpoint, key, generated, outcome, raw_bytes) == ("events", RACE, GENERATED, "stored", len(EVENT))
    assert zstandard.ZstdDecompressor().decompress(body) == EVENT
    assert len(body) < len(EVENT) / 5


async def test_a_new_days_partition_stores_bodies_as_they_are(conn: psycopg.AsyncConnection[Any]) -> None:
    """The body is zstd already: PostgreSQL must not spend each poll's CPU compressing it again."""
    await write_snapshot(conn, transform_payload(EVENT, RACE), RECEIVED, PartitionKeeper(), _raw(pack(EVENT)))
    cursor = await conn.execute(
        "SELECT c.relname, a.attstorage FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " WHERE c.relname LIKE 'raw_responses%' AND a.attname = 'body' ORDER BY c.relname"
    )
    storage = dict(await cursor.fetchall())
    assert storage["raw_responses_2025_07_17"] == "e"
    assert set(storage.values()) == {"e"}
    cursor = await conn.execute("SELECT pg_column_compression(body), octet_length(body) FROM raw_responses")
    [(compression, stored_bytes)] = await cursor.fetchall()
    assert compression is None
    assert stored_bytes == len(pack(EVENT))


async def test_a_poll_whose_write_failed_keeps_its_body(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
    )
    await conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON odds_history EXECUTE FUNCTION refuse()")
    snapshot, packed = transform_payload(EVENT, RACE), pack(EVENT)
    with pytest.raises(psycopg.errors.RaiseException):
        await write_snapshot(conn, snapshot, RECEIVED, PartitionKeeper(), _raw(packed))
    assert len(await _stored(conn)) == 1  # the response, for a rebuild once the database is fixed
    cursor = await conn.execute("SELECT count(*) FROM races")
    assert await cursor.fetchone() == (0,)  # and nothing of the poll


async def test_a_day_goes_to_a_file_and_back(conn: psycopg.AsyncConnection[Any], tmp_path: Path) -> None:
    packed = pack(EVENT)
    await PartitionKeeper().ensure(conn, GENERATED.date())
    assert await record(conn, [_raw(packed), _raw(packed)]) == 1  # the same response is kept once
    day = await recorded_day(conn, datetime(2025, 7, 17).date())
    assert [r.key for r in day] == [f"events {RACE} {GENERATED.isoformat()}"]
    path = tmp_path / "day.jsonl.gz"
    assert write_file(path, datetime(2025, 7, 17).date(), day) == 1
    assert list(read_file(path)) == day
    [back] = read_file(path)
    assert json.loads(zstandard.ZstdDecompressor().decompress(back.body))["data"]["race"]["event_id"] == RACE


def test_the_real_samples_import_as_a_recorded_day_and_rebuild(tmp_path: Path, pg_base_dir: Path) -> None:
    env = {"RACEDAY_DATA_DIR": str(pg_base_dir), "NODE_ENV": "test", "PATH": "/usr/bin:/bin"}
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "nztab"

    def raceday(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "raceday", *args], env=env, cwd=tmp_path, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return "\n".join(line for line in done.stdout.splitlines() if not line.startswith("{"))

    imported = raceday("record", "--in", str(fixtures))
    rebuilt = raceday("replay", "--day", "2025-07-17")
    exported = raceday("record", "--out", str(tmp_path / "day.jsonl.gz"), "--day", "2025-07-17")
    assert imported.splitlines()[0] == f"recorded 2 new of 2 responses from {fixtures}"
    assert "  money_flow_history: 8 added, 0 removed, 0 corrected" in rebuilt
    assert "  odds_history: 32 added, 0 removed, 0 corrected" in rebuilt
    assert exported.startswith(f"wrote 2 responses of 2025-07-17 to {tmp_path / 'day.jsonl.gz'}")
    assert json.loads(subprocess.check_output(["zcat", str(tmp_path / "day.jsonl.gz")]).splitlines()[0]) == {
        "format": "raceday-recording",
        "version": 1,
        "day": "2025-07-17",
    }
