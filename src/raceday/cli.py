"""The `raceday` command: `run` serves and polls, `migrate` migrates, `simulate` runs the NZ TAB simulator."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import psycopg

from raceday import __version__
from raceday.bench import api_load as bench_api
from raceday.bench import client as bench_client
from raceday.bench import instances as bench_instances
from raceday.bench import pipeline as bench_pipeline
from raceday.core.config import Settings, SettingsError, load_settings, redact_url
from raceday.core.http_server import bind_socket, make_server
from raceday.core.log import configure_logging, get_logger
from raceday.core.nztime import nz_day
from raceday.db import ops_cli
from raceday.db.archive import ArchiveError
from raceday.db.backup import BackupError
from raceday.db.embedded import ClusterInUse, EmbeddedPostgres, EmbeddedPostgresError
from raceday.db.migrate import apply_migrations
from raceday.db.partitions import PartitionKeeper
from raceday.db.pgtools import ToolError
from raceday.db.pool import PoolConfig, open_pool
from raceday.db.recording import (
    RawResponse,
    read_file,
    record,
    recorded_day,
    responses_from_folder,
    write_file,
)
from raceday.nztab.raw import unpack
from raceday.pipeline.poll_workers import WorkerSpec, running_workers, simulator_clock
from raceday.pipeline.rebuild import RebuildReport, rebuild_day
from raceday.runtime import ConfigurationError, open_runtime, wants_simulator
from raceday.simulator.cli import add_simulate_arguments, run_simulate
from raceday.simulator.replay import Recorded, serve_replay

log = get_logger(__name__)


@contextlib.contextmanager
def database(settings: Settings, simulated: bool, *, share: bool = False) -> Iterator[str]:
    """The configured server's URL, or an embedded PostgreSQL 18's for as long as the block runs.

    In the embedded cluster, simulated data gets a database of its own (`raceday_simulated`), so a
    later run against the real NZ TAB never serves it mixed with real races. With `share`, a cluster
    another raceday is running is used through its server (commands that only connect: backups, archives).
    """
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
        log.info("using configured database", url=redact_url(url))
        yield url
        return
    name = "raceday_simulated" if simulated else "raceday"
    server = EmbeddedPostgres(Path(settings.raceday_data_dir) / "postgres", database=name)
    try:
        url = server.start()
    except ClusterInUse:
        running = server.running_url() if share else None
        if running is None:
            raise
        log.info("using the embedded database of the running raceday", url=running)
        yield running
        return
    try:
        yield url
    finally:
        server.stop()


async def _serve(
    settings: Settings, database_url: str, simulate: bool | None, sock: socket.socket, *, ingest: bool = True
) -> None:
    from raceday.api.app import create_app

    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=settings.uv_threadpool_size))
    async with open_runtime(settings, database_url, ingest=ingest, simulate=simulate) as runtime:
        server = make_server(create_app(runtime), *sock.getsockname()[:2])
        await server.serve(sockets=[sock])


def _listen(settings: Settings) -> socket.socket:
    """The service's socket, bound before anything else starts: a busy port fails at once."""
    try:
        return bind_socket(settings.host, settings.port)
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigurationError(
            f"PORT {settings.port} on HOST {settings.host} is not available ({reason})"
        ) from None


def _interrupt(signum: int, _: object) -> None:
    """SIGTERM before the server takes over its signals: unwind as Ctrl-C does, stopping what started."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _run(settings: Settings, args: argparse.Namespace) -> int:
    # Fail before starting anything when the data source cannot be had (e.g. production, no URL).
    simulated = wants_simulator(settings, args.simulate)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with _listen(settings) as sock, database(settings, simulated) as url:
            asyncio.run(_serve(settings, url, args.simulate, sock))
    except KeyboardInterrupt:
        log.info("stopped during start-up")
    log.info("raceday stopped")
    return 0


def _serve_only(settings: Settings, _: argparse.Namespace) -> int:
    """The API alone, on a database that `raceday worker` processes (or another raceday) fill."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with _listen(settings) as sock, database(settings, _shared_data(settings), share=True) as url:
            asyncio.run(_serve(settings, url, None, sock, ingest=False))
    except KeyboardInterrupt:
        log.info("stopped during start-up")
    log.info("raceday stopped")
    return 0


def _shared_data(settings: Settings) -> bool:
    """Whether the embedded cluster's simulated database is the one meant: no NZ TAB URL configured."""
    return settings.nztab_api_url is None


