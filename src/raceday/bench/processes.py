"""A server the bench runs in a process of its own, so that its CPU is never counted as the measured one's.

The child gets the far end of a pipe as its last argument, sends the bench what it needs (its URL, say)
and serves until the bench closes its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import AsyncIterator, Callable
from multiprocessing.connection import Connection
from typing import Any


async def serve_until_closed(pipe: Connection, message: object) -> None:
    """In the child: hand the bench `message`, then return once the bench closes its end of the pipe."""
    pipe.send(message)
    with contextlib.suppress(EOFError):
        await asyncio.to_thread(pipe.recv)


@contextlib.asynccontextmanager
async def spawned(
    target: Callable[..., None], args: tuple[Any, ...], name: str
) -> AsyncIterator[tuple[int, Any]]:
    """`target(*args, pipe)` in a spawned process: yields its pid and the message it sent; on the way out
    closes the pipe, and kills the process if it has not ended within 10 s."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(*args, theirs), name=name)
    process.start()
    theirs.close()
    try:
        if not await asyncio.to_thread(ours.poll, 60):
            raise RuntimeError(f"{name} did not start")
        assert process.pid is not None
        yield process.pid, ours.recv()
    finally:
        ours.close()
        await asyncio.to_thread(process.join, 10)
        if process.is_alive():
            process.kill()
