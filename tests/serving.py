"""The app as `raceday run` serves it: a runtime, the app over it on a real uvicorn server, a client."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI

from raceday.api.app import create_app
from raceday.core.config import load_settings
from raceday.core.http_server import serve_in_background
from raceday.runtime import Runtime, open_runtime

T = TypeVar("T")


@dataclass
class Api:
    runtime: Runtime
    app: FastAPI
    client: httpx.AsyncClient
    base_url: str


@contextlib.asynccontextmanager
async def running(url: str, /, *, ingest: bool = False, **overrides: Any) -> AsyncIterator[Api]:
    """Serve the database at `url` (NODE_ENV=test unless overridden) until the block ends; with `ingest`,
    the pipeline polls the built-in simulator too, as `raceday run` does."""
    settings = load_settings(**{"node_env": "test", **overrides})
    async with open_runtime(settings, url, ingest=ingest, simulate=True if ingest else None) as runtime:
        app = create_app(runtime)
        async with (
            serve_in_background(app) as base_url,
            httpx.AsyncClient(base_url=base_url, timeout=10) as client,
        ):
            yield Api(runtime, app, client, base_url)


async def eventually(check: Callable[[], Awaitable[T]], within_s: float, every_s: float = 0.1) -> T:
    """`check()`'s first truthy result, polled until `within_s` has passed (then the test fails)."""
    deadline = time.monotonic() + within_s
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within_s} s")
        await asyncio.sleep(every_s)
