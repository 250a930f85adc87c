"""Migrations: ordered, recorded, applied once, safe to start twice at once, and runnable by psql."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from raceday.db.migrate import MIGRATIONS_DIR, MigrationError, apply_migrations, load_migrations
from raceday.db.writers import POLL_FUNCTION_CHECKSUM


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE '%\\_20%'"
        ).fetchall()
    return {row[0] for row in rows}


def _files() -> list[str]:
    """The migration files by name: NNN_ prefixes, so name order is version order."""
    return sorted(path.name for path in MIGRATIONS_DIR.glob("*.sql"))


def _recorded(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return [
            (version, name)
            for version, name in conn.execute(
                "SELECT version, name FROM schema_migrations ORDER BY version"
            ).fetchall()
        ]


def test_files_are_numbered_and_ordered() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert [m.name for m in migrations] == _files()
    assert [m.version for m in migrations] == [int(name.split("_", 1)[0]) for name in _files()]
    assert [m.name for m in migrations][:5] == [
        "001_initial_schema.sql",
        "002_partitioned_tables.sql",
        "003_indexes.sql",
        "004_triggers.sql",
        "005_functions.sql",
    ]


async def test_applies_all_then_rerun_is_a_no_op(empty_database_url: str) -> None:
    applied = await apply_migrations(empty_database_url)
    assert applied == _files()
    assert {
        "meetings",
        "races",
        "entrants",
        "race_pools",
        "money_flow_history",
        "odds_history",
    } <= (_tables(empty_database_url))
    recorded = _recorded(empty_database_url)
    assert recorded == [(int(name.split("_", 1)[0]), name) for name in _files()]
    assert await apply_migrations(empty_database_url) == []
    assert _recorded(empty_database_url) == recorded


async def test_a_stale_poll_function_is_replaced_at_the_next_start(empty_database_url: str) -> None:
    """The poll function is generated from this code's statements: a database holding another version's
    gets this one when migrations run, and keeps it while the code is the same."""
    await apply_migrations(empty_database_url)
    checksum = "SELECT obj_description('raceday_write_poll(jsonb)'::regprocedure, 'pg_proc')"
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        assert conn.execute(checksum).fetchone() == (POLL_FUNCTION_CHECKSUM,)
        conn.execute("DROP FUNCTION raceday_write_poll(jsonb)")
        conn.execute("CREATE FUNCTION raceday_write_poll(args jsonb, OUT out_inserted_status text)"
                     " LANGUAGE sql AS 'SELECT NULL::text'")  # fmt: skip
        conn.execute("COMMENT ON FUNCTION raceday_write_poll(jsonb) IS 'an older version'")
    await apply_migrations(empty_database_url)
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute(checksum).fetchone() == (POLL_FUNCTION_CHECKSUM,)
        [(body,)] = conn.execute("SELECT prosrc FROM pg_proc WHERE proname = 'raceday_write_poll'").fetchall()
    assert "INSERT INTO money_flow_history" in body


async def test_concurrent_starts_apply_each_migration_once(empty_database_url: str) -> None:
    results = await asyncio.gather(*(apply_migrations(empty_database_url) for _ in range(4)))
    applied = sorted(name for result in results for name in result)
    assert applied == _files()
    assert len(_recorded(empty_database_url)) == len(_files())


def test_two_processes_migrating_at_once_both_succeed(empty_database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": empty_database_url, "LOG_LEVEL": "error"}
    command = [sys.executable, "-m", "raceday", "migrate"]
    processes = [subprocess.Popen(command, env=env) for _ in range(2)]
    assert [p.wait(timeout=60) for p in processes] == [0, 0]
    assert len(_recorded(empty_database_url)) == len(_files())


async def test_a_changed_applied_file_is_an_error(empty_database_url: str, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    await apply_migrations(empty_database_url, copy)
    edited = copy / "003_indexes.sql"
    edited.write_text(edited.read_text() + "\n-- an afterthought\n")
    with pytest.raises(MigrationError, match=r"003_indexes\.sql was changed after it was applied"):
        await apply_migrations(empty_database_url, copy)


async def test_a_failing_migration_leaves_nothing_behind(empty_database_url: str, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    (copy / "900_broken.sql").write_text("CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;\n")
    with pytest.raises(MigrationError, match=r"900_broken\.sql failed"):
        await apply_migrations(empty_database_url, copy)
    assert "half_done" not in _tables(empty_database_url)
    assert 900 not in {version for version, _ in _recorded(empty_database_url)}


def test_badly_named_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "add_things.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNN_description\.sql"):
        load_migrations(tmp_path)


def test_files_run_by_hand_with_psql_in_order(empty_database_url: str, pg_bin: Path) -> None:
    for migration in load_migrations():
        result = subprocess.run(
            [str(pg_bin / "psql"), empty_database_url, "-v", "ON_ERROR_STOP=1", "-q", "-f",
             str(MIGRATIONS_DIR / migration.name)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    assert {
        "meetings",
        "races",
        "entrants",
        "race_pools",
        "money_flow_history",
        "odds_history",
    } <= (_tables(empty_database_url))


async def test_a_database_that_polled_through_procrastinate_keeps_its_races_followed(
    empty_database_url: str, tmp_path: Path
) -> None:
    """Before 017 each race's next poll was a procrastinate job: its newest waiting or running job becomes
    the race's row in `race_polls`, and the jobs go (no worker runs that task any more)."""
    before = tmp_path / "migrations"
    before.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if path.name < "017":
            shutil.copy(path, before / path.name)
    await apply_migrations(empty_database_url, before)
    jobs = """
    INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args, scheduled_at, status)
    VALUES ('default', 'poll_race', 'race-a', NULL,
            '{"race_id": "race-a", "start": "2026-03-14T02:00:00+00:00"}', '2026-03-14 01:00:00+00', 'doing'),
           ('default', 'poll_race', 'race-a', 'race-a',
            '{"race_id": "race-a", "start": "2026-03-14T02:05:00+00:00"}', '2026-03-14 01:01:00+00', 'todo'),
           ('default', 'poll_race', 'race-b', 'race-b',
            '{"race_id": "race-b", "start": "2026-03-14T03:00:00+00:00"}', '2026-03-14 01:02:00+00', 'todo'),
           ('default', 'periodic_work', 'discover', 'discover@1',
            '{"job": "discover", "slot": "1"}', NULL, 'todo')
    """
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute(jobs)
    await apply_migrations(empty_database_url)
    with psycopg.connect(empty_database_url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        polls = conn.execute(
            "SELECT race_id, start_time::text, due_at::text, worker_id FROM race_polls ORDER BY race_id"
        ).fetchall()
        left = conn.execute("SELECT task_name FROM procrastinate_jobs").fetchall()
    assert polls == [
        ("race-a", "2026-03-14 02:05:00+00", "2026-03-14 01:01:00+00", None),
        ("race-b", "2026-03-14 03:00:00+00", "2026-03-14 01:02:00+00", None),
    ]
    assert left == [("periodic_work",)]
