"""`raceday archive list|run|export DAY|restore DAY`, `raceday backup FILE`, `raceday restore FILE`: the
operator's commands over archive.py and backup.py (the command line wires them to a database)."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from raceday.core.config import Settings
from raceday.db import archive, backup
from raceday.db.migrate import apply_migrations
from raceday.db.partitions import PartitionKeeper
from raceday.db.pool import PoolConfig, open_pool

# Commands that need no database.
OFFLINE = {("archive", "list")}


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    archives = commands.add_parser(
        "archive", help="archives of the partitions past RETENTION_DAYS: list, run, export, restore"
    )
    actions = archives.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="the verified archives in ARCHIVE_DIR")
    actions.add_parser("run", help="archive, verify and drop the expired partitions now (the daily job)")
    export = actions.add_parser("export", help="write a day's history to archive files (nothing is dropped)")
    export.add_argument("day", type=date.fromisoformat, help="the NZ racing day, YYYY-MM-DD")
    export.add_argument("--out", type=Path, default=Path(), help="folder to write to (default: here)")
    restore_day = actions.add_parser("restore", help="put an archived day's rows back into the database")
    restore_day.add_argument("day", type=date.fromisoformat, help="the NZ racing day, YYYY-MM-DD")
    dump = commands.add_parser("backup", help="back the whole database up to FILE (pg_dump custom format)")
    dump.add_argument("file", type=Path)
    load = commands.add_parser("restore", help="restore a backup FILE into the database (parallel)")
    load.add_argument("file", type=Path)
    load.add_argument("--jobs", type=int, default=None, help="parallel jobs (default: up to 4)")
    load.add_argument(
        "--replace", action="store_true", help="drop what the database holds first (stop raceday before)"
    )


def is_offline(args: argparse.Namespace) -> bool:
    return (args.command, getattr(args, "action", None)) in OFFLINE


def _tables(count: int) -> str:
    return f"{count} table" if count == 1 else f"{count} tables"


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def list_archives(settings: Settings) -> str:
    found = archive.list_archives(settings.archive_path)
    if not found:
        return f"no archives in {settings.archive_path}\n"
    lines = [f"{'database':<20} {'day':<10} {'part':>4} {'rows':>10} {'size':>9}  verified"]
    for manifest in found:
        lines.append(
            f"{manifest.database:<20} {manifest.day:<10} {manifest.part:>4} {manifest.rows:>10} "
            f"{_size(manifest.bytes):>9}  {manifest.verified_at}"
        )
    lines.append(f"in {settings.archive_path}")
    return "\n".join(lines) + "\n"


async def _archive_now(database_url: str, settings: Settings) -> tuple[int, str]:
    await apply_migrations(database_url)
    pool = await open_pool(database_url, PoolConfig(max=2))
    try:
        async with pool.connection() as conn:
            await PartitionKeeper().detach_older_than(conn, settings.retention_days)
        run = await archive.archive_expired(pool, settings.archive_path, settings.retention_days)
    finally:
        await pool.close()
    if run.skipped:
        return 0, "another process is archiving; nothing done\n"
    lines = [
        f"archived {m.day} (part {m.part}): {m.rows} rows, {_size(m.bytes)}, {m.file}" for m in run.archived
    ]
    lines += [f"FAILED {day}: {error} (tables kept)" for day, error in run.failed.items()]
    return (1 if run.failed else 0), "\n".join(lines or ["nothing to archive"]) + "\n"


async def run(database_url: str, settings: Settings, args: argparse.Namespace) -> tuple[int, str]:
    """Run the command against the database; returns the exit code and what to print."""
    if args.command == "backup":
        result = await backup.backup(database_url, args.file, backup.ProgressLine(sys.stderr))
        size = _size(result.bytes)
        return 0, f"backup written to {result.path}: {_tables(result.tables)}, {size}, {result.seconds} s\n"
    if args.command == "restore":
        progress = backup.ProgressLine(sys.stderr)
        result = await backup.restore(
            database_url, args.file, jobs=args.jobs, replace=args.replace, on_progress=progress
        )
        return 0, f"restored {_tables(result.tables)} from {result.path} ({result.seconds} s)\n"
    if args.action == "run":
        return await _archive_now(database_url, settings)
    if args.action == "export":
        written = await archive.export_day(database_url, settings.archive_path, args.day, args.out)
        return 0, "".join(f"wrote {path}\n" for path in written)
    if args.action == "restore":
        await apply_migrations(database_url)
        added = await archive.restore_day(database_url, settings.archive_path, args.day)
        rows = ", ".join(f"{table} {count}" for table, count in added.items())
        return 0, f"restored {args.day}: rows added {rows}\n"
    raise AssertionError(f"unknown command {args.command} {args.action}")
