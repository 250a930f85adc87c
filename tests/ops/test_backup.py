"""`raceday backup FILE` and `raceday restore FILE` round trip, as an operator runs them (PostgreSQL 18)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from raceday.core.nztime import nz_day
from raceday.db.embedded import EmbeddedPostgres
from tests.api.seeding import seed_all
from tests.conftest import new_database
from tests.ops.conftest import contents


def _raceday(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "warn"}
    return subprocess.run(
        [sys.executable, "-m", "raceday", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _sequences(url: str) -> list[tuple[str, int | None]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT sequencename, last_value FROM pg_sequences ORDER BY 1").fetchall()


def test_a_backup_restores_every_table_partitions_included(
    pg_server: EmbeddedPostgres, database_url: str, tmp_path: Path
) -> None:
    seeded = seed_all(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        # Retention has detached the sample race's partitions: a backup keeps those not yet archived.
        conn.execute("SELECT detach_old_partitions(30)")
    before = contents(database_url)
    day = nz_day(seeded.start)
    assert before[f"money_flow_history_{day:%Y_%m_%d}"][0] == 8 * 60
    assert before["races"][0] > 0
    backup = tmp_path / "raceday.dump"

    written = _raceday(database_url, "backup", str(backup))

    assert written.returncode == 0, written.stderr
    tables = len(before)
    assert f"backup: {tables}/{tables} tables (100%)" in written.stderr
    assert backup.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    assert not list(tmp_path.glob("*.tmp"))
    with new_database(pg_server, template=None) as empty:
        restored = _raceday(empty, "restore", str(backup))

        assert restored.returncode == 0, restored.stderr
        assert f"restore: {tables}/{tables} tables (100%)" in restored.stderr
        assert contents(empty) == before
        assert _sequences(empty) == _sequences(database_url)
        with psycopg.connect(empty) as conn:
            # The partitioned tables came back with their partitions attached as they were.
            attached = conn.execute("SELECT count(*) FROM pg_inherits").fetchone()
        with psycopg.connect(database_url) as conn:
            assert attached == conn.execute("SELECT count(*) FROM pg_inherits").fetchone()

        # A database that holds tables is refused, unless it is to be replaced.
        refused = _raceday(empty, "restore", str(backup))
        assert refused.returncode == 1
        assert "already holds" in refused.stdout + refused.stderr
        replaced = _raceday(empty, "restore", "--replace", str(backup))
        assert replaced.returncode == 0, replaced.stderr
        assert contents(empty) == before


def test_a_running_embedded_database_is_backed_up_through_its_server(
    pg_base_dir: Path, tmp_path: Path
) -> None:
    # Another raceday owns the embedded cluster (here: this process), as `make run` does.
    owner = EmbeddedPostgres(pg_base_dir / "postgres", database="raceday_simulated", fast=True)
    owner.start()
    try:
        with psycopg.connect(owner.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (n int)")
            conn.execute("INSERT INTO kept SELECT generate_series(1, 7)")
        env = {
            key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "NZTAB_API_URL"}
        } | {"RACEDAY_DATA_DIR": str(pg_base_dir), "LOG_LEVEL": "warn"}

        def raceday(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "raceday", *args],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
            )

        backup = tmp_path / "running.dump"
        written = raceday("backup", str(backup))
        assert written.returncode == 0, written.stderr
        assert written.stdout.startswith(f"backup written to {backup}: 1 table, ")
        # Restoring under a running raceday is refused, naming the one that runs.
        refused = raceday("restore", "--replace", str(backup))
        assert refused.returncode == 2
        assert f"pid {os.getpid()}" in refused.stdout + refused.stderr
    finally:
        owner.stop()
