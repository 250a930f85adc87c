"""Running an ASGI app on uvicorn in the current event loop: the service, the simulator, tests."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Literal

import uvicorn
from starlette.types import ASGIApp


class GracefulServer(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT after shutdown (exit 143/130); we exit 0 after a clean close.

    A server run in the background of another program leaves that program's signals alone.
    """

    def __init__(self, config: uvicorn.Config, *, handle_signals: bool = True) -> None:
        super().__init__(config)
        self._handle_signals = handle_signals

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if not self._handle_signals:
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def make_server(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    handle_signals: bool = True,
    lifespan: Literal["on", "off"] = "on",
) -> GracefulServer:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan=lifespan,
        timeout_graceful_shutdown=2,
    )
    return GracefulServer(config, handle_signals=handle_signals)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on (host, port); OSError (e.g. EADDRINUSE) if it cannot be had.

    Made with IPPROTO_TCP: asyncio sets TCP_NODELAY only on such sockets, and without it every
    response on a kept-alive connection waits ~40 ms for the peer's delayed ACK.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


@contextlib.asynccontextmanager
async def serve_in_background(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 0, *, lifespan: Literal["on", "off"] = "on"
) -> AsyncIterator[str]:
    """Serve on `port` (0: a free one) until the block ends; yields the base URL once listening.

    The socket is bound here, so a busy port is an OSError for the caller rather than uvicorn's exit.
    """
    sock = bind_socket(host, port)
    bound = sock.getsockname()[1]
    server = make_server(app, host, bound, handle_signals=False, lifespan=lifespan)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped during startup")
            await asyncio.sleep(0.01)
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        await task
        sock.close()
