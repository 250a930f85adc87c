"""Retention with verified archives: history partitions past RETENTION_DAYS leave the database only as a
file that was proven to restore.

Once a day (and safe when two processes try at once: a PostgreSQL advisory lock, the loser skips), every
detached history table of a day older than the retention is dumped with PostgreSQL 18's pg_dump into one
compressed custom-format file per NZ day, `ARCHIVE_DIR/<database>/history-YYYY-MM-DD.dump`, next to a JSON
manifest. The file is then restored into a scratch schema (`archive_verify_YYYY_MM_DD`) and each table's row
count and checksum (md5 over the md5 of every row, in sorted order) compared with the detached table. Only
then, under the day's partition lock and after checking once more that nothing changed, is the detached
table dropped. A failed verification keeps the table and logs an error: nothing unverified is dropped.

Tables come from `HISTORY_TABLES`, whatever it holds. A day written again after it was archived (a late
snapshot re-creates its partition) is archived as a further part, `history-YYYY-MM-DD.2.dump`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

from raceday.core.log import get_logger
from raceday.core.timing import elapsed_ms
from raceday.db import pgtools
from raceday.db.partitions import HISTORY_TABLES

log = get_logger(__name__)

LOCK = "SELECT pg_try_advisory_lock(hashtextextended('raceday archive', 0))"
UNLOCK = "SELECT pg_advisory_unlock(hashtextextended('raceday archive', 0))"
SCRATCH_PREFIX = "archive_verify_"
RESTORE_PREFIX = "archive_restore_"
COMPRESSION = "gzip:6"
# Dropping a table that references entrants takes an ACCESS EXCLUSIVE lock on entrants: wait briefly, so
# API reads never queue long behind it, and try again a few times before leaving it to the next run.
DROP_LOCK_TIMEOUT = "3s"
DROP_ATTEMPTS = 3
# md5 of every row, sorted, then md5 of them all: independent of the physical order a restore produces.
CHECKSUM = (
    "SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), '')) "
    "FROM (SELECT md5(t::text) AS h FROM {} AS t) AS rows"
)
# Row text depends on these session settings: fixed, so a checksum is comparable across sessions and servers.
TEXT_SETTINGS = (
    "SET LOCAL TimeZone = 'UTC'",
    "SET LOCAL DateStyle = 'ISO, YMD'",
    "SET LOCAL IntervalStyle = 'postgres'",
    "SET LOCAL bytea_output = 'hex'",
    "SET LOCAL extra_float_digits = 1",
)
EXPIRED = r"""
SELECT c.relname
FROM pg_class c
WHERE c.relnamespace = current_schema()::regnamespace
  AND c.relkind = 'r'
  AND NOT c.relispartition
  AND c.relname ~ '_\d{4}_\d{2}_\d{2}$'
  AND left(c.relname, -11) = ANY(%s)
  AND to_date(right(c.relname, 10), 'YYYY_MM_DD')
      < (now() AT TIME ZONE 'Pacific/Auckland')::date - %s
