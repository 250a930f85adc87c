"""One real PostgreSQL 18 per test session; each test that needs it gets a fresh migrated database."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from raceday.db.embedded import EmbeddedPostgres
from raceday.db.migrate import apply_migrations

TEMPLATE = "raceday_template"
_names = itertools.count(1)


def reachable_temp_dir() -> Path:
    """A temp dir under /tmp: as root, pytest's own (mode 700) is out of the server user's reach."""
    path = Path(tempfile.mkdtemp(prefix="raceday-test-"))
    path.chmod(0o755)
    return path


@pytest.fixture
def pg_base_dir() -> Iterator[Path]:
    path = reachable_temp_dir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    base = reachable_temp_dir()
    server = EmbeddedPostgres(base, database=TEMPLATE, fast=True)
    server.start()
    asyncio.run(apply_migrations(server.url))
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def new_database(pg_server: EmbeddedPostgres, template: str | None = TEMPLATE) -> Iterator[str]:
    """A database of its own, cloned from the migrated template (or empty), dropped afterwards."""
    name = f"test_{next(_names)}"
    clone = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(pg_server.admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{clone}')
    try:
        yield pg_server.url_for(name)
    finally:
        with psycopg.connect(pg_server.admin_url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(pg_server: EmbeddedPostgres) -> Iterator[str]:
    """A new migrated database: tests never see each other's rows."""
    with new_database(pg_server) as url:
        yield url


@pytest.fixture
def empty_database_url(pg_server: EmbeddedPostgres) -> Iterator[str]:
    """A new database with no schema at all, for migration tests."""
    with new_database(pg_server, template=None) as url:
        yield url


@pytest.fixture
def pg_bin(pg_server: EmbeddedPostgres) -> Path:
    return pg_server.bin_dir
