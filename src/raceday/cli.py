"""The `raceday` command: `run` serves, `migrate` applies the migrations."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from raceday import __version__
from raceday.config import Settings, SettingsError, load_settings, redact_url
from raceday.db.embedded import EmbeddedPostgres
from raceday.db.migrate import apply_migrations
from raceday.log import configure_logging, get_logger

log = get_logger(__name__)


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The configured server's URL, or an embedded PostgreSQL 18's for as long as the block runs."""
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
        log.info("using configured database", url=redact_url(url))
        yield url
        return
    server = EmbeddedPostgres(Path(settings.raceday_data_dir) / "postgres")
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


async def _serve(settings: Settings, database_url: str) -> None:
    from raceday.api.app import create_app
    from raceday.api.server import make_server

    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=settings.uv_threadpool_size))
    app = create_app(settings, database_url)
    await make_server(app, "0.0.0.0", settings.port).serve()  # noqa: S104 - a service listens on all interfaces


def _run(settings: Settings, _: argparse.Namespace) -> int:
    with database(settings) as url:
        asyncio.run(_serve(settings, url))
    log.info("raceday stopped")
    return 0


def _migrate(settings: Settings, _: argparse.Namespace) -> int:
    with database(settings) as url:
        asyncio.run(apply_migrations(url))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raceday", description=__doc__)
    parser.add_argument("--version", action="version", version=f"raceday {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "run", help="serve the API and /health (embedded PostgreSQL if DATABASE_URL is unset)"
    )
    commands.add_parser("migrate", help="apply pending database migrations and exit")
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
    handlers = {"run": _run, "migrate": _migrate}
    try:
        return handlers[args.command](settings, args)
    except Exception:
        log.exception("raceday failed", command=args.command)
        return 1