ORDER BY c.relname
"""
_TOC_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE (?!DATA |ATTACH )(\S+) (\S+) ")
# Left out of a scratch restore: foreign keys would tie the copy to live rows, and indexes only cost time
# (the rows are what is compared; index definitions are re-created from the live tables on restore).
_SKIPPED = re.compile(r"^\d+; \d+ \d+ (FK CONSTRAINT|INDEX|CONSTRAINT) ")
_NAME = re.compile(r"^(?P<parent>.+)_(?P<day>\d{4}_\d{2}_\d{2})$")
_FILE = re.compile(r"^history-(?P<day>\d{4}-\d{2}-\d{2})(?:\.(?P<part>\d+))?\.dump$")


class ArchiveError(RuntimeError):
    """An archive could not be written, verified or restored; the message says which and why."""


@dataclass(frozen=True)
class TableSum:
    rows: int
    md5: str


@dataclass
class Manifest:
    """What an archive holds, written beside it once it was verified."""

    day: str
    part: int
    file: str
    bytes: int
    sha256: str
    database: str
    created_at: str
    verified_at: str
    verify_ms: float
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    """table name -> {"parent", "rows", "md5"}"""

    @property
    def rows(self) -> int:
        return sum(int(table["rows"]) for table in self.tables.values())

    def sums(self) -> dict[str, TableSum]:
        return {name: TableSum(int(t["rows"]), str(t["md5"])) for name, t in self.tables.items()}

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    def write(self, path: Path) -> None:
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        _fsync(temporary)
        temporary.replace(path)


@dataclass
class ArchiveRun:
    """One daily run: the days archived (and dropped), and those kept because something failed."""

    archived: list[Manifest] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: bool = False
    """Another process held the archive lock: it does the work."""


def database_name(database_url: str) -> str:
    path = unquote(urlsplit(database_url).path).strip("/")
    return path or "postgres"


def archive_root(archive_dir: Path, database_url: str) -> Path:
    """Each database's archives in a folder of its own (the embedded cluster's simulated data apart)."""
    return archive_dir / database_name(database_url)


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _intact(path: Path, manifest: Manifest) -> bool:
    """Whether an archive file is there and is the one its manifest describes."""
    return path.exists() and _sha256(path) == manifest.sha256


def _commit(temporary: Path, path: Path) -> tuple[int, str]:
    """Put a verified file in place (synced first); returns its size and sha256."""
    _fsync(temporary)
    temporary.replace(path)
    return path.stat().st_size, _sha256(path)


def _copy_intact(root: Path, manifests: Sequence[Manifest], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for manifest in manifests:
        if not _intact(root / manifest.file, manifest):
            raise ArchiveError(f"{manifest.file} does not match its manifest: it was changed or damaged")
        written.append(Path(shutil.copyfile(root / manifest.file, out_dir / manifest.file)))
    return written


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def day_of(table: str) -> date:
    match = _NAME.match(table)
    if match is None:
        raise ValueError(f"not a daily partition: {table}")
    return datetime.strptime(match["day"], "%Y_%m_%d").date()


def parent_of(table: str) -> str:
    match = _NAME.match(table)
    if match is None:
        raise ValueError(f"not a daily partition: {table}")
    return match["parent"]


def parts(root: Path, day: date | None = None) -> list[Manifest]:
    """The verified archives under `root` (those with a manifest), by day and part."""
    found: list[Manifest] = []
    if not root.is_dir():
        return found
    for path in root.glob("history-*.json"):
        manifest = Manifest.read(path)
        if day is None or manifest.day == day.isoformat():
            found.append(manifest)
    return sorted(found, key=lambda manifest: (manifest.day, manifest.part))


def list_archives(archive_dir: Path) -> list[Manifest]:
    """Every verified archive in ARCHIVE_DIR, all databases."""
    if not archive_dir.is_dir():
        return []
    return [m for root in sorted(archive_dir.iterdir()) if root.is_dir() for m in parts(root)]


async def table_sum(conn: AsyncConnection[Any], schema: str, table: str) -> TableSum:
    """Row count and checksum, the same in any session (rows are rendered with fixed output settings)."""
    query = sql.SQL(CHECKSUM).format(sql.Identifier(schema, table))
    async with conn.transaction():
        for setting in TEXT_SETTINGS:
            await conn.execute(setting)
        cursor = await conn.execute(query)
        row = await cursor.fetchone()
    assert row is not None
    return TableSum(int(row[0]), str(row[1]))


async def _current_schema(conn: AsyncConnection[Any]) -> str:
    cursor = await conn.execute("SELECT current_schema()")
    row = await cursor.fetchone()
    assert row is not None
    return str(row[0])


async def expired_tables(conn: AsyncConnection[Any], retention_days: int) -> dict[date, list[str]]:
    """Detached history tables of days older than the retention, grouped by day."""
    cursor = await conn.execute(EXPIRED, (list(HISTORY_TABLES), retention_days))
    by_day: dict[date, list[str]] = {}
    for (name,) in await cursor.fetchall():
        by_day.setdefault(day_of(name), []).append(name)
    return by_day


# --- restoring an archive into a schema of its own ----------------------------------------------------


def _toc_tables(listing: str) -> list[tuple[str, str]]:
    """(schema, table) of every table an archive's table of contents lists."""
    return [(m[1], m[2]) for line in listing.splitlines() if (m := _TOC_TABLE.match(line))]


