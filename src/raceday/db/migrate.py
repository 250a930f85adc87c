"""Applies the numbered `.sql` files in `migrations/`, each once, in order.

Each file runs in its own transaction and is recorded with its checksum in `schema_migrations`.
A session-level advisory lock serialises processes that start together; an applied file whose
content has since changed is an error, never silently re-run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psycopg

from raceday.core.log import get_logger
from raceday.db.writers import install_poll_function

log = get_logger(__name__)

MIGRATIONS_DIR = Path(str(resources.files("raceday.db") / "migrations"))
_FILE_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
# Arbitrary constant shared by every raceday process: "raceday migrations".
_LOCK_KEY = 0x7261636564617931


class MigrationError(RuntimeError):
    """A migration file is malformed, changed after it was applied, or failed to apply."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNN_description.sql")
        migrations.append(Migration(int(match.group(1)), path.name, path.read_text("utf-8")))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return migrations


_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  checksum TEXT NOT NULL,
  applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


async def apply_migrations(database_url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; returns the names applied now (empty when up to date)."""
    migrations = load_migrations(directory)
    applied_now: list[str] = []
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            await conn.execute(_BOOKKEEPING)
            cursor = await conn.execute("SELECT version, name, checksum FROM schema_migrations")
            done = {version: (name, checksum) for version, name, checksum in await cursor.fetchall()}
            for migration in migrations:
                if migration.version in done:
                    name, checksum = done[migration.version]
                    if checksum != migration.checksum:
                        raise MigrationError(
                            f"{migration.name} was changed after it was applied (as {name}); "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                try:
                    async with conn.transaction():
                        await conn.execute(migration.sql.encode())
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                            (migration.version, migration.name, migration.checksum),
                        )
                except psycopg.Error as error:
                    raise MigrationError(f"{migration.name} failed: {error}") from error
                log.info("migration applied", migration=migration.name)
                applied_now.append(migration.name)
            await _install_job_queue(conn)
            if await install_poll_function(conn):
                log.info("poll function installed")
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    log.info("migrations up to date", applied=len(applied_now), total=len(migrations))
    return applied_now


async def _install_job_queue(conn: psycopg.AsyncConnection[Any]) -> None:
    """procrastinate's tables (the periodic work's queue), once. Its version is pinned to a minor release:
    a new one brings its own migrations, applied with procrastinate's tooling, not these files."""
    cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
    row = await cursor.fetchone()
    if row is not None and row[0]:
        return
    schema = (resources.files("procrastinate.sql") / "schema.sql").read_text("utf-8")
    async with conn.transaction():
        await conn.execute(schema.encode())
    log.info("job queue schema installed", procrastinate=version("procrastinate"))
