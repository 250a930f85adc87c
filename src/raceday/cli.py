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
from pathlib import Path

from raceday import __version__
from raceday.bench import api_load as bench_api
from raceday.bench import client as bench_client
from raceday.bench import pipeline as bench_pipeline
from raceday.core.config import Settings, SettingsError, load_settings, redact_url
from raceday.core.http_server import bind_socket, make_server
from raceday.core.log import configure_logging, get_logger
from raceday.db.embedded import EmbeddedPostgres, EmbeddedPostgresError
from raceday.db.migrate import apply_migrations
from raceday.runtime import ConfigurationError, open_runtime, wants_simulator
from raceday.simulator.cli import add_simulate_arguments, run_simulate

log = get_logger(__name__)


@contextlib.contextmanager
def database(settings: Settings, simulated: bool) -> Iterator[str]:
    """The configured server's URL, or an embedded PostgreSQL 18's for as long as the block runs.

    In the embedded cluster, simulated data gets a database of its own (`raceday_simulated`), so a
    later run against the real NZ TAB never serves it mixed with real races.
    """
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
        log.info("using configured database", url=redact_url(url))
        yield url
        return
    name = "raceday_simulated" if simulated else "raceday"
    server = EmbeddedPostgres(Path(settings.raceday_data_dir) / "postgres", database=name)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


async def _serve(settings: Settings, database_url: str, simulate: bool | None, sock: socket.socket) -> None:
    from raceday.api.app import create_app

    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=settings.uv_threadpool_size))
    async with open_runtime(settings, database_url, ingest=True, simulate=simulate) as runtime:
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


def _migrate(settings: Settings, _: argparse.Namespace) -> int:
    with database(settings, wants_simulator(settings, None)) as url:
        asyncio.run(apply_migrations(url))
    return 0


def _simulate(_: Settings, args: argparse.Namespace) -> int:
    return run_simulate(args)


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
    commands.add_parser("migrate", help="apply pending database migrations and exit")
    simulate = commands.add_parser("simulate", help="serve a simulated NZ TAB API (offline data)")
    add_simulate_arguments(simulate)
    bench = commands.add_parser("bench", help="benchmarks (not tests): pipeline, api, client")
    kinds = bench.add_subparsers(dest="kind", required=True)
    for kind, module, runner, text in (
        ("pipeline", bench_pipeline, bench_pipeline.run, "the pipeline against the simulator"),
        ("api", bench_api, bench_api.run_load, "the REST API under a busy day's read load"),
        ("client", bench_client, bench_client.run, "the NZ TAB client's overhead per call"),
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
    handlers = {"run": _run, "migrate": _migrate, "simulate": _simulate, "bench": _bench}
    try:
        return handlers[args.command](settings, args)
    except (ConfigurationError, EmbeddedPostgresError) as error:
        log.error("cannot start", command=args.command, error=str(error))
        return 2
    except Exception:
        log.exception("raceday failed", command=args.command)
        return 1