def _retarget(
    schema: str, tables: Sequence[str], into: str
) -> Callable[[AsyncIterator[bytes]], AsyncIterator[bytes]]:
    """Rewrites `schema.table` to `into.table` in the SQL pg_restore writes, leaving COPY data alone."""
    names = "|".join(re.escape(table) for table in tables)
    pattern = re.compile(rf"(?<![\w.\"]){re.escape(schema)}\.({names})\b".encode())
    replacement = into.encode() + rb".\1"

    async def rewrite(lines: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        in_copy = False
        async for line in lines:
            if in_copy:
                in_copy = line not in (b"\\.\n", b"\\.\r\n")
                yield line
                continue
            line = pattern.sub(replacement, line)
            in_copy = line.startswith(b"COPY ")
            yield line

    return rewrite


async def restore_into_schema(target: pgtools.Target, archive: Path, schema: str) -> list[str]:
    """Restore an archive's tables and rows (not their indexes and constraints) into `schema`, which must
    exist. Returns the tables restored."""
    listing = await pgtools.run("pg_restore", "--list", str(archive), target=target)
    tables = _toc_tables(listing)
    if not tables:
        raise ArchiveError(f"{archive.name} holds no table")
    if any(" TABLE ATTACH " in line for line in listing.splitlines()):
        raise ArchiveError(f"{archive.name} attaches partitions: not an archive of detached tables")
    schemas = {table_schema for table_schema, _ in tables}
    if len(schemas) != 1:
        raise ArchiveError(f"{archive.name} holds tables of several schemas: {sorted(schemas)}")
    kept = "\n".join(line for line in listing.splitlines() if not _SKIPPED.search(line))
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as handle:
        handle.write(kept + "\n")
    try:
        names = [table for _, table in tables]
        restore = ("pg_restore", "--no-owner", "--no-privileges", "--use-list", handle.name)
        psql = ("psql", "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1", "--single-transaction")
        await pgtools.pipe(
            (*restore, "--file", "-", str(archive)),
            (*psql, "--dbname", target.url, "--file", "-"),
            target=target,
            rewrite=_retarget(schemas.pop(), names, schema),
        )
    finally:
        os.unlink(handle.name)
    return names


@contextlib.asynccontextmanager
async def scratch_schema(conn: AsyncConnection[Any], name: str) -> AsyncIterator[str]:
    """A schema that exists for the block only (one left by a crashed run is replaced)."""
    drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
    await conn.execute(drop)
    await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        await conn.execute(drop)


async def verify(
    conn: AsyncConnection[Any],
    target: pgtools.Target,
    archive: Path,
    day: date,
    expected: dict[str, TableSum],
) -> dict[str, TableSum]:
    """Restore `archive` into a scratch schema and compare every table with `expected`; raises
    ArchiveError naming the first difference. Returns what the restored tables hold."""
    async with scratch_schema(conn, f"{SCRATCH_PREFIX}{day:%Y_%m_%d}") as schema:
        restored = await restore_into_schema(target, archive, schema)
        if sorted(restored) != sorted(expected):
            raise ArchiveError(f"{archive.name} holds {sorted(restored)}, expected {sorted(expected)}")
        found = {table: await table_sum(conn, schema, table) for table in restored}
    for table, want in expected.items():
        if found[table] != want:
            raise ArchiveError(
                f"{table}: the archive restores {found[table].rows} rows (md5 {found[table].md5}), "
                f"the database holds {want.rows} (md5 {want.md5})"
            )
    return found


# --- the daily run ---------------------------------------------------------------------------------


def _part_path(root: Path, day: date, part: int) -> Path:
    suffix = "" if part == 1 else f".{part}"
    return root / f"history-{day.isoformat()}{suffix}.dump"


async def _dump(target: pgtools.Target, schema: str, tables: Sequence[str], out: Path) -> None:
    selection = [arg for table in tables for arg in ("--table", f"{schema}.{table}")]
    await pgtools.run(
        "pg_dump",
        "--format=custom",
        f"--compress={COMPRESSION}",
        "--lock-wait-timeout=30s",
        *selection,
        "--file",
        str(out),
        "--dbname",
        target.url,
        target=target,
    )


async def _drop_if_unchanged(conn: AsyncConnection[Any], schema: str, table: str, want: TableSum) -> bool:
    """Drop a verified table, holding its partition lock (so no write attaches it meanwhile) and
    checking once more that it is still detached and holds what the archive holds."""
    qualified = sql.Identifier(schema, table)
    for attempt in range(1, DROP_ATTEMPTS + 1):
        try:
            async with conn.transaction():
                timeout = sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(DROP_LOCK_TIMEOUT))
                await conn.execute(timeout)
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (table,))
                cursor = await conn.execute(
                    "SELECT relispartition FROM pg_class WHERE oid = to_regclass(%s)", (f"{schema}.{table}",)
                )
                row = await cursor.fetchone()
                if row is None:
                    return False
                if row[0]:
                    log.warning("archived table attached again by a write; kept", table=table)
                    return False
                now = await table_sum(conn, schema, table)
                if now != want:
                    log.warning(
                        "archived table changed since; kept", table=table, rows=now.rows, archived=want.rows
                    )
                    return False
                await conn.execute(sql.SQL("DROP TABLE {}").format(qualified))
                return True
        except psycopg.errors.LockNotAvailable:
            log.warning("archived table busy; trying again", table=table, attempt=attempt)
    return False