async def _run_workers(settings: Settings, database_url: str, args: argparse.Namespace) -> None:
    await apply_migrations(database_url)
    base_url = str(settings.nztab_api_url)
    data_clock = await simulator_clock(base_url) if args.simulator_clock else None
    spec = WorkerSpec(
        database_url, base_url, args.concurrency or settings.poll_concurrency, data_clock, settings
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with running_workers(spec, args.processes or settings.max_worker_threads):
        await stop.wait()


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    if settings.nztab_api_url is None:
        raise ConfigurationError("raceday worker needs NZTAB_API_URL (the NZ TAB API, or a simulator's URL)")
    with database(settings, args.simulator_clock, share=True) as url:
        asyncio.run(_run_workers(settings, url, args))
    log.info("raceday worker stopped")
    return 0


def _migrate(settings: Settings, _: argparse.Namespace) -> int:
    with database(settings, wants_simulator(settings, None)) as url:
        asyncio.run(apply_migrations(url))
    return 0


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    if args.replay is None:
        return run_simulate(args)
    if Path(args.replay).exists():
        recorded = list(read_file(Path(args.replay)))
    else:
        day = _day(args.replay)
        with database(settings, wants_simulator(settings, None)) as url:
            recorded = asyncio.run(_recorded(url, day))
    if not recorded:
        raise ConfigurationError(f"nothing recorded for {args.replay}")
    replayed = [Recorded(r.endpoint, r.request_key, r.generated_time, unpack(r.body)) for r in recorded]
    asyncio.run(_serve_replay(replayed, args))
    return 0


async def _recorded(url: str, day: date) -> list[RawResponse]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await recorded_day(conn, day)


async def _serve_replay(recorded: list[Recorded], args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve_replay(recorded, speed=args.speed, host=args.host, port=args.port) as replay:
        log.info("SIMULATED DATA: replay ready; point NZTAB_API_URL here", base_url=replay.base_url)
        await stop.wait()


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(f"{text!r} is neither a recording file nor a day (YYYY-MM-DD)") from None


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    """Rebuild a recorded day's derived tables, printing what changed."""

    def progress(done: int, total: int) -> None:
        filled = done * 30 // total
        sys.stderr.write(f"\rrebuilding [{'#' * filled}{'.' * (30 - filled)}] {done}/{total} races")
        sys.stderr.flush()

    async def rebuild(url: str) -> RebuildReport:
        await apply_migrations(url)
        pool = await open_pool(url, PoolConfig(max=2))
        try:
            return await rebuild_day(
                pool,
                args.day,
                countries=settings.tracked_countries,
                categories=settings.tracked_categories,
                race_id=args.race,
                progress=progress,
            )
        finally:
            await pool.close()

    with database(settings, wants_simulator(settings, None)) as url:
        report = asyncio.run(rebuild(url))
    sys.stderr.write("\n")
    sys.stdout.write("\n".join(report.lines()) + "\n")
    return 0


def _record(settings: Settings, args: argparse.Namespace) -> int:
    """Move recorded days between machines: out to one file, or in from a file or a folder of responses."""

    async def run(url: str) -> str:
        await apply_migrations(url)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            if args.out is not None:
                responses = await recorded_day(conn, args.day)
                count = write_file(args.out, args.day, responses)
                raw = sum(r.raw_bytes for r in responses)
                kept = sum(len(r.body) for r in responses)
                sizes = f"{raw} bytes raw, {kept} compressed"
                return f"wrote {count} responses of {args.day} to {args.out} ({sizes})"
            if args.input.is_dir():
                responses, skipped = responses_from_folder(args.input)
            else:
                responses, skipped = list(read_file(args.input)), []
            keeper = PartitionKeeper()
            for day in sorted({nz_day(r.generated_time) for r in responses}):
                await keeper.ensure(conn, day)
            added = await record(conn, responses)
            lines = [f"recorded {added} new of {len(responses)} responses from {args.input}"]
            return "\n".join(lines + [f"  skipped {reason}" for reason in skipped])

    if (args.out is None) == (args.input is None):
        raise ConfigurationError("record needs exactly one of --out FILE (with --day) and --in PATH")
    if args.out is not None and args.day is None:
        raise ConfigurationError("record --out needs --day YYYY-MM-DD")
    with database(settings, wants_simulator(settings, None)) as url:
        sys.stdout.write(asyncio.run(run(url)) + "\n")
    return 0


def _ops(settings: Settings, args: argparse.Namespace) -> int:
    """Archives, backup and restore; a failure is one error line (exit 1), not a traceback."""
    try:
        if ops_cli.is_offline(args):
            sys.stdout.write(ops_cli.list_archives(settings))
            return 0
        with database(settings, wants_simulator(settings, None), share=args.command != "restore") as url:
            code, output = asyncio.run(ops_cli.run(url, settings, args))
    except (ArchiveError, BackupError, ToolError) as error:
        log.error(f"{args.command} failed", error=str(error))
        return 1
    sys.stdout.write(output)
    return code


def _bench(settings: Settings, args: argparse.Namespace) -> int:
    result: int = args.bench(settings, args)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raceday", description=__doc__)
    parser.add_argument("--version", action="version", version=f"raceday {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="poll NZ TAB (or the simulator) and serve; embedded PostgreSQL if DATABASE_URL is unset",
    )
    source = run.add_mutually_exclusive_group()
    source.add_argument(
        "--simulate",
        action="store_true",
        default=None,
        help="poll the built-in simulator (the default when NZTAB_API_URL is unset, outside production)",
    )
    source.add_argument(
        "--no-simulate", dest="simulate", action="store_false", help="never fall back to the simulator"
    )
    commands.add_parser("serve", help="serve the API only, from a database other processes fill")
    worker = commands.add_parser(
        "worker",
        help="poll races as jobs shared with every other raceday worker on the same database",
        description="Worker processes taking poll and periodic jobs from the database's queue.",
    )
    worker.add_argument(
        "--processes", type=int, metavar="N", help="worker processes (default MAX_WORKER_THREADS)"
    )
    worker.add_argument(
        "--concurrency", type=int, metavar="N", help="polls at once per process (default POLL_CONCURRENCY)"
    )
    worker.add_argument(
        "--simulator-clock",
        action="store_true",
        help="NZTAB_API_URL is a raceday simulator: run on its clock and speed (read from /_sim/status)",
    )
    commands.add_parser("migrate", help="apply pending database migrations and exit")
    simulate = commands.add_parser("simulate", help="serve a simulated NZ TAB API (offline data)")
    add_simulate_arguments(simulate)
    simulate.add_argument(
        "--replay",
        metavar="DAY_OR_FILE",
        help="serve a recorded day (YYYY-MM-DD, from the database) or recording file",
    )
    replay = commands.add_parser("replay", help="rebuild a day's derived tables from its recorded responses")
    replay.add_argument("--day", type=date.fromisoformat, required=True, help="the NZ racing day, YYYY-MM-DD")
    replay.add_argument("--race", help="only this race id")
    record_ = commands.add_parser("record", help="export a recorded day to a file, or import one")
    record_.add_argument("--out", type=Path, help="write the day (--day) to this gzipped file")
    record_.add_argument("--day", type=date.fromisoformat, help="the NZ racing day to export")
    record_.add_argument(
        "--in", dest="input", type=Path, help="import a recording file, or a folder of NZ TAB JSON responses"
    )
    ops_cli.add_commands(commands)
    bench = commands.add_parser("bench", help="benchmarks (not tests): pipeline, api, client")
    kinds = bench.add_subparsers(dest="kind", required=True)
    for kind, module, runner, text in (
        ("pipeline", bench_pipeline, bench_pipeline.run, "the pipeline against the simulator"),
        ("api", bench_api, bench_api.run_load, "the REST API under a busy day's read load"),
        ("client", bench_client, bench_client.run, "the NZ TAB client's overhead per call"),
        ("instances", bench_instances, bench_instances.run, "raceday worker instances sharing one database"),
    ):
        parser_ = kinds.add_parser(kind, help=text, description=module.__doc__)
        module.add_arguments(parser_)
        parser_.set_defaults(bench=runner)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        for line in error.lines:
            sys.stderr.write(f"raceday: invalid environment: {line}\n")
        return 2
    configure_logging(settings.log_level, settings.node_env)
    handlers = {
        "run": _run,
        "serve": _serve_only,
        "worker": _worker,
        "migrate": _migrate,
        "simulate": _simulate,
        "replay": _replay,
        "record": _record,
        "archive": _ops,
        "backup": _ops,
        "restore": _ops,
        "bench": _bench,
    }
    try:
        return handlers[args.command](settings, args)
    except (ConfigurationError, EmbeddedPostgresError) as error:
        log.error("cannot start", command=args.command, error=str(error))
        return 2
    except Exception:
        log.exception("raceday failed", command=args.command)
        return 1
