"""Whole-database backup and restore with PostgreSQL 18's pg_dump and pg_restore.

A backup is one custom-format file (compressed; pg_dump writes it in one process, as that format requires);
a restore loads it with parallel jobs. Both report progress table by table. A backup is written under a
temporary name and renamed when complete, so a file with the final name is always a whole backup; a
restore goes into an empty database, or, when asked, one whose schemas it drops first.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import psycopg
from psycopg import sql

from raceday.core.log import get_logger
from raceday.db import pgtools
from raceday.db.archive import RESTORE_PREFIX, SCRATCH_PREFIX, database_name

log = get_logger(__name__)

COMPRESSION = "gzip:6"
_DUMPING = re.compile(r'dumping contents of table "(?P<table>[^"]+)"')
_RESTORING = re.compile(r'processing data for table "(?P<table>[^"]+)"')
USER_TABLES = """
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%%' AND NOT starts_with(n.nspname, %s) AND NOT starts_with(n.nspname, %s)
"""
USER_SCHEMAS = """
SELECT nspname FROM pg_namespace
WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%'
"""


class BackupError(RuntimeError):
    """A backup or restore that cannot go ahead or did not complete; the message says why."""


@dataclass(frozen=True)
class Progress:
    verb: str
    done: int
    total: int
    table: str


@dataclass(frozen=True)
class Result:
    path: Path
    bytes: int
    tables: int
    seconds: float


ProgressCallback = Callable[[Progress], None]


class ProgressLine:
    """Progress on a terminal as one line rewritten in place; elsewhere (logs, CI) a line every few
    seconds and the last one."""

    def __init__(self, stream: TextIO, every_s: float = 5.0) -> None:
        self.stream = stream
        self.every_s = every_s
        self.tty = stream.isatty()
        self._last = 0.0

    def __call__(self, progress: Progress) -> None:
        share = progress.done / progress.total if progress.total else 1.0
        text = f"{progress.verb}: {progress.done}/{progress.total} tables ({share:.0%}) {progress.table}"
        now = time.monotonic()
        if self.tty:
            self.stream.write(f"\r\x1b[K{text}")
            if progress.done >= progress.total:
                self.stream.write("\n")
        elif progress.done >= progress.total or now - self._last >= self.every_s:
            self.stream.write(text + "\n")
            self._last = now
        self.stream.flush()


def _counter(
    verb: str, pattern: re.Pattern[str], total: int, on_progress: ProgressCallback | None
) -> Callable[[str], None]:
    """A tool's stderr reader that turns its per-table lines into progress."""
    done = 0

    def on_line(line: str) -> None:
        nonlocal done
        match = pattern.search(line)
        if match is not None and on_progress is not None:
            done += 1
            on_progress(Progress(verb, min(done, total), total, match["table"]))

    return on_line


async def _scalar(database_url: str, query: str, *params: object) -> int:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cursor = await conn.execute(query, params)
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def backup(database_url: str, out: Path, on_progress: ProgressCallback | None = None) -> Result:
    """The whole database (archive scratch schemas aside) into `out`, custom format, compressed."""
    started = time.perf_counter()
    total = await _scalar(database_url, USER_TABLES, SCRATCH_PREFIX, RESTORE_PREFIX)
    target = pgtools.Target.of(database_url)
    temporary = out.with_name(out.name + ".tmp")
    await asyncio.to_thread(out.parent.mkdir, parents=True, exist_ok=True)
    try:
        await pgtools.run(
            "pg_dump",
            "--format=custom",
            f"--compress={COMPRESSION}",
            "--verbose",
            f"--exclude-schema={SCRATCH_PREFIX}*",
            f"--exclude-schema={RESTORE_PREFIX}*",
            "--file",
            str(temporary),
            "--dbname",
            target.url,
            target=target,
            on_line=_counter("backup", _DUMPING, total, on_progress),
        )
        await asyncio.to_thread(temporary.replace, out)
    finally:
        await asyncio.to_thread(temporary.unlink, missing_ok=True)
    size = (await asyncio.to_thread(out.stat)).st_size
    result = Result(out, size, total, round(time.perf_counter() - started, 2))
    log.info("backup written", file=str(out), bytes=size, tables=total, seconds=result.seconds)
    return result


async def _empty_or_replace(database_url: str, replace: bool) -> None:
    """Refuse a database that holds tables, unless `replace`: then drop its schemas (public recreated)."""
    tables = await _scalar(database_url, USER_TABLES, SCRATCH_PREFIX, RESTORE_PREFIX)
    if tables == 0:
        return
    name = database_name(database_url)
    if not replace:
        raise BackupError(
            f"database {name} already holds {tables} tables: restore into an empty database, "
            "or pass --replace to drop its schemas first (stop raceday before either)"
        )
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cursor = await conn.execute(USER_SCHEMAS)
        schemas = [row[0] for row in await cursor.fetchall()]
        async with conn.transaction():
            for schema in schemas:
                await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            await conn.execute("CREATE SCHEMA public")
    log.warning("database emptied for the restore", database=name, schemas=schemas, tables=tables)


async def restore(
    database_url: str,
    source: Path,
    *,
    jobs: int | None = None,
    replace: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Result:
    """Load a backup into the database (parallel jobs), then ANALYZE it so queries are planned well."""
    started = time.perf_counter()
    if not await asyncio.to_thread(source.is_file):
        raise BackupError(f"no backup at {source}")
    target = pgtools.Target.of(database_url)
    listing = await pgtools.run("pg_restore", "--list", str(source), target=target)
    total = sum(1 for line in listing.splitlines() if " TABLE DATA " in line)
    await _empty_or_replace(database_url, replace)
    workers = jobs or min(4, os.cpu_count() or 1)
    await pgtools.run(
        "pg_restore",
        "--verbose",
        f"--jobs={workers}",
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--dbname",
        target.url,
        str(source),
        target=target,
        on_line=_counter("restore", _RESTORING, total, on_progress),
    )
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("ANALYZE")
    size = (await asyncio.to_thread(source.stat)).st_size
    result = Result(source, size, total, round(time.perf_counter() - started, 2))
    log.info("backup restored", file=str(source), tables=total, jobs=workers, seconds=result.seconds)
    return result