async def archive_day(
    conn: AsyncConnection[Any], target: pgtools.Target, root: Path, day: date, tables: Sequence[str]
) -> Manifest:
    """Archive, verify and drop one day's detached tables (raises ArchiveError, keeping them, if any step
    fails). An existing part holding exactly these rows is verified again and reused, not duplicated."""
    schema = await _current_schema(conn)
    expected = {table: await table_sum(conn, schema, table) for table in tables}
    earlier = await asyncio.to_thread(parts, root, day)
    existing = [m for m in earlier if m.sums() == expected]
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    if existing:
        manifest = existing[-1]
        path = root / manifest.file
        if not await asyncio.to_thread(_intact, path, manifest):
            raise ArchiveError(f"{manifest.file} is missing or does not match its manifest")
        started = time.perf_counter()
        await verify(conn, target, path, day, expected)
        manifest.verified_at, manifest.verify_ms = _now(), elapsed_ms(started)
    else:
        part = max((m.part for m in earlier), default=0) + 1
        path = _part_path(root, day, part)
        temporary = path.with_suffix(".dump.tmp")
        try:
            await _dump(target, schema, tables, temporary)
            started = time.perf_counter()
            await verify(conn, target, temporary, day, expected)
            verify_ms = elapsed_ms(started)
            size, sha256 = await asyncio.to_thread(_commit, temporary, path)
        finally:
            await asyncio.to_thread(temporary.unlink, missing_ok=True)
        manifest = Manifest(
            day=day.isoformat(),
            part=part,
            file=path.name,
            bytes=size,
            sha256=sha256,
            database=database_name(target.url),
            created_at=_now(),
            verified_at=_now(),
            verify_ms=verify_ms,
            tables={
                name: {"parent": parent_of(name), "rows": sums.rows, "md5": sums.md5}
                for name, sums in expected.items()
            },
        )
    await asyncio.to_thread(manifest.write, path.with_suffix(".json"))
    for table, want in expected.items():
        if not await _drop_if_unchanged(conn, schema, table, want):
            log.warning("archived table not dropped; the next run tries again", table=table, day=str(day))
    return manifest


async def _drop_leftover_schemas(conn: AsyncConnection[Any]) -> None:
    cursor = await conn.execute(
        "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s) OR starts_with(nspname, %s)",
        (SCRATCH_PREFIX, RESTORE_PREFIX),
    )
    for (name,) in await cursor.fetchall():
        await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@contextlib.asynccontextmanager
async def archive_lock(conn: AsyncConnection[Any]) -> AsyncIterator[bool]:
    """The archive lock for the block, if no other process holds it (yields whether it was taken)."""
    cursor = await conn.execute(LOCK)
    row = await cursor.fetchone()
    taken = bool(row and row[0])
    try:
        yield taken
    finally:
        if taken:
            await conn.execute(UNLOCK)


async def archive_expired(pool: AsyncConnectionPool, archive_dir: Path, retention_days: int) -> ArchiveRun:
    """The daily job: every expired detached table archived, verified and dropped, day by day."""
    run = ArchiveRun()
    if not isinstance(pool.conninfo, str):
        raise ArchiveError("the pool was not opened with a connection string")
    target = pgtools.Target.of(pool.conninfo)
    root = archive_root(archive_dir, pool.conninfo)
    async with pool.connection() as conn, archive_lock(conn) as taken:
        if not taken:
            run.skipped = True
            log.info("archive run skipped: another process is archiving")
            return run
        await _drop_leftover_schemas(conn)
        for day, tables in (await expired_tables(conn, retention_days)).items():
            started = time.perf_counter()
            try:
                manifest = await archive_day(conn, target, root, day, tables)
            except (ArchiveError, pgtools.ToolError, psycopg.Error, OSError) as error:
                run.failed[day.isoformat()] = str(error)
                log.error("archive failed; tables kept", day=day.isoformat(), tables=tables, error=str(error))
                continue
            run.archived.append(manifest)
            log.info(
                "partitions archived",
                day=manifest.day,
                file=str(root / manifest.file),
                tables=len(manifest.tables),
                rows=manifest.rows,
                bytes=manifest.bytes,
                verify_ms=manifest.verify_ms,
                duration_ms=elapsed_ms(started),
            )
    return run


