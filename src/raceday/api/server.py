"""Running an ASGI app on uvicorn inside the current event loop (service, simulator and tests)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import AsyncIterator, Iterator

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


def make_server(app: ASGIApp, host: str, port: int, *, handle_signals: bool = True) -> GracefulServer:
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")
    return GracefulServer(config, handle_signals=handle_signals)


@contextlib.asynccontextmanager
async def serve_in_background(app: ASGIApp, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve on a free port until the block ends; yields the base URL once startup is complete."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = make_server(app, host, port, handle_signals=False)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped during startup")
            await asyncio.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