# --- export and restore on demand ----------------------------------------------------------------------


async def export_day(database_url: str, archive_dir: Path, day: date, out_dir: Path) -> list[Path]:
    """A day's history as archive files in `out_dir`: its verified archives (checked against their
    manifests), or, for a day still in the database, a fresh dump of its tables. Nothing is dropped."""
    root = archive_root(archive_dir, database_url)
    manifests = await asyncio.to_thread(parts, root, day)
    written = await asyncio.to_thread(_copy_intact, root, manifests, out_dir)
    if written:
        return written
    target = pgtools.Target.of(database_url)
    names = [f"{parent}_{day:%Y_%m_%d}" for parent in HISTORY_TABLES]
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        schema = await _current_schema(conn)
        cursor = await conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = %s::regnamespace AND relname = ANY(%s)",
            (schema, names),
        )
        present = sorted(row[0] for row in await cursor.fetchall())
    if not present:
        raise ArchiveError(f"no archive and no table for {day.isoformat()}")
    destination = _part_path(out_dir, day, 1)
    await _dump(target, schema, present, destination)
    return [destination]


async def _columns(conn: AsyncConnection[Any], schema: str, table: str) -> list[str]:
    cursor = await conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0"
        " AND NOT attisdropped ORDER BY attnum",
        (f"{schema}.{table}",),
    )
    return [row[0] for row in await cursor.fetchall()]


async def _copy_back(conn: AsyncConnection[Any], schema: str, table: str, live: str, parent: str) -> int:
    """Insert a restored table's rows into its live parent, columns by name (an older archive may lack
    columns added since: they take their defaults); rows already there are kept."""
    present = set(await _columns(conn, live, parent))
    fields = sql.SQL(", ").join(
        sql.Identifier(c) for c in await _columns(conn, schema, table) if c in present
    )
    insert = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
        sql.Identifier(live, parent), fields, fields, sql.Identifier(schema, table)
    )
    cursor = await conn.execute(insert)
    return cursor.rowcount


async def restore_day(database_url: str, archive_dir: Path, day: date) -> dict[str, int]:
    """Put a day's archived rows back into the history tables (its partitions created or attached again),
    from every part, each checked against its manifest first. Rows already there are left as they are.
    Returns the rows added per table; the archives stay."""
    root = archive_root(archive_dir, database_url)
    manifests = await asyncio.to_thread(parts, root, day)
    if not manifests:
        raise ArchiveError(f"no archive of {day.isoformat()} in {root}")
    target = pgtools.Target.of(database_url)
    added: dict[str, int] = {}
    async with (
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn,
        archive_lock(conn) as taken,
    ):
        if not taken:
            raise ArchiveError("the daily archive job is running; try again when it has finished")
        live = await _current_schema(conn)
        for manifest in manifests:
            path = root / manifest.file
            if not await asyncio.to_thread(_intact, path, manifest):
                raise ArchiveError(f"{manifest.file} does not match its manifest: it was changed or damaged")
            async with scratch_schema(conn, f"{RESTORE_PREFIX}{day:%Y_%m_%d}") as schema:
                await restore_into_schema(target, path, schema)
                for table, want in manifest.sums().items():
                    if await table_sum(conn, schema, table) != want:
                        raise ArchiveError(
                            f"{manifest.file}: {table} does not restore what its manifest says"
                        )
                for table in manifest.tables:
                    parent = parent_of(table)
                    await conn.execute("SELECT ensure_daily_partition(%s, %s)", (parent, day))
                    added[parent] = added.get(parent, 0) + await _copy_back(conn, schema, table, live, parent)
    log.info("archive restored", day=day.isoformat(), parts=len(manifests), rows=added)
    return added
